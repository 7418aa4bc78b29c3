import { describe, expect, it } from "vitest";
import { createJsonLogger } from "./logger.js";
import { executionReport, FakeClock, FakeExchange } from "./test-utils/fakes.js";
import { recordStreamEvents } from "./test-utils/record-events.js";
import { UserDataStream, type UserDataStreamOptions } from "./user-data-stream.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

function setup(overrides: Partial<UserDataStreamOptions> = {}) {
  const clock = new FakeClock();
  const exchange = new FakeExchange(clock);
  const lines: string[] = [];
  const stream = new UserDataStream({
    apiKey: exchange.validApiKey,
    restBaseUrl: "http://exchange.test",
    wsBaseUrl: "ws://exchange.test",
    fetch: exchange.fetch,
    webSocketFactory: exchange.webSocketFactory,
    now: clock.now,
    scheduler: clock,
    random: () => 1,
    watchdog: { pingIntervalMs: 30_000, deadAfterMs: 75_000 },
    backoff: { baseMs: 500, maxMs: 4_000 },
    logger: createJsonLogger({ level: "debug", write: (l) => lines.push(l), now: clock.now }),
    ...overrides,
  });
  const seen = recordStreamEvents(stream);
  return { clock, exchange, stream, seen, lines };
}

async function started(s: ReturnType<typeof setup>) {
  const p = s.stream.start();
  await s.clock.advance(10);
  await p;
  return s;
}

/** The socket drops and the re-POST for a key answers -2015, as when the IP whitelist changed. */
async function rejectKeyOnReconnect(s: ReturnType<typeof setup>) {
  s.exchange.failures.push({
    method: "POST",
    status: 401,
    body: { code: -2015, msg: "Invalid API-key, IP, or permissions for action." },
  });
  s.exchange.openSockets()[0]!.serverClose(1000);
  await s.clock.advance(HOUR);
}

function eventIds(s: ReturnType<typeof setup>): number[] {
  return s.seen.event.map((e) => (e.event.data as { i: number }).i);
}

describe("UserDataStream", () => {
  it("connects to /ws/<listenKey>, delivers events with cursors and answers pings", async () => {
    const s = await started(setup());
    const [socket] = s.exchange.openSockets();
    expect(socket?.listenKey).toBe(s.exchange.key?.listenKey);
    s.exchange.push(executionReport({ i: 1 }));
    s.exchange.push({ e: "somethingNew", E: 5 });
    expect(s.seen.event.map((e) => [e.cursor, e.event.kind])).toEqual([
      [1, "executionReport"],
      [2, "unknown"],
    ]);
    socket!.handlers.onPing(new Uint8Array([1, 2]));
    expect(socket!.sentPongs).toEqual([new Uint8Array([1, 2])]);
    expect(s.stream.events(1).events.map((e) => e.cursor)).toEqual([2]);
    const status = s.stream.status();
    expect(status).toMatchObject({ state: "connected", connected: true, reconnects: 0 });
    expect(status.listenKeyMasked).toBe(`${socket!.listenKey.slice(0, 4)}…`);
    await s.stream.close();
  });

  it("keeps a healthy socket for hours (pongs count as life) and keeps the key alive", async () => {
    const s = await started(setup());
    await s.clock.advance(5 * HOUR);
    expect(s.seen.disconnected).toHaveLength(0);
    expect(s.exchange.openSockets()).toHaveLength(1);
    expect(s.exchange.openSockets()[0]!.pingsReceived).toBeGreaterThanOrEqual(5 * 120 - 1);
    expect(s.exchange.key).toBeDefined();
    await s.stream.close();
  });

  it("detects a silently dead socket within deadAfterMs and reconnects with a fresh POST", async () => {
    const s = await started(setup());
    const dead = s.exchange.openSockets()[0]!;
    const silentFrom = s.clock.now();
    dead.silent = true; // no frames, no pongs, no close: a half-open TCP connection
    const posts = s.exchange.calls.filter((c) => c.method === "POST").length;
    await s.clock.advance(75_000);
    expect(s.seen.disconnected).toHaveLength(1);
    expect(s.seen.disconnected[0]!.at - silentFrom).toBeLessThanOrEqual(75_000);
    expect(s.seen.disconnected[0]!.reason).toMatch(/watchdog/);
    expect(dead.closedBy).toBe("client-terminate");
    await s.clock.advance(500 + 10);
    expect(s.exchange.calls.filter((c) => c.method === "POST").length).toBe(posts + 1);
    expect(s.seen.connected.map((c) => c.reconnect)).toEqual([false, true]);
    s.exchange.push(executionReport({ i: 42 }));
    expect(eventIds(s)).toEqual([42]);
    expect(s.stream.status().reconnects).toBe(1);
    await s.stream.close();
  });

  it("records why and when the socket was lost, the next attempt and the gap it leaves", async () => {
    const s = await started(setup());
    s.exchange.push(executionReport({ i: 1 }));
    const lostAt = s.clock.now();
    s.exchange.openSockets()[0]!.terminate(); // seen by the client as 1006, no close frame
    await s.clock.advance(0);
    expect(s.stream.status()).toMatchObject({
      state: "reconnecting",
      lastDisconnect: { at: lostAt, reason: "connection lost without a close frame (1006)" },
      nextReconnectAt: lostAt + 500,
    });
    expect(s.stream.gaps(0)).toEqual([
      {
        afterCursor: 1,
        from: lostAt,
        to: undefined,
        reason: "connection lost without a close frame (1006)",
      },
    ]);
    await s.clock.advance(600);
    expect(s.stream.status()).toMatchObject({ connected: true, nextReconnectAt: undefined });
    expect(s.stream.gaps(1)[0]!.to).toBe(s.stream.status().connectedSince);
    expect(s.stream.gaps(2)).toEqual([]); // a reader past the gap is not told again
    // A server close carries its code and reason; a rotation leaves no gap.
    s.exchange.openSockets()[0]!.serverClose(1001);
    await s.clock.advance(0);
    expect(s.stream.status().lastDisconnect?.reason).toBe("closed by server (1001)");
    expect(s.stream.gaps(0)).toHaveLength(2);
    await s.stream.close();
  });

  it("backs off exponentially with full jitter, capped, re-POSTing before every attempt", async () => {
    const s = await started(setup());
    s.exchange.acceptSockets = false;
    const postsBefore = s.exchange.calls.filter((c) => c.method === "POST").length;
    s.exchange.openSockets()[0]!.serverClose(1001);
    await s.clock.advance(40_000);
    const delays = s.seen.reconnecting.map((r) => r.delayMs);
    expect(delays.slice(0, 7)).toEqual([500, 1_000, 2_000, 4_000, 4_000, 4_000, 4_000]);
    const attempts = s.exchange.sockets.length - 1;
    expect(s.exchange.calls.filter((c) => c.method === "POST").length - postsBefore).toBe(attempts);
    s.exchange.acceptSockets = true;
    await s.clock.advance(4_010);
    expect(s.stream.status()).toMatchObject({ connected: true, reconnectAttempt: 0 });
    // A connection cut right after it opened proves nothing: the ladder goes on.
    s.exchange.openSockets()[0]!.serverClose(1000);
    await s.clock.advance(0);
    expect(s.seen.reconnecting.at(-1)!.delayMs).toBe(4_000);
    await s.clock.advance(4_010);
    expect(s.stream.status().connected).toBe(true);
    // One that lasted a ping interval (30 s) resets it.
    await s.clock.advance(30_000);
    s.exchange.openSockets()[0]!.serverClose(1000);
    await s.clock.advance(0);
    expect(s.seen.reconnecting.at(-1)!.delayMs).toBe(500);
    await s.stream.close();
  });

  it("draws the jitter uniformly below the step", async () => {
    const s = await started(setup({ random: () => 0.25 }));
    s.exchange.acceptSockets = false;
    s.exchange.openSockets()[0]!.serverClose(1001);
    await s.clock.advance(3_000);
    expect(s.seen.reconnecting.slice(0, 3).map((r) => r.delayMs)).toEqual([125, 250, 500]);
    await s.stream.close();
  });

  it("rotates before the 24 h cut: new socket first, every event exactly once", async () => {
    const s = await started(setup({ rotateAfterMs: 23 * HOUR, rotationOverlapMs: 5_000 }));
    const first = s.exchange.openSockets()[0]!;
    // The exchange cuts any connection at 24 h.
    const cut = (sock: typeof first) => s.clock.setTimeout(() => sock.serverClose(1000), 24 * HOUR);
    cut(first);
    let next = 1;
    const pushEvery = () => {
      s.exchange.push(executionReport({ i: next++ }));
      s.clock.setTimeout(pushEvery, 60_000);
    };
    pushEvery();
    await s.clock.advance(23 * HOUR + 30);
    const both = s.exchange.openSockets();
    expect(both).toHaveLength(2); // overlap: new socket is up, old one not yet closed
    for (let k = 0; k < 5; k++) s.exchange.push(executionReport({ i: next++ })); // seen twice
    await s.clock.advance(5_000);
    expect(first.closedBy).toBe("client-close");
    expect(s.seen.rotated).toHaveLength(1);
    expect(s.seen.disconnected).toHaveLength(0);
    cut(s.exchange.openSockets()[0]!);
    await s.clock.advance(2 * HOUR);
    const ids = eventIds(s);
    expect(ids).toEqual(Array.from({ length: next - 1 }, (_, k) => k + 1));
    expect(s.seen.disconnected).toHaveLength(0);
    expect(s.stream.status()).toMatchObject({ rotations: 1, reconnects: 0 });
    await s.stream.close();
  });

  it("backs off failed rotation attempts while the old socket keeps delivering", async () => {
    const s = await started(setup({ rotateAfterMs: HOUR }));
    const old = s.exchange.openSockets()[0]!;
    await s.clock.advance(HOUR - 1_000);
    s.exchange.acceptSockets = false;
    const before = s.exchange.sockets.length;
    await s.clock.advance(13_000);
    const attempts = s.exchange.sockets.length - before;
    expect(attempts).toBeGreaterThanOrEqual(5);
    expect(attempts).toBeLessThanOrEqual(6); // 0.5, 1, 2, 4, 4 s apart, not every 0.5 s
    expect(old.state).toBe("open");
    expect(s.seen.disconnected).toHaveLength(0);
    s.exchange.push(executionReport({ i: 1 }));
    s.exchange.acceptSockets = true;
    await s.clock.advance(10_000);
    expect(s.seen.rotated).toHaveLength(1);
    s.exchange.push(executionReport({ i: 2 }));
    expect(eventIds(s)).toEqual([1, 2]);
    await s.stream.close();
  });

  it("handles listenKeyExpired: passes it on, re-creates the key, reconnects", async () => {
    const s = await started(setup());
    const oldKey = s.exchange.key!.listenKey;
    s.exchange.expireKey();
    s.exchange
      .openSockets()[0]!
      .deliver(
        JSON.stringify({ e: "listenKeyExpired", E: String(s.clock.now()), listenKey: oldKey }),
      );
    expect(s.seen.event.at(-1)?.event.kind).toBe("listenKeyExpired");
    await s.clock.advance(600);
    expect(s.exchange.key!.listenKey).not.toBe(oldKey);
    expect(s.exchange.openSockets().map((x) => x.listenKey)).toEqual([s.exchange.key!.listenKey]);
    expect(s.seen.keyChanged).toHaveLength(2);
    await s.stream.close();
  });

  it("moves to the new key without a gap when a keepalive finds the key gone (-1125)", async () => {
    const s = await started(setup());
    const old = s.exchange.openSockets()[0]!;
    s.exchange.expireKey();
    await s.clock.advance(31 * MIN + 20);
    expect(s.seen.keyChanged).toHaveLength(2);
    expect(s.seen.rotated.map((r) => r.reason)).toEqual(["keyChanged"]);
    const open = s.exchange.openSockets();
    expect(open.map((x) => x.listenKey)).toContain(s.exchange.key!.listenKey);
    await s.clock.advance(5_000);
    expect(old.state).toBe("closed");
    s.exchange.push(executionReport({ i: 7 }));
    expect(eventIds(s)).toEqual([7]);
    await s.stream.close();
  });

  it("drops a rotation socket still opening on a key that a keepalive found gone", async () => {
    const s = await started(
      setup({ rotateAfterMs: 10 * MIN, keepaliveIntervalMs: MIN, keepaliveJitterMs: 0 }),
    );
    s.exchange.acceptStaleKeys = true; // the upgrade for a dead key succeeds, then silence
    s.exchange.openDelayMs = 90_000; // a slow handshake keeps the rotation socket pending
    await s.clock.advance(10 * MIN); // rotation: POST, the new socket starts opening
    expect(s.exchange.sockets.filter((x) => x.state === "connecting")).toHaveLength(1);
    s.exchange.expireKey(); // the next keepalive (due in 60 s) meets -1125 and re-creates
    await s.clock.advance(5 * MIN);
    // The socket on the dead key was dropped, never promoted; one move, to the new key.
    expect(s.seen.rotated.map((r) => r.reason)).toEqual(["keyChanged"]);
    expect(s.exchange.sockets[1]?.closedBy).toBe("client-terminate");
    const current = s.exchange.key!.listenKey;
    expect(s.stream.listenKey).toBe(current);
    expect(s.exchange.openSockets().map((x) => x.listenKey)).toEqual([current]);
    s.exchange.push(executionReport({ i: 9 }));
    expect(eventIds(s)).toEqual([9]);
    await s.stream.close();
    expect(s.clock.pending()).toBe(0);
  });

  it("drops a rotation socket opening on the key that listenKeyExpired just ended", async () => {
    const s = await started(setup({ rotateAfterMs: 10 * MIN }));
    const k1 = s.exchange.key!.listenKey;
    s.exchange.acceptStaleKeys = true;
    s.exchange.openDelayMs = 5_000;
    await s.clock.advance(10 * MIN);
    expect(s.exchange.sockets.filter((x) => x.state === "connecting")).toHaveLength(1);
    s.exchange.expireKey();
    s.exchange
      .openSockets()[0]!
      .deliver(JSON.stringify({ e: "listenKeyExpired", E: String(s.clock.now()), listenKey: k1 }));
    s.exchange.openDelayMs = 10;
    await s.clock.advance(10_000);
    const current = s.exchange.key!.listenKey;
    expect(current).not.toBe(k1);
    expect(s.exchange.openSockets().map((x) => x.listenKey)).toEqual([current]);
    s.exchange.push(executionReport({ i: 10 }));
    expect(s.seen.event.map((e) => e.event.kind)).toEqual(["listenKeyExpired", "executionReport"]);
    await s.stream.close();
    expect(s.clock.pending()).toBe(0);
  });

  it("holds exactly one keepalive timer through reconnects, a key change and a rotation", async () => {
    const s = await started(setup({ rotateAfterMs: 2 * HOUR }));
    const keepaliveTimers = () =>
      s.clock.pendingDelays().filter((d) => d > 29 * MIN && d <= 31 * MIN).length;
    expect(keepaliveTimers()).toBe(1);
    for (let k = 0; k < 4; k++) {
      s.exchange.openSockets()[0]!.serverClose(1001);
      await s.clock.advance(5_000);
      expect(s.exchange.openSockets()).toHaveLength(1);
      expect(keepaliveTimers()).toBe(1);
    }
    s.exchange.expireKey(); // the next keepalive meets -1125 and re-creates the key
    await s.clock.advance(31 * MIN + 10_000);
    expect(s.seen.keyChanged).toHaveLength(2);
    expect(keepaliveTimers()).toBe(1);
    await s.clock.advance(2 * HOUR); // a rotation
    expect(s.seen.rotated.map((r) => r.reason)).toContain("rotation");
    expect(s.exchange.calls.filter((c) => c.method === "PUT").length).toBeGreaterThan(2);
    await s.stream.close();
    expect(s.clock.pending()).toBe(0);
  });

  it("obeys Retry-After before reconnecting", async () => {
    const s = await started(setup());
    s.exchange.failures.push({ method: "POST", status: 429, headers: { "retry-after": "30" } });
    s.exchange.openSockets()[0]!.serverClose(1000);
    await s.clock.advance(500);
    const callsBefore = s.exchange.calls.length;
    expect(s.seen.reconnecting.map((r) => r.delayMs)).toEqual([500, 30_000]);
    await s.clock.advance(29_999);
    expect(s.exchange.calls.length).toBe(callsBefore); // nothing sent during Retry-After
    await s.clock.advance(11);
    expect(s.exchange.calls.length).toBe(callsBefore + 1);
    expect(s.stream.status().connected).toBe(true);
    await s.stream.close();
  });

  it("surfaces -2015 as fatal and stops without retrying or leaving timers", async () => {
    const s = await started(setup());
    await rejectKeyOnReconnect(s);
    expect(s.seen.fatal.map((f) => f.code)).toEqual(["API_KEY_REJECTED"]);
    expect(s.stream.status().state).toBe("failed");
    expect(s.clock.pending()).toBe(0);
    expect(s.exchange.openSockets()).toHaveLength(0);
  });

  it("restart() after a fatal error POSTs afresh and delivers again, keeping cursors", async () => {
    const s = await started(setup());
    s.exchange.push(executionReport({ i: 1 }));
    await rejectKeyOnReconnect(s);
    expect(s.stream.status()).toMatchObject({ state: "failed", failedAt: expect.any(Number) });
    await expect(s.stream.start()).rejects.toMatchObject({ code: "API_KEY_REJECTED" });
    // The cause was fixed on the exchange (IP whitelisted): the failure is not scripted again.
    const restarted = s.stream.restart();
    await s.clock.advance(10);
    await restarted;
    expect(s.stream.status()).toMatchObject({ state: "connected", failedAt: undefined });
    expect(s.exchange.openSockets()).toHaveLength(1);
    s.exchange.push(executionReport({ i: 2 }));
    expect(s.seen.event.map((e) => e.cursor)).toEqual([1, 2]);
    // One keepalive timer again, not one per start.
    expect(s.clock.pendingDelays().filter((d) => d > 25 * MIN && d < 35 * MIN)).toHaveLength(1);
    await s.stream.close();
    await expect(s.stream.restart()).rejects.toMatchObject({ code: "CLOSED" });
    expect(s.clock.pending()).toBe(0);
  });

  it("rejects start() with the fatal error when the key is bad from the outset", async () => {
    const s = setup({ apiKey: "bad key" });
    await expect(s.stream.start()).rejects.toMatchObject({ code: "API_KEY_FORMAT_INVALID" });
    expect(s.clock.pending()).toBe(0);
  });

  it("resyncs from the signed account snapshot after every reconnect when a secret is set", async () => {
    const s = await started(setup({ apiSecret: SECRET }));
    await s.clock.advance(0);
    expect(s.seen.resynced.map((r) => r.reason)).toEqual(["initial"]);
    s.exchange.openSockets()[0]!.serverClose(1000);
    await s.clock.advance(600);
    expect(s.seen.resynced.map((r) => r.reason)).toEqual(["initial", "reconnect"]);
    expect(s.seen.resynced[1]!.account.balances[0]).toEqual({
      asset: "BTC",
      free: "1.00000000",
      locked: "0.00000000",
    });
    await s.stream.close();
    const noSecret = await started(setup());
    await noSecret.clock.advance(0);
    expect(noSecret.seen.resynced).toHaveLength(0);
    expect(noSecret.exchange.calls.some((c) => c.url.includes("/api/v3/account"))).toBe(false);
    await noSecret.stream.close();
  });

  it("close() leaves no timer or socket behind, in every state", async () => {
    const idle = setup();
    await idle.stream.close();
    expect(idle.clock.pending()).toBe(0);
    await expect(idle.stream.start()).rejects.toMatchObject({ code: "CLOSED" });
    await idle.clock.advance(HOUR);
    expect(idle.exchange.calls).toHaveLength(0);
    expect(idle.clock.pending()).toBe(0);

    const s = await started(setup());
    await s.stream.close();
    expect(s.clock.pending()).toBe(0);
    expect(s.exchange.openSockets()).toHaveLength(0);
    expect(s.exchange.calls.some((c) => c.method === "DELETE")).toBe(false);

    const reconnecting = await started(setup({ ownsStream: true }));
    reconnecting.exchange.acceptSockets = false;
    reconnecting.exchange.openSockets()[0]!.serverClose(1000);
    await reconnecting.clock.advance(505);
    await reconnecting.stream.close();
    expect(reconnecting.clock.pending()).toBe(0);
    expect(reconnecting.exchange.sockets.every((x) => x.state === "closed")).toBe(true);
    expect(reconnecting.exchange.calls.filter((c) => c.method === "DELETE")).toHaveLength(1);

    const rotating = await started(setup({ rotateAfterMs: HOUR }));
    await rotating.clock.advance(HOUR + 10);
    expect(rotating.exchange.openSockets()).toHaveLength(2);
    await rotating.stream.close();
    expect(rotating.clock.pending()).toBe(0);
    expect(rotating.exchange.openSockets()).toHaveLength(0);
  });

  it("keeps API key, secret and listen keys out of every log line", async () => {
    const s = await started(setup({ apiSecret: SECRET }));
    const keys = new Set<string>([s.exchange.key!.listenKey]);
    s.exchange.openSockets()[0]!.silent = true;
    await s.clock.advance(80_000);
    s.exchange.expireKey();
    await s.clock.advance(31 * MIN);
    keys.add(s.exchange.key!.listenKey);
    s.exchange.failures.push({
      method: "POST",
      status: 401,
      body: { code: -2015, msg: `rejected ${s.exchange.validApiKey}` },
    });
    for (const x of s.exchange.openSockets()) x.serverClose(1000);
    await s.clock.advance(HOUR);
    expect(s.seen.fatal).toHaveLength(1);
    expect(s.lines.length).toBeGreaterThan(10);
    for (const line of s.lines) {
      expect(line).not.toContain(s.exchange.validApiKey);
      expect(line).not.toContain(SECRET);
      for (const key of keys) expect(line).not.toContain(key);
    }
    expect(s.seen.fatal[0]!.message).not.toContain(s.exchange.validApiKey);
    for (const w of s.seen.warning) expect(JSON.stringify(w)).not.toContain(s.exchange.validApiKey);
  });

  it("rejects invalid options naming the path", () => {
    expect(
      () =>
        new UserDataStream({
          apiKey: "k",
          watchdog: { pingIntervalMs: 60_000, deadAfterMs: 30_000 },
        }),
    ).toThrow(/watchdog.*deadAfterMs/);
    expect(() => new UserDataStream({ apiKey: "k", wsBaseUrl: "http://x" })).toThrow(/wsBaseUrl/);
    expect(() => new UserDataStream({ apiKey: "k", resync: true })).toThrow(/resync.*apiSecret/);
  });
});
