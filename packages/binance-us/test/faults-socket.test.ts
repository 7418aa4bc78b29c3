import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { wsWebSocketFactory } from "../src/socket.js";
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

// Socket faults on the exchange side (issue 7): a socket dropped without a close frame, a
// server that stops answering pings, a socket that goes silent with TCP still up, and the
// 24-hour cut. Each time the managed stream must come back by itself on the exchange's key,
// and the status/events tools must say what is happening while it is down.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function rig(options?: Parameters<typeof startRig>[0]): Promise<Rig> {
  const r = await startRig(options);
  cleanups.push(r.close);
  return r;
}

const masked = (key: string | undefined) => `${key?.slice(0, 4)}…`;

/** A loopback port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts the managed stream through the status tool and waits for it to be up. */
async function connected(r: Rig) {
  const first = await r.status();
  expect(first.s.enabled).toBe(true);
  await r.untilConnected();
  const st = await r.status();
  expect(st.s).toMatchObject({ state: "connected", connected: true });
  expect(st.s.listenKeyMasked).toBe(masked(r.exchangeKey()));
  expect(st.text).toMatch(/^Connected \(key /);
  return st;
}

/** Pushes events with ids and waits until the events tool returns exactly them after `cursor`. */
async function flows(r: Rig, cursor: number, ids: number[]) {
  for (const i of ids) expect(r.push(r.control.build.executionReport({ i }))).toBe(1);
  let next = cursor;
  await waitFor(async () => {
    const page = await r.events(cursor);
    expect(page.events.map((e) => e.data.i)).toEqual(ids);
    expect(page.connected).toBe(true);
    next = page.nextCursor;
  });
  return next;
}

describe(
  "managed stream under socket faults, seen through the MCP tools",
  { timeout: FAULT_TEST_TIMEOUT_MS },
  () => {
    it("recovers from a socket dropped without a close frame and says so while down", async () => {
      const r = await rig();
      await connected(r);
      const key = r.exchangeKey();
      let cursor = await flows(r, 0, [1, 2]);

      const postsBefore = r.sent.filter((q) => q.method === "POST").length;
      const droppedAt = r.clock.now();
      expect(r.control.dropSockets({ apiKey: API_KEY })).toBe(1);
      await waitFor(() => expect(r.raw().connected).toBe(false));

      const down = await r.status();
      expect(down.s).toMatchObject({ state: "reconnecting", connected: false });
      expect(down.s.lastDisconnect?.reason).toMatch(/without a close frame \(1006\)/);
      expect(down.s.nextReconnectAt).toBeGreaterThanOrEqual(r.clock.now());
      expect(down.text).toMatch(/^Not connected \(state reconnecting\)/);
      expect(down.text).toContain("without a close frame (1006)");
      expect(down.text).toMatch(/next attempt at \d{4}-\d\d-\d\dT/);
      const page = await r.events(cursor);
      expect(page).toMatchObject({ connected: false, events: [] });
      expect(page.text).toContain(
        "The stream is not connected (state reconnecting); events the exchange sends before it reconnects are not replayed",
      );
      // The gap is open: it started after the last event the reader has.
      expect(page.gaps).toEqual([
        {
          afterCursor: cursor,
          from: droppedAt,
          reason: "connection lost without a close frame (1006)",
        },
      ]);
      expect(page.text).toContain(
        `Gap after cursor ${cursor}: nothing could arrive from ${iso(droppedAt)} to now`,
      );

      await r.untilConnected();
      const up = await r.status();
      expect(up.s).toMatchObject({ state: "connected", connected: true, reconnects: 1 });
      expect(up.s.nextReconnectAt).toBeUndefined();
      expect(up.text).toMatch(/^Connected .* 1 reconnects/);
      // The reconnect re-POSTed for the key (get-or-extend) and stayed on the same one.
      expect(r.sent.filter((q) => q.method === "POST").length).toBe(postsBefore + 1);
      expect(r.exchangeKey()).toBe(key);
      const closed = (await r.events(cursor)).gaps;
      expect(closed).toEqual([
        {
          afterCursor: cursor,
          from: droppedAt,
          to: expect.any(Number),
          reason: "connection lost without a close frame (1006)",
        },
      ]);
      expect(closed![0]!.to).toBeGreaterThan(droppedAt);
      cursor = await flows(r, cursor, [3]);
      expect(cursor).toBe(3);
      // Read past it, the gap is no longer reported.
      expect((await r.events(cursor)).gaps).toBeUndefined();
    });

    it("terminates a socket whose server stopped answering pings, within the watchdog bound", async () => {
      const r = await rig();
      await connected(r);
      let cursor = await flows(r, 0, [1]);

      const stoppedAt = r.clock.now();
      r.control.stopPongs();
      await r.advanceUntil(() => !r.raw().connected, 3 * MIN, 5 * SEC);
      // Default watchdog: ping every 30 s, dead after 75 s of silence (the server would need
      // 10 minutes to notice); the rig steps 5 s at a time.
      expect(r.clock.now() - stoppedAt).toBeLessThanOrEqual(75 * SEC + 5 * SEC);
      const down = await r.status();
      expect(down.s.state).toBe("reconnecting");
      expect(down.s.lastError?.code).toBe("SOCKET_DEAD");
      expect(down.s.lastDisconnect?.reason).toMatch(/^watchdog: silent for \d+ ms/);
      expect(down.text).toMatch(/watchdog: silent for \d+ ms/);

      // While the server stays deaf every new socket dies the same way: the status keeps
      // counting instead of claiming a healthy stream.
      await r.untilConnected();
      await r.advanceUntil(() => !r.raw().connected, 3 * MIN, 5 * SEC);
      await r.untilConnected();
      expect((await r.status()).s.reconnects).toBe(2);

      r.control.resume();
      await r.advance(10 * MIN);
      const up = await r.status();
      expect(up.s).toMatchObject({ state: "connected", connected: true, reconnects: 2 });
      cursor = await flows(r, cursor, [2]);
      // The client answered every server ping, so the exchange never cut it for a missing pong.
      expect(r.control.state().closedSockets.map((c) => c.reason)).not.toContain("pong timeout");
      expect(r.exchangeSockets()[0]!.pongsReceived).toBeGreaterThan(0);
    });

    it("replaces a socket that went silent with TCP still up, and delivers again", async () => {
      const r = await rig();
      await connected(r);
      const cursor = await flows(r, 0, [1]);
      const [before] = r.exchangeSockets();

      r.control.silenceSockets({ apiKey: API_KEY });
      // Pushed into the dead socket: the exchange "sends" it, the client never sees it. The
      // tools must not pretend otherwise.
      r.push(r.control.build.executionReport({ i: 99 }));
      await r.advanceUntil(() => !r.raw().connected, 3 * MIN, 5 * SEC);
      const down = await r.status();
      expect(down.s).toMatchObject({ state: "reconnecting", connected: false });
      expect(down.text).toMatch(/SOCKET_DEAD/);
      expect((await r.events(cursor)).events).toEqual([]);

      await r.untilConnected();
      expect(r.exchangeSockets()[0]!.id).not.toBe(before!.id);
      expect(r.control.state().closedSockets.map((c) => c.id)).toContain(before!.id);
      await flows(r, cursor, [2]);
    });

    it("says why when the stream endpoint refuses connections while REST works, and connects once it is back", async () => {
      const refused = `ws://127.0.0.1:${await closedPort()}`;
      let reachable = false;
      const r = await rig({
        connector: {
          webSocketFactory: (url, handlers) =>
            wsWebSocketFactory(reachable ? url : url.replace(/^ws:\/\/[^/]+/, refused), handlers),
        },
      });
      await r.status();
      await r.advanceUntil(() => r.raw().reconnectAttempt >= 3, MIN, 100);
      const down = await r.status();
      expect(down.s).toMatchObject({ state: "reconnecting", connected: false });
      expect(down.s.lastError?.code).toBe("SOCKET_OPEN_FAILED");
      expect(down.text).toMatch(
        /^Not connected \(state reconnecting\); next attempt at .*; last error SOCKET_OPEN_FAILED: socket error: connect ECONNREFUSED/,
      );
      // REST still works: the key exists and the listen-key tools answer.
      expect(r.exchangeKey()).toBeDefined();
      expect((await r.events(0)).text).toContain("The stream is not connected");
      reachable = true;
      await r.untilConnected();
      const up = await r.status();
      expect(up.s).toMatchObject({ state: "connected", connected: true });
      await flows(r, 0, [1]);
    });

    it("backs off when the exchange drops every new socket right after it opens, and recovers", async () => {
      const r = await rig();
      await connected(r);
      let dropping = true;
      r.control.on("socketOpen", (socket) => {
        if (dropping) queueMicrotask(() => r.control.dropSockets({ socketId: socket.id }));
      });
      const from = r.clock.now();
      const sentBefore = r.sent.length;
      r.control.dropSockets({ apiKey: API_KEY });
      await r.advance(MIN, 250);
      // Each brief connection is not proof that the path works: the backoff keeps growing
      // (full jitter of 500 ms doubling to 30 s), so a minute holds about ten attempts, not
      // one every few hundred milliseconds, and the re-POSTs and resyncs stay far from the
      // exchange's weight limit.
      const posts = r.sent.slice(sentBefore).filter((q) => q.method === "POST").length;
      expect(posts).toBeGreaterThanOrEqual(5);
      expect(posts).toBeLessThanOrEqual(12);
      expect(r.control.state().requests.filter((q) => q.status === 429)).toEqual([]);
      const st = await r.status();
      expect(st.s.connected).toBe(false);
      expect(st.text).toMatch(/connection lost without a close frame \(1006\); next attempt at/);
      expect(st.s.reconnectAttempt).toBeGreaterThanOrEqual(5);
      expect(r.clock.now() - from).toBe(MIN);

      dropping = false;
      await r.untilConnected(MIN, SEC);
      await r.advance(2 * MIN);
      expect((await r.status()).s).toMatchObject({ connected: true, state: "connected" });
      await flows(r, 0, [1]);
    });

    it("rotates before the exchange's 24 h cut without a gap, on the same key", async () => {
      // Coarser watchdog so a day of fake time runs in few steps; the exchange still pings
      // every 3 minutes, which keeps the socket live for it.
      const r = await rig({
        connector: { watchdog: { pingIntervalMs: 10 * MIN, deadAfterMs: 25 * MIN } },
      });
      await connected(r);
      const key = r.exchangeKey();
      const firstSocket = r.exchangeSockets()[0]!.id;
      let pushed = 0;
      for (let h = 0; h < 25; h++) {
        expect(r.push(r.control.build.executionReport({ i: ++pushed }))).toBeGreaterThanOrEqual(1);
        await r.advance(HOUR, 5 * MIN);
      }
      await waitFor(async () => {
        const page = await r.events(0);
        expect(page.events.map((e) => e.data.i)).toEqual(
          Array.from({ length: pushed }, (_, k) => k + 1),
        );
      });
      const st = await r.status();
      expect(st.s).toMatchObject({ state: "connected", rotations: 1, reconnects: 0 });
      expect((await r.events(0)).gaps).toBeUndefined(); // make before break: no gap
      expect(r.exchangeKey()).toBe(key);
      const closed = r.control.state().closedSockets.find((c) => c.id === firstSocket);
      expect(closed?.reason).not.toBe("connection max age reached");
      expect(closed!.closedAt - closed!.openedAt).toBeLessThan(24 * HOUR);
      // Keepalives about every 30 minutes kept the one key for the whole day.
      const puts = r.sent.filter((q) => q.method === "PUT").length;
      expect(puts).toBeGreaterThanOrEqual(48);
      expect(puts).toBeLessThanOrEqual(51);
    });

    it("reconnects when the exchange cuts the connection before the stream's own rotation", async () => {
      const r = await rig({ mock: { connectionMaxAgeMs: 2 * HOUR } });
      await connected(r);
      const key = r.exchangeKey();
      const cursor = await flows(r, 0, [1]);
      await r.advanceUntil(() => !r.raw().connected, 2 * HOUR + MIN, 30 * SEC);
      const down = await r.status();
      expect(down.s.state).toBe("reconnecting");
      expect(down.s.lastDisconnect?.reason).toMatch(/1000 connection max age reached/);
      expect(down.text).toContain("connection max age reached");
      await r.untilConnected();
      expect(r.exchangeKey()).toBe(key);
      expect((await r.status()).s.reconnects).toBe(1);
      await flows(r, cursor, [2]);
    });
  },
);
