import { afterEach, describe, expect, it, vi } from "vitest";
import { createJsonLogger } from "../src/logger.js";
import { createMockClock, type MockClock } from "../src/mock/clock.js";
import { type BinanceUsMock, startBinanceUsMock } from "../src/mock/server.js";
import { recordStreamEvents } from "../src/test-utils/record-events.js";
import { UserDataStream, type UserDataStreamOptions } from "../src/user-data-stream.js";

// The connector against the local mock exchange: real HTTP and real WebSockets on
// 127.0.0.1, fake time shared by both sides.

const API_KEY = "Kx9".repeat(21) + "Q";
const SECRET = "integration-secret-0123456789abcdef";
const MIN = 60_000;
const HOUR = 60 * MIN;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  streamOptions: Partial<UserDataStreamOptions> = {},
  mockOptions: Parameters<typeof startBinanceUsMock>[0] = {},
) {
  const clock: MockClock = createMockClock();
  const mock: BinanceUsMock = await startBinanceUsMock({
    clock,
    apiKeys: { [API_KEY]: { secret: SECRET } },
    ...mockOptions,
  });
  const lines: string[] = [];
  const listenKeys = new Set<string>();
  mock.control.on("keyCreated", (k) => listenKeys.add(k.listenKey));
  const apiKey = streamOptions.apiKey ?? API_KEY;
  // Track the connector's own timers apart from the mock's.
  const armed = new Set<unknown>();
  const scheduler = {
    setTimeout: (fn: () => void, ms: number) => {
      const handle: unknown = clock.setTimeout(() => {
        armed.delete(handle);
        fn();
      }, ms);
      armed.add(handle);
      return handle;
    },
    clearTimeout: (handle: unknown) => {
      armed.delete(handle);
      clock.clearTimeout(handle);
    },
  };
  const stream = new UserDataStream({
    apiKey: API_KEY,
    restBaseUrl: mock.restUrl,
    wsBaseUrl: mock.wsUrl,
    now: clock.now,
    scheduler,
    random: () => 1,
    backoff: { baseMs: 200, maxMs: 2_000 },
    watchdog: { pingIntervalMs: 30_000, deadAfterMs: 75_000 },
    logger: createJsonLogger({ level: "debug", write: (l) => lines.push(l), now: clock.now }),
    ...streamOptions,
  });
  const seen = recordStreamEvents(stream);
  cleanups.push(async () => {
    await stream.close();
    await mock.close();
    // Every scenario doubles as a secrets sweep over everything the connector logged.
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).not.toContain(apiKey);
      expect(line).not.toContain(SECRET);
      for (const key of listenKeys) expect(line).not.toContain(key);
    }
  });
  const target = () => ({ apiKey: API_KEY });
  const openSockets = () => mock.control.state().sockets.length;
  return { clock, mock, stream, seen, lines, target, openSockets, armed, listenKeys };
}

const waitFor = <T>(fn: () => T) => vi.waitFor(fn, { timeout: 3_000, interval: 5 });

describe("UserDataStream against the mock exchange", () => {
  it("connects, validates the exchange's events, and recovers from a dropped socket", async () => {
    const s = await setup();
    await s.stream.start();
    await waitFor(() => expect(s.openSockets()).toBe(1));
    const build = s.mock.control.build;
    s.mock.control.pushEvent(s.target(), build.executionReport({ i: 1 }));
    s.mock.control.pushEvent(s.target(), build.outboundAccountPosition());
    s.mock.control.pushEvent(s.target(), build.balanceUpdate());
    s.mock.control.pushEvent(s.target(), build.listStatus());
    await waitFor(() => expect(s.seen.event).toHaveLength(4));
    expect(s.seen.event.map((e) => e.event.kind)).toEqual([
      "executionReport",
      "outboundAccountPosition",
      "balanceUpdate",
      "listStatus",
    ]);

    expect(s.mock.control.dropSockets({ apiKey: API_KEY })).toBe(1); // no close frame
    await waitFor(() => expect(s.seen.disconnected).toHaveLength(1));
    expect(s.seen.reconnecting[0]?.delayMs).toBe(200);
    await s.clock.advance(200);
    await waitFor(() => expect(s.seen.connected).toHaveLength(2));
    await waitFor(() => expect(s.openSockets()).toBe(1));
    s.mock.control.pushEvent(s.target(), build.executionReport({ i: 2 }));
    await waitFor(() => expect(s.seen.event).toHaveLength(5));
  });

  it("detects a silently dead socket within deadAfterMs", async () => {
    const s = await setup();
    await s.stream.start();
    await waitFor(() => expect(s.openSockets()).toBe(1));
    const silencedAt = s.clock.now();
    s.mock.control.silenceSockets({ apiKey: API_KEY });
    await s.clock.advance(75_000);
    await waitFor(() => expect(s.seen.disconnected).toHaveLength(1));
    expect(s.seen.disconnected[0]!.at - silencedAt).toBeLessThanOrEqual(75_000);
    expect(s.seen.disconnected[0]!.reason).toMatch(/watchdog/);
    s.mock.control.resume();
    await s.clock.advance(200);
    await waitFor(() => expect(s.seen.connected).toHaveLength(2));
  });

  it("keeps the key alive for hours and re-creates it after the exchange expires it", async () => {
    const s = await setup();
    await s.stream.start();
    await waitFor(() => expect(s.openSockets()).toBe(1));
    const first = s.stream.listenKey!;
    for (let k = 0; k < 6; k++) await s.clock.advance(30 * MIN);
    expect(s.stream.listenKey).toBe(first);
    expect(s.mock.control.state().keys.map((k) => k.listenKey)).toContain(first);
    expect(s.seen.disconnected).toHaveLength(0);

    s.mock.control.expireKey(first); // sockets get listenKeyExpired, then a close
    await waitFor(() =>
      expect(s.seen.event.some((e) => e.event.kind === "listenKeyExpired")).toBe(true),
    );
    await s.clock.advance(200);
    await waitFor(() => expect(s.seen.connected).toHaveLength(2));
    expect(s.stream.listenKey).not.toBe(first);
    s.mock.control.pushEvent(s.target(), s.mock.control.build.balanceUpdate());
    await waitFor(() => expect(s.seen.event.at(-1)?.event.kind).toBe("balanceUpdate"));
  });

  it("rotates before the 24 h cut and delivers every event exactly once", async () => {
    const s = await setup(
      { watchdog: { pingIntervalMs: 10 * MIN, deadAfterMs: 25 * MIN }, rotateAfterMs: 23 * HOUR },
      { pingIntervalMs: 9 * MIN },
    );
    await s.stream.start();
    await waitFor(() => expect(s.openSockets()).toBe(1));
    let sent = 0;
    const push = () =>
      s.mock.control.pushEvent(s.target(), s.mock.control.build.executionReport({ i: ++sent }));
    for (let h = 0; h < 23; h++) {
      push();
      await s.clock.advance(HOUR);
    }
    // Step through the rotation until both sockets are up, then push during the overlap:
    // every one of these events reaches the client twice.
    let overlapPushes = 0;
    for (let step = 0; step < 120 && overlapPushes < 3; step++) {
      await s.clock.advance(1_000);
      if (s.openSockets() === 2) {
        await waitFor(() => expect(s.seen.rotated).toHaveLength(1));
        expect(push()).toBe(2);
        overlapPushes++;
      }
    }
    expect(overlapPushes).toBe(3);
    for (let h = 0; h < 3; h++) {
      push();
      await s.clock.advance(HOUR);
    }
    await waitFor(() => expect(s.seen.event).toHaveLength(sent));
    const ids = s.seen.event.map((e) => (e.event.data as { i: number }).i);
    expect(ids).toEqual(Array.from({ length: sent }, (_, k) => k + 1));
    expect(s.seen.rotated.length).toBeGreaterThanOrEqual(1);
    expect(s.seen.disconnected).toHaveLength(0);
  });

  it("resyncs from the signed account snapshot after a reconnect", async () => {
    const s = await setup({ apiSecret: SECRET });
    s.mock.control.setAccount(
      { apiKey: API_KEY },
      { balances: [{ asset: "USD", free: "100.00000000", locked: "0.00000000" }] },
    );
    await s.stream.start();
    await waitFor(() => expect(s.seen.resynced).toHaveLength(1));
    s.mock.control.dropSockets({ apiKey: API_KEY });
    await waitFor(() => expect(s.seen.disconnected).toHaveLength(1));
    await s.clock.advance(200);
    await waitFor(() => expect(s.seen.resynced).toHaveLength(2));
    expect(s.seen.resynced[1]!.reason).toBe("reconnect");
    expect(s.seen.resynced[1]!.account.balances).toContainEqual({
      asset: "USD",
      free: "100.00000000",
      locked: "0.00000000",
    });
  });

  it("keeps the key, the secret and full listen keys out of logs, errors and events through failures", async () => {
    const s = await setup({ apiSecret: SECRET });
    await s.stream.start();
    await waitFor(() => expect(s.openSockets()).toBe(1));
    const c = s.mock.control;
    c.injectError({ method: "POST", status: 503, applied: true });
    c.dropSockets({ apiKey: API_KEY });
    await waitFor(() => expect(s.seen.disconnected).toHaveLength(1));
    await s.clock.advance(200);
    await waitFor(() =>
      expect(s.seen.warning.map((w) => w.code)).toContain("SERVER_ERROR_OUTCOME_UNKNOWN"),
    );
    c.injectError({ method: "POST", status: 429, retryAfterSec: 5 });
    await s.clock.advance(400);
    await waitFor(() => expect(s.seen.warning.map((w) => w.code)).toContain("RATE_LIMITED"));
    await s.clock.advance(5_000);
    await waitFor(() => expect(s.seen.connected).toHaveLength(2));
    c.expireKey(s.stream.listenKey!);
    await waitFor(() => expect(s.seen.disconnected).toHaveLength(2));
    // Connections this short do not reset the backoff ladder: wait out its 2 s cap.
    await s.clock.advance(2_000);
    await waitFor(() => expect(s.seen.connected).toHaveLength(3));
    c.revokeApiKey(API_KEY);
    c.dropSockets({ apiKey: API_KEY });
    await waitFor(() => expect(s.seen.disconnected).toHaveLength(3));
    await s.clock.advance(2_000);
    await waitFor(() => expect(s.seen.fatal).toHaveLength(1));
    expect(s.listenKeys.size).toBe(2);
    const outward = JSON.stringify({
      fatal: s.seen.fatal.map((e) => ({ ...e.toJSON(), stack: e.stack })),
      warnings: s.seen.warning,
      status: s.stream.status(),
      keyChanged: s.seen.keyChanged,
      connected: s.seen.connected,
    });
    expect(outward).not.toContain(API_KEY);
    expect(outward).not.toContain(SECRET);
    for (const key of s.listenKeys) expect(outward).not.toContain(key);
  });

  it("retries an outcome-unknown 5xx on re-POST and stays on the same key (get-or-extend)", async () => {
    const s = await setup();
    await s.stream.start();
    await waitFor(() => expect(s.openSockets()).toBe(1));
    const key = s.stream.listenKey;
    s.mock.control.injectError({ method: "POST", status: 503, applied: true });
    s.mock.control.dropSockets({ apiKey: API_KEY });
    await waitFor(() => expect(s.seen.disconnected).toHaveLength(1));
    await s.clock.advance(200); // reconnect attempt: POST answers 503 (but took effect)
    await waitFor(() =>
      expect(s.seen.warning.map((w) => w.code)).toContain("SERVER_ERROR_OUTCOME_UNKNOWN"),
    );
    await s.clock.advance(400); // next step of the ladder
    await waitFor(() => expect(s.seen.connected).toHaveLength(2));
    expect(s.stream.listenKey).toBe(key);
    expect(s.seen.keyChanged).toHaveLength(1);
  });

  it("obeys the exchange's Retry-After on a 429 before reconnecting", async () => {
    const s = await setup();
    await s.stream.start();
    await waitFor(() => expect(s.openSockets()).toBe(1));
    s.mock.control.injectError({ method: "POST", status: 429, retryAfterSec: 30 });
    s.mock.control.dropSockets({ apiKey: API_KEY });
    await waitFor(() => expect(s.seen.disconnected).toHaveLength(1));
    await s.clock.advance(200);
    await waitFor(() => expect(s.seen.reconnecting.map((r) => r.delayMs)).toContain(30_000));
    const posts = () => s.mock.control.state().requests.filter((r) => r.method === "POST").length;
    const before = posts();
    await s.clock.advance(29_000);
    expect(posts()).toBe(before);
    await s.clock.advance(1_000);
    await waitFor(() => expect(s.seen.connected).toHaveLength(2));
  });

  it("surfaces a rejected API key as fatal", async () => {
    const s = await setup({ apiKey: "Z".repeat(64) });
    await expect(s.stream.start()).rejects.toMatchObject({ code: "API_KEY_REJECTED" });
    expect(s.seen.fatal).toHaveLength(1);
    expect(s.stream.status().state).toBe("failed");
  });

  it("close() leaves no timer or socket behind", async () => {
    const s = await setup();
    await s.stream.start();
    await waitFor(() => expect(s.openSockets()).toBe(1));
    expect(s.armed.size).toBeGreaterThanOrEqual(3); // keepalive, watchdog, rotation
    await s.stream.close();
    await waitFor(() => expect(s.openSockets()).toBe(0));
    expect(s.armed.size).toBe(0);
  });
});
