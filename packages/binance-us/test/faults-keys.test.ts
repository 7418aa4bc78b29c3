import { afterEach, describe, expect, it } from "vitest";
import { BINANCE_US_TOOL_NAMES } from "../src/tools.js";
import { FAULT_TEST_TIMEOUT_MS, iso, MIN, type Rig, SEC, startRig, waitFor } from "./faults-rig.js";

// Listen-key faults (issue 7): the exchange sends listenKeyExpired, or lets the key lapse
// 60 minutes after the last successful keepalive. The managed stream must end up on the
// exchange's current key (a new one when the old one is gone) and the tools must report
// the lapse before, during and after.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// A coarser watchdog than the default so an hour of fake time runs in minute steps; the
// exchange still pings every 3 minutes, which is what keeps the socket live here.
const coarse = { watchdog: { pingIntervalMs: 10 * MIN, deadAfterMs: 25 * MIN } };

async function rig(options?: Parameters<typeof startRig>[0]): Promise<Rig> {
  const r = await startRig({ ...options, connector: { ...coarse, ...options?.connector } });
  cleanups.push(r.close);
  return r;
}

const masked = (key: string | undefined) => `${key?.slice(0, 4)}…`;

async function connected(r: Rig) {
  await r.status();
  await r.untilConnected();
  const st = await r.status();
  expect(st.s).toMatchObject({ state: "connected", connected: true });
  expect(st.s.listenKeyMasked).toBe(masked(r.exchangeKey()));
  return st;
}

async function flows(r: Rig, cursor: number, ids: number[]) {
  for (const i of ids) expect(r.push(r.control.build.executionReport({ i }))).toBe(1);
  let next = cursor;
  await waitFor(async () => {
    const page = await r.events(cursor);
    expect(page.events.filter((e) => e.kind === "executionReport").map((e) => e.data.i)).toEqual(
      ids,
    );
    next = page.nextCursor;
  });
  return next;
}

describe(
  "managed stream under listen-key faults, seen through the MCP tools",
  { timeout: FAULT_TEST_TIMEOUT_MS },
  () => {
    it("reconnects on the same key after a listenKeyExpired event for a key that is still valid", async () => {
      const r = await rig();
      await connected(r);
      const key = r.exchangeKey()!;
      let cursor = await flows(r, 0, [1]);

      expect(r.control.sendListenKeyExpired(key)).toBe(1);
      await waitFor(() => expect(r.raw().connected).toBe(false));
      const page = await r.events(cursor);
      expect(page.events.map((e) => e.type)).toEqual(["listenKeyExpired"]);
      expect(page.events[0]!.data.listenKey).toBe(masked(key));
      expect(page.text).toMatch(/#2 listenKeyExpired E=\d+/);
      cursor = page.nextCursor;
      const down = await r.status();
      expect(down.s).toMatchObject({ state: "reconnecting", connected: false });
      expect(down.s.lastDisconnect?.reason).toBe("listenKeyExpired");
      expect(down.text).toContain(": listenKeyExpired; next attempt at");

      await r.untilConnected();
      // POST is get-or-extend: the key was still valid, so the stream is back on it.
      expect(r.exchangeKey()).toBe(key);
      expect((await r.status()).s).toMatchObject({ reconnects: 1, listenKeyMasked: masked(key) });
      await flows(r, cursor, [2]);
    });

    it("moves to a new key when listenKeyExpired really ended the key; the old key is reported gone", async () => {
      const r = await rig();
      await connected(r);
      const old = r.exchangeKey()!;
      const cursor = await flows(r, 0, [1]);

      r.control.sendListenKeyExpired(old, { invalidate: true });
      await waitFor(() => expect(r.raw().connected).toBe(false));
      await r.untilConnected();
      const fresh = r.exchangeKey()!;
      expect(fresh).not.toBe(old);
      const st = await r.status();
      expect(st.s.listenKeyMasked).toBe(masked(fresh));
      expect(r.exchangeSockets()[0]!.listenKeys).toEqual([fresh]);

      const stale = await r.call(BINANCE_US_TOOL_NAMES.keepaliveListenKey, { listenKey: old });
      expect(stale.isError).toBe(true);
      expect(r.textOf(stale)).toMatch(/^LISTEN_KEY_NOT_FOUND: .*-1125/);
      expect(r.textOf(stale)).not.toContain(old);
      const created = await r.call(BINANCE_US_TOOL_NAMES.createListenKey);
      expect(created.structuredContent?.listenKey).toBe(fresh);
      const kept = await r.call(BINANCE_US_TOOL_NAMES.keepaliveListenKey, { listenKey: fresh });
      expect(kept.isError).toBeFalsy();
      expect(r.textOf(kept)).toBe(`Listen key ${masked(fresh)} extended by 60 minutes.`);
      // The events page between the two connections holds the expiry notice, then new events.
      const page = await r.events(cursor);
      expect(page.events.map((e) => e.type)).toEqual(["listenKeyExpired"]);
      await flows(r, page.nextCursor, [2, 3]);
    });

    it("an agent's close tool ends the key for everyone: the managed stream says so and moves to a new key", async () => {
      const r = await rig();
      await connected(r);
      const old = r.exchangeKey()!;
      const cursor = await flows(r, 0, [1]);
      const closed = await r.call(BINANCE_US_TOOL_NAMES.closeListenKey, { listenKey: old });
      expect(closed.isError).toBeFalsy();
      expect(r.textOf(closed)).toBe(
        `Listen key ${masked(old)} closed; the stream has ended for every consumer.`,
      );
      await waitFor(() => expect(r.raw().connected).toBe(false));
      const down = await r.status();
      expect(down.s.lastDisconnect?.reason).toBe("closed by server (1000 listen key closed)");
      expect(down.text).toContain("closed by server (1000 listen key closed); next attempt at");
      await r.untilConnected();
      const fresh = r.exchangeKey()!;
      expect(fresh).not.toBe(old);
      expect((await r.status()).s.listenKeyMasked).toBe(masked(fresh));
      const again = await r.call(BINANCE_US_TOOL_NAMES.closeListenKey, { listenKey: old });
      expect(r.textOf(again)).toMatch(/^LISTEN_KEY_NOT_FOUND: /);
      await flows(r, cursor, [2]);
    });

    it.each([
      ["event", /^listenKeyExpired$/],
      ["event-close", /^listenKeyExpired$/],
      ["close", /^closed by server \(1000 listen key expired\)$/],
    ] as const)("lets the key lapse at 60 min when every keepalive fails, then re-creates it (exchange on expiry: %s)", async (onKeyExpiry, reason) => {
      const r = await rig({ mock: { onKeyExpiry } });
      await connected(r);
      const old = r.exchangeKey()!;
      const expiresAt = r.control.state().keys[0]!.expiresAt;
      let cursor = await flows(r, 0, [1]);
      r.control.injectError({ method: "PUT", status: 503, times: 10_000 });

      await r.advance(31 * MIN, MIN);
      const degraded = await r.status();
      expect(degraded.s).toMatchObject({ state: "connected", connected: true });
      expect(degraded.s.keepaliveFailingSince).toBeGreaterThanOrEqual(expiresAt - 31 * MIN);
      // The client's view of the validity is never later than the exchange's.
      expect(degraded.s.keyValidUntil).toBeLessThanOrEqual(expiresAt);
      expect(degraded.s.keyValidUntil).toBeGreaterThan(expiresAt - 5 * SEC);
      expect(degraded.text).toMatch(/^Connected \(key .*\. Degraded: keepalives failing since /);
      expect(degraded.text).toContain("SERVER_ERROR_OUTCOME_UNKNOWN");
      expect(degraded.text).toContain("may or may not have taken effect");
      expect(degraded.text).toContain(
        `the exchange drops the key at ${iso(degraded.s.keyValidUntil!)} unless one succeeds`,
      );
      cursor = await flows(r, cursor, [2]);

      // No keepalive gets through: the exchange ends the key 60 minutes after the POST.
      await r.advance(expiresAt - r.clock.now() - 30 * SEC, MIN);
      expect(r.raw().connected).toBe(true);
      await r.advanceUntil(() => !r.raw().connected, 2 * MIN, 5 * SEC);
      expect(r.clock.now()).toBeGreaterThanOrEqual(expiresAt);
      expect(r.clock.now()).toBeLessThan(expiresAt + 15 * SEC);
      const down = await r.status();
      expect(down.s.state).toBe("reconnecting");
      expect(down.s.lastDisconnect?.reason).toMatch(reason);

      // The re-POST is not affected by the PUT failures: a new key, and events again.
      await r.untilConnected();
      const fresh = r.exchangeKey()!;
      expect(fresh).not.toBe(old);
      const up = await r.status();
      expect(up.s).toMatchObject({ connected: true, listenKeyMasked: masked(fresh) });
      expect(up.s.keepaliveFailingSince).toBeUndefined();
      expect(up.text).not.toContain("Degraded");
      const page = await r.events(cursor);
      cursor = await flows(r, page.nextCursor, [3]);
      r.control.clearErrors();
      await r.advance(31 * MIN, MIN);
      expect(r.exchangeKey()).toBe(fresh);
      expect((await r.status()).s.lastKeepaliveAt).toBeGreaterThan(up.s.keyValidUntil! - 60 * MIN);
    });

    it("recovers from listenKeyExpired alone while the exchange keeps the socket open and silent; status reports the present", async () => {
      // The exchange's behaviour (the mock's default): the event, then nothing, and no close.
      const r = await rig();
      await connected(r);
      const old = r.exchangeKey()!;
      let cursor = await flows(r, 0, [1]);
      // The re-POST fails for a while, so the state between the event and recovery is visible.
      r.control.injectError({ method: "POST", status: 503, times: 2 });
      expect(r.control.expireKey(old)).toBe(true);
      await waitFor(() => expect(r.raw().connected).toBe(false));
      // The client closed the socket itself, at once: the server never did.
      await waitFor(() =>
        expect(r.control.state().closedSockets.filter((c) => c.kind === "stream")).toMatchObject([
          { listenKeys: [old], reason: "closed" },
        ]),
      );
      await r.advanceUntil(
        () => r.raw().lastError?.code === "SERVER_ERROR_OUTCOME_UNKNOWN",
        5 * SEC,
        50,
      );
      const down = await r.status();
      expect(down.s.lastDisconnect?.reason).toBe("listenKeyExpired");
      // The dead key's validity is no longer reported.
      expect(down.s.keyValidUntil).toBeUndefined();
      expect(down.text).toContain(": listenKeyExpired; ");
      expect(down.text).toContain("last error SERVER_ERROR_OUTCOME_UNKNOWN");
      const page = await r.events(cursor);
      expect(page.events.map((e) => e.type)).toEqual(["listenKeyExpired"]);
      expect(page.connected).toBe(false);
      cursor = page.nextCursor;

      await r.untilConnected();
      const fresh = r.exchangeKey()!;
      expect(fresh).not.toBe(old);
      const up = await r.status();
      // Healthy again: the past failure is history (lastDisconnect keeps it), not lastError.
      expect(up.s.lastError).toBeUndefined();
      expect(up.s.lastDisconnect?.reason).toBe("listenKeyExpired");
      expect(up.s.keyValidUntil).toBeGreaterThan(r.clock.now());
      expect(up.text).not.toContain("last error");
      await flows(r, cursor, [2]);
    });

    it("says the key has lapsed when the exchange keeps a socket open on an expired key, and moves off it", async () => {
      // "keep": the exchange leaves the socket open and pinging but delivers nothing, the
      // silent failure a client can only see through its keepalive answers.
      const r = await rig({ mock: { onKeyExpiry: "keep" } });
      await connected(r);
      const old = r.exchangeKey()!;
      const expiresAt = r.control.state().keys[0]!.expiresAt;
      const cursor = await flows(r, 0, [1]);
      r.control.injectError({ method: "PUT", status: 503, times: 10_000 });
      await r.advance(62 * MIN, MIN);
      expect(r.exchangeKey()).toBeUndefined();
      const st = await r.status();
      expect(st.s.connected).toBe(true);
      expect(st.text).toContain(
        `Degraded: keepalives failing since ${iso(st.s.keepaliveFailingSince!)}`,
      );
      expect(st.text).toContain(`the key has probably lapsed since ${iso(st.s.keyValidUntil!)}`);
      expect(st.s.keyValidUntil).toBeLessThanOrEqual(expiresAt);
      expect(r.push(r.control.build.executionReport({ i: 99 }))).toBe(0);

      // Once the exchange answers keepalives again it says -1125: the stream re-creates the
      // key and moves the socket over before dropping the old one.
      r.control.clearErrors();
      await r.untilConnected(2 * MIN);
      const fresh = r.exchangeKey()!;
      expect(fresh).not.toBe(old);
      const up = await r.status();
      expect(up.s).toMatchObject({ connected: true, listenKeyMasked: masked(fresh), rotations: 1 });
      expect(up.text).not.toContain("Degraded");
      // The events tool tells the reader that nothing arrived while the key was gone.
      const page = await r.events(cursor);
      expect(page.gaps).toEqual([
        {
          afterCursor: cursor,
          from: st.s.keyValidUntil,
          to: expect.any(Number),
          reason: "listen key ended on the exchange while its socket stayed open",
        },
      ]);
      expect(page.gaps![0]!.to).toBeGreaterThan(expiresAt);
      expect(page.text).toContain(
        `Gap after cursor ${cursor}: nothing could arrive from ${iso(st.s.keyValidUntil!)}`,
      );
      await flows(r, cursor, [2]);
    });
  },
);
