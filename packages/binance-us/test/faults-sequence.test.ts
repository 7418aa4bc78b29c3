import { afterEach, describe, expect, it } from "vitest";
import { BINANCE_US_TOOL_NAMES } from "../src/tools.js";
import {
  API_KEY,
  FAULT_TEST_TIMEOUT_MS,
  HOUR,
  iso,
  MIN,
  type Rig,
  SEC,
  startRig,
  waitFor,
} from "./faults-rig.js";

// Every exchange fault of issue 7 in one scripted day, on one managed stream: a silent drop,
// a server that stops pinging and ponging, listenKeyExpired, a 429, a 418 ban, keepalives
// failing with 5xx until the key lapses, a 5xx on the re-POST, the 24-hour mark and a revoked
// API key. After each fault the stream must be back on the exchange's key by itself, the
// tools must have said the truth while it was not, and at the end the events tool must hold
// every event the exchange delivered, once each and in order.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const masked = (key: string | undefined) => `${key?.slice(0, 4)}…`;

describe.each(["rest", "ws-api"] as const)(
  "the managed stream through a scripted day of exchange faults (listen keys over %s)",
  { timeout: FAULT_TEST_TIMEOUT_MS },
  (transport) => {
    it("recovers from each fault in turn and the tools report every step truthfully", async () => {
      // A watchdog coarse enough for a day of fake time in 5-minute steps; a server that sends
      // nothing at all is still caught within deadAfterMs.
      const r: Rig = await startRig({
        transport,
        connector: {
          watchdog: { pingIntervalMs: 10 * MIN, deadAfterMs: 25 * MIN },
          fatalRetryAfterMs: 60 * SEC,
        },
      });
      cleanups.push(r.close);
      const ledger: number[] = [];
      let nextId = 0;
      const push = () => {
        const i = ++nextId;
        expect(r.push(r.control.build.executionReport({ i }))).toBeGreaterThanOrEqual(1);
        ledger.push(i);
      };
      let cursor = 0;
      /** The events tool returns exactly the new ledger entries after `cursor`, then moves on. */
      const delivered = async (expectedTypes: string[] = []) => {
        const want = ledger.slice(-1);
        await waitFor(async () => {
          const page = await r.events(cursor);
          expect(
            page.events.filter((e) => e.kind !== "executionReport").map((e) => e.type),
          ).toEqual(expectedTypes);
          expect(
            page.events.filter((e) => e.kind === "executionReport").map((e) => e.data.i),
          ).toEqual(want);
          expect(page.connected).toBe(true);
          cursor = page.nextCursor;
        });
      };
      const up = async (step = 250) => {
        await r.untilConnected(5 * MIN, step);
        const st = await r.status();
        expect(st.s).toMatchObject({ state: "connected", connected: true });
        expect(st.s.listenKeyMasked).toBe(masked(r.exchangeKey()));
        expect(st.text).toMatch(/^Connected \(key /);
        expect(st.text).not.toContain("Degraded");
        return st;
      };
      const downSaying = async (pattern: RegExp) => {
        const st = await r.status();
        expect(st.s.connected).toBe(false);
        expect(st.s.state).toBe("reconnecting");
        expect(st.text).toMatch(/^Not connected \(state reconnecting\): socket lost at /);
        expect(st.text).toMatch(pattern);
        expect((await r.events(cursor)).connected).toBe(false);
        return st;
      };

      // 0. Start through the status tool, as an agent would.
      expect((await r.status()).s.enabled).toBe(true);
      await up();
      const firstKey = r.exchangeKey()!;
      push();
      await delivered();

      // 1. The socket is dropped without a close frame.
      r.control.dropSockets({ apiKey: API_KEY });
      await waitFor(() => expect(r.raw().connected).toBe(false));
      await downSaying(/connection lost without a close frame \(1006\); next attempt at /);
      await up();
      expect(r.exchangeKey()).toBe(firstKey);
      push();
      await delivered();

      // 2. The server stops pinging and stops answering pings: the socket is silent.
      const deafAt = r.clock.now();
      r.control.stopPings();
      r.control.stopPongs();
      await r.advanceUntil(() => !r.raw().connected, 30 * MIN, MIN);
      expect(r.clock.now() - deafAt).toBeLessThanOrEqual(25 * MIN + MIN);
      await downSaying(/watchdog: silent for \d+ ms.*last error SOCKET_DEAD/);
      r.control.resume();
      await up();
      push();
      await delivered();

      // 3. listenKeyExpired for a key the exchange still holds: back on the same key.
      r.control.sendListenKeyExpired(firstKey);
      await waitFor(() => expect(r.raw().connected).toBe(false));
      await downSaying(/: listenKeyExpired; next attempt at /);
      await up();
      expect(r.exchangeKey()).toBe(firstKey);
      push();
      await delivered(["listenKeyExpired"]);

      // 4. A 429 on the create tool; the socket drops inside the window. Nothing is sent until
      // it ends, the status names when the next attempt runs.
      r.control.injectError({ method: "POST", status: 429, retryAfterSec: 30, sticky: true });
      const t429 = r.clock.now();
      const limited = await r.call(BINANCE_US_TOOL_NAMES.createListenKey);
      expect(r.textOf(limited)).toContain(`RATE_LIMITED`);
      expect(r.textOf(limited)).toContain(`(at ${iso(t429 + 30 * SEC)})`);
      const sentBefore = r.sent.length;
      r.control.dropSockets({ apiKey: API_KEY });
      await r.advanceUntil(() => (r.raw().nextReconnectAt ?? 0) >= t429 + 30 * SEC, 5 * SEC, 50);
      const waiting = await downSaying(/last error RATE_LIMITED: .*not sent/);
      expect(waiting.text).toContain(`next attempt at ${iso(waiting.s.nextReconnectAt!)}`);
      await up(SEC);
      expect(r.sent.slice(sentBefore).every((q) => q.at >= t429 + 30 * SEC)).toBe(true);
      push();
      await delivered();

      // 5. A 418 ban lands on the next keepalive: degraded while banned, no request until the
      // ban ends, healthy after.
      r.control.injectError({ status: 418, retryAfterSec: 120, sticky: true });
      await r.advanceUntil(() => r.raw().keepaliveFailingSince !== undefined, 31 * MIN, MIN);
      const bannedAt = r.raw().keepaliveFailingSince!;
      const banned = await r.status();
      expect(banned.s.connected).toBe(true);
      expect(banned.text).toMatch(/Degraded: keepalives failing since .*IP_BANNED/);
      const tool = await r.call(BINANCE_US_TOOL_NAMES.keepaliveListenKey, { listenKey: firstKey });
      expect(r.textOf(tool)).toMatch(/^IP_BANNED: .*not sent/);
      const sentInBan = r.sent.length;
      await r.advanceUntil(() => r.raw().keepaliveFailingSince === undefined, 5 * MIN, 10 * SEC);
      expect(r.sent.slice(sentInBan).every((q) => q.at >= bannedAt + 120 * SEC)).toBe(true);
      await up();
      push();
      await delivered();

      // 6. Every keepalive answers 503 (outcome unknown): degraded, then the exchange lets the
      // key lapse 60 minutes after the last good keepalive; the stream moves to a new key.
      r.control.injectError({ method: "PUT", status: 503, times: 10_000 });
      const lapseAt = r.raw().keyValidUntil!;
      await r.advanceUntil(() => r.raw().keepaliveFailingSince !== undefined, 31 * MIN, MIN);
      const failing = await r.status();
      expect(failing.text).toContain("may or may not have taken effect");
      expect(failing.text).toContain(`the exchange drops the key at ${iso(lapseAt)}`);
      await r.advanceUntil(() => !r.raw().connected, 31 * MIN, 30 * SEC);
      expect(r.clock.now()).toBeGreaterThanOrEqual(lapseAt);
      // The step that saw the lapse may already have started the re-POST.
      await downSaying(/: listenKeyExpired; (next attempt at |attempting now)/);
      await up();
      const secondKey = r.exchangeKey()!;
      expect(secondKey).not.toBe(firstKey);
      r.control.clearErrors();
      push();
      await delivered(["listenKeyExpired"]);

      // 7. The re-POST after a drop answers 5xx twice: retried, and back on the same key.
      r.control.injectError({ method: "POST", status: 502, times: 2 });
      r.control.dropSockets({ apiKey: API_KEY });
      await r.advanceUntil(
        () => !r.raw().connected && r.raw().lastError?.code === "SERVER_ERROR_OUTCOME_UNKNOWN",
        5 * SEC,
        50,
      );
      await downSaying(
        /last error SERVER_ERROR_OUTCOME_UNKNOWN: .*may or may not have taken effect/,
      );
      await up();
      expect(r.exchangeKey()).toBe(secondKey);
      push();
      await delivered();

      // 8. A day passes: keepalives hold the key, the socket is rotated before the 24 h cut.
      const reconnectsBeforeDay = r.raw().reconnects;
      for (let h = 0; h < 24; h++) {
        push();
        await r.advance(HOUR, 5 * MIN);
      }
      await waitFor(async () => {
        const page = await r.events(cursor);
        expect(page.events.map((e) => e.data.i)).toEqual(ledger.slice(-24));
        cursor = page.nextCursor;
      });
      const day = await r.status();
      expect(day.s).toMatchObject({
        connected: true,
        reconnects: reconnectsBeforeDay,
        rotations: 1,
      });
      expect(r.exchangeKey()).toBe(secondKey);
      // The user-data socket was rotated before the cut. (A WebSocket API connection may be
      // cut at 24 h: it only carries requests, and reconnects on the next one.)
      expect(
        r.control
          .state()
          .closedSockets.filter((c) => c.kind === "stream")
          .map((c) => c.reason),
      ).not.toContain("connection max age reached");

      // 9. The API key is revoked: fatal at the next keepalive, and it stays fatal.
      r.control.revokeApiKey(API_KEY);
      await r.advanceUntil(() => r.raw().state === "failed", 31 * MIN, MIN);
      const failedAt = r.raw().failedAt!;
      const fatal = await r.status();
      expect(fatal.text).toMatch(/^Stopped by a fatal error: API_KEY_REJECTED: /);
      expect(fatal.s.retryAt).toBe(failedAt + 60 * SEC);
      expect((await r.events(cursor)).text).toContain("The stream is stopped by API_KEY_REJECTED");
      const sentAtFatal = r.sent.length;
      await r.advance(50 * SEC, 10 * SEC);
      expect((await r.status()).s.state).toBe("failed");
      expect(r.sent.length).toBe(sentAtFatal);
      // Fixed on the exchange and restarted by a person.
      r.control.restoreApiKey(API_KEY);
      await r.connector.restart();
      await up();
      push();
      await delivered();

      // Every event the exchange delivered reached the agent exactly once, in order.
      const all = await r.events(0);
      expect(all.events.filter((e) => e.kind === "executionReport").map((e) => e.data.i)).toEqual(
        ledger,
      );
      expect(all.events.filter((e) => e.type === "listenKeyExpired")).toHaveLength(2);
      expect(all.dropped).toBe(false);
      // One gap per time the stream had no socket (the rotation had none), each one closed.
      expect(all.gaps?.map((g) => g.reason.replace(/\d+ ms/, "N ms"))).toEqual([
        "connection lost without a close frame (1006)",
        "watchdog: silent for N ms",
        "listenKeyExpired",
        "connection lost without a close frame (1006)",
        "listenKeyExpired",
        "connection lost without a close frame (1006)",
        "stopped by API_KEY_REJECTED",
      ]);
      expect(all.gaps?.every((g) => g.to !== undefined && g.to > g.from)).toBe(true);
      expect((await r.status()).s.reconnects).toBe(reconnectsBeforeDay + 1);
      const final = await r.status();
      expect(final.s.listenKeyTransport).toBe(transport);
      expect(final.text).toContain(
        transport === "ws-api"
          ? "Listen key managed over the WebSocket API (connected)."
          : "Listen key managed over REST.",
      );
      if (transport === "ws-api") {
        // Every listen-key call went over the WebSocket API, none over REST.
        const restKeyCalls = r.control
          .state()
          .requests.filter((q) => q.path === "/api/v3/userDataStream" && q.transport !== "ws-api");
        expect(restKeyCalls).toEqual([]);
      }
    });
  },
);
