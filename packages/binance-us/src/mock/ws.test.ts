import { describe, expect, it } from "vitest";
import { createKey, KEY_A, KEY_B, rest, until, useMockLifecycle } from "./test-utils/harness.js";

const UDS = "/api/v3/userDataStream";
const MIN = 60_000;

const { start, probe, open } = useMockLifecycle();

describe("user-data stream sockets", () => {
  it("delivers pushed events to every socket of the key, stamping E from the clock", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const a = await open(`${mock.wsUrl}/ws/${listenKey}`);
    const b = await open(`${mock.wsUrl}/ws/${listenKey}`);
    const ev = mock.control.build.executionReport({ i: 42 });
    expect(mock.control.pushEvent({ apiKey: KEY_A }, ev)).toBe(2);
    expect(
      mock.control.pushEvent({ listenKey }, { e: "balanceUpdate", E: "7", a: "USD", d: "1.5" }),
    ).toBe(2);
    expect(mock.control.pushEvent({ apiKey: KEY_B }, ev)).toBe(0);
    await until(() => expect(b.messages).toHaveLength(2));
    await until(() => expect(a.messages).toHaveLength(2));
    expect(a.messages[0]).toMatchObject({
      e: "executionReport",
      E: clock.now(),
      i: 42,
      s: "BTCUSD",
      q: "0.01000000",
    });
    expect(a.messages[1]).toEqual({ e: "balanceUpdate", E: "7", a: "USD", d: "1.5" });
  });

  it("wraps events as {stream, data} on the combined stream", async () => {
    const { mock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/stream?streams=${listenKey}`);
    mock.control.pushEvent({ listenKey }, mock.control.build.outboundAccountPosition());
    await until(() => expect(p.messages).toHaveLength(1));
    expect(p.messages[0]).toMatchObject({
      stream: listenKey,
      data: {
        e: "outboundAccountPosition",
        B: [{ a: "USD", f: "1000.00000000", l: "0.00000000" }, { a: "BTC" }],
      },
    });
  });

  it("rejects the upgrade for an unknown key with HTTP 400 and the -1125 body", async () => {
    const { mock } = await start();
    const p = probe(`${mock.wsUrl}/ws/${"z".repeat(64)}`);
    const r = await p.upgradeRejected;
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ code: -1125, msg: "This listenKey does not exist." });
  });

  it("can instead accept and close, or accept and stay silent, for an unknown key", async () => {
    const closing = await start({ unknownKeyOnConnect: "close" });
    const p = probe(`${closing.mock.wsUrl}/ws/nope`);
    await until(() => expect(p.closed?.code).toBe(1008));
    await closing.mock.close();
    const silent = await start({ unknownKeyOnConnect: "silent" });
    const q = await open(`${silent.mock.wsUrl}/ws/nope`);
    expect(silent.mock.control.state().sockets).toHaveLength(1);
    expect(q.closed).toBeUndefined();
  });

  it("pings every 3 minutes and keeps a socket that answers", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`);
    await clock.advance(3 * MIN - 1);
    expect(p.pings).toBe(0);
    for (let i = 1; i <= 10; i++) {
      await clock.advance(i === 1 ? 1 : 3 * MIN);
      await until(() => expect(p.pings).toBe(i));
      await until(() => expect(mock.control.state().sockets[0]?.pongsReceived).toBe(i));
      if (i % 5 === 0)
        await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` });
    }
    expect(p.closed).toBeUndefined();
    expect(mock.control.state().sockets[0]).toMatchObject({ pingsSent: 10, pongsReceived: 10 });
  });

  it("disconnects a socket that sends no pong within 10 minutes of a ping", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`, { autoPong: false });
    await clock.advance(3 * MIN); // first ping
    await until(() => expect(p.pings).toBe(1));
    await clock.advance(10 * MIN - 1);
    expect(p.closed).toBeUndefined();
    expect(mock.control.state().sockets).toHaveLength(1);
    await clock.advance(1);
    await until(() => expect(p.closed?.code).toBe(1008));
    expect(mock.control.state().closedSockets[0]?.reason).toBe("pong timeout");
  });

  it("accepts unsolicited pongs, which also satisfy the pong deadline", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`, { autoPong: false });
    await clock.advance(3 * MIN);
    await until(() => expect(p.pings).toBe(1));
    p.ws.pong();
    await until(() => expect(mock.control.state().sockets[0]?.pongsReceived).toBe(1));
    await clock.advance(15 * MIN);
    expect(p.closed).toBeUndefined();
  });

  it("answers client pings with pongs, until told to stop", async () => {
    const { mock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`);
    p.ws.ping();
    await until(() => expect(p.pongs).toBe(1));
    mock.control.stopPongs();
    p.ws.ping();
    await until(() => expect(mock.control.state().sockets[0]?.pingsReceived).toBe(2));
    expect(p.pongs).toBe(1);
    mock.control.resume();
    p.ws.ping();
    await until(() => expect(p.pongs).toBe(2));
  });

  it("can simulate a silently dead socket: no pings, no pongs, no events, TCP still up", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`);
    expect(mock.control.silenceSockets({ listenKey })).toBe(1);
    p.ws.ping();
    expect(mock.control.pushEvent({ listenKey }, mock.control.build.balanceUpdate())).toBe(0);
    await until(() => expect(mock.control.state().sockets[0]?.pingsReceived).toBe(1));
    await clock.advance(20 * MIN);
    expect(p.pings).toBe(0);
    expect(p.pongs).toBe(0);
    expect(p.messages).toHaveLength(0);
    expect(p.closed).toBeUndefined();
  });

  it("stopPings stops server pings (and so the pong timeout) for every socket", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`, { autoPong: false });
    mock.control.stopPings();
    await clock.advance(30 * MIN);
    expect(p.pings).toBe(0);
    expect(p.closed).toBeUndefined();
  });

  it("cuts every connection at 24 hours even when the key is kept alive", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`);
    for (let i = 0; i < 47; i++) {
      await clock.advance(30 * MIN);
      await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` });
    }
    expect(p.closed).toBeUndefined();
    await clock.advance(30 * MIN);
    await until(() => expect(p.closed?.code).toBe(1000));
    expect(mock.control.state().closedSockets[0]?.reason).toBe("connection max age reached");
    // The key itself lives on; a new socket works.
    const q = await open(`${mock.wsUrl}/ws/${listenKey}`);
    expect(mock.control.pushEvent({ listenKey }, { e: "x" })).toBe(1);
    await until(() => expect(q.messages).toHaveLength(1));
  });

  it("sends listenKeyExpired (E as a string) when the key expires, then keeps the socket open and silent", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`);
    await clock.advance(60 * MIN);
    await until(() => expect(p.messages).toHaveLength(1));
    expect(p.messages).toEqual([{ e: "listenKeyExpired", E: String(clock.now()), listenKey }]);
    expect(mock.control.state().keys).toHaveLength(0);
    // As on the exchange: no close frame, no further events, the connection stays up.
    expect(p.closed).toBeUndefined();
    expect(mock.control.state().sockets).toHaveLength(1);
    expect(mock.control.pushEvent({ listenKey }, { e: "x" })).toBe(0);
    const fresh = await createKey(mock);
    expect(fresh).not.toBe(listenKey);
    expect(mock.control.pushEvent({ listenKey: fresh }, { e: "x" })).toBe(0);
    expect(p.closed).toBeUndefined();
  });

  it("closes after the event with onKeyExpiry event-close, and plainly with close", async () => {
    for (const [onKeyExpiry, events] of [
      ["event-close", 1],
      ["close", 0],
    ] as const) {
      const { mock, clock } = await start({ onKeyExpiry });
      const p = await open(`${mock.wsUrl}/ws/${await createKey(mock)}`);
      await clock.advance(60 * MIN);
      await until(() => expect(p.closed?.code).toBe(1000));
      expect(p.messages).toHaveLength(events);
    }
  });

  it("expireKey ends the key early: -1125 on PUT; sockets get the event, a close, or nothing", async () => {
    const { mock } = await start();
    let listenKey = await createKey(mock);
    const a = await open(`${mock.wsUrl}/ws/${listenKey}`);
    expect(mock.control.expireKey(listenKey)).toBe(true);
    expect(mock.control.expireKey(listenKey)).toBe(false);
    await until(() => expect(a.messages).toMatchObject([{ e: "listenKeyExpired", listenKey }]));
    expect(a.closed).toBeUndefined();
    const r = await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` });
    expect((r.body as { code: number }).code).toBe(-1125);

    listenKey = await createKey(mock);
    const b = await open(`${mock.wsUrl}/ws/${listenKey}`);
    mock.control.expireKey(listenKey, { sockets: "close" });
    await until(() => expect(b.closed?.code).toBe(1000));
    expect(b.messages).toHaveLength(0);

    listenKey = await createKey(mock);
    const d = await open(`${mock.wsUrl}/ws/${listenKey}`);
    mock.control.expireKey(listenKey, { sockets: "event-close" });
    await until(() => expect(d.closed?.code).toBe(1000));
    expect(d.messages).toMatchObject([{ e: "listenKeyExpired", listenKey }]);

    listenKey = await createKey(mock);
    const c = await open(`${mock.wsUrl}/ws/${listenKey}`);
    mock.control.expireKey(listenKey, { sockets: "keep" });
    const fresh = await createKey(mock);
    expect(mock.control.pushEvent({ listenKey: fresh }, { e: "x" })).toBe(0);
    expect(c.closed).toBeUndefined();
    expect(c.messages).toHaveLength(0);
  });

  it("sendListenKeyExpired sends the event, silences the key on the socket, and closes only when asked", async () => {
    const { mock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`);
    expect(mock.control.sendListenKeyExpired(listenKey)).toBe(1);
    await until(() => expect(p.messages).toHaveLength(1));
    expect(p.messages[0]).toMatchObject({ e: "listenKeyExpired", listenKey });
    expect(typeof (p.messages[0] as { E: unknown }).E).toBe("string");
    expect(p.closed).toBeUndefined();
    // "No more events will be sent after this until a new listenKey is created."
    expect(mock.control.pushEvent({ listenKey }, { e: "x" })).toBe(0);
    expect(await createKey(mock)).toBe(listenKey);
    const q = await open(`${mock.wsUrl}/ws/${listenKey}`);
    expect(mock.control.sendListenKeyExpired(listenKey, { close: true })).toBe(2);
    await until(() => expect(q.closed?.code).toBe(1000));
    mock.control.sendListenKeyExpired(listenKey, { invalidate: true });
    expect(mock.control.state().keys).toHaveLength(0);
  });

  it("DELETE closes every socket of the key", async () => {
    const { mock } = await start();
    const listenKey = await createKey(mock);
    const a = await open(`${mock.wsUrl}/ws/${listenKey}`);
    const b = await open(`${mock.wsUrl}/stream?streams=${listenKey}`);
    await rest(mock, "DELETE", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` });
    await until(() => expect([a.closed?.code, b.closed?.code]).toEqual([1000, 1000]));
    expect(mock.control.state().sockets).toHaveLength(0);
  });

  it("dropSockets destroys the TCP connection without a close frame (client sees 1006)", async () => {
    const { mock } = await start();
    const ka = await createKey(mock, KEY_A);
    const kb = await createKey(mock, KEY_B);
    const a = await open(`${mock.wsUrl}/ws/${ka}`);
    const b = await open(`${mock.wsUrl}/ws/${kb}`);
    expect(mock.control.dropSockets({ apiKey: KEY_A })).toBe(1);
    await until(() => expect(a.closed?.code).toBe(1006));
    expect(b.closed).toBeUndefined();
    expect(mock.control.dropSockets()).toBe(1);
    await until(() => expect(b.closed?.code).toBe(1006));
  });

  it("disconnects a client sending more than 5 messages per second", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`);
    for (let i = 0; i < 5; i++) p.ws.send("{}");
    await until(() => expect(mock.control.state().sockets[0]?.messagesReceived).toBe(5));
    await clock.advance(1000);
    for (let i = 0; i < 6; i++) p.ws.ping();
    await until(() => expect(p.closed?.code).toBe(1008));
    expect(mock.control.state().closedSockets[0]?.reason).toBe("too many messages");
  });

  it("close() leaves no timer and no socket behind", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`);
    await clock.advance(3 * MIN);
    expect(clock.pending()).toBeGreaterThan(0);
    await mock.close();
    expect(clock.pending()).toBe(0);
    await until(() => expect(p.closed).toBeDefined());
    await mock.close(); // idempotent
    await expect(fetch(`${mock.restUrl}/api/v3/ping`)).rejects.toThrow();
  });
});

describe("notifications", () => {
  it("announces requests, keys and sockets so tests can await them instead of polling", async () => {
    const { mock, clock } = await start();
    const seen: string[] = [];
    const offs = [
      mock.control.on("request", (r) => seen.push(`request ${r.method} ${r.status}`)),
      mock.control.on("keyCreated", () => seen.push("keyCreated")),
      mock.control.on("keyEnded", (k) => seen.push(`keyEnded ${k.reason}`)),
      mock.control.on("socketOpen", (s) => seen.push(`socketOpen ${s.id}`)),
      mock.control.on("socketClose", (s) => seen.push(`socketClose ${s.id} ${s.reason}`)),
    ];
    const listenKey = await createKey(mock);
    const opened = new Promise<number>((resolve) => {
      const off = mock.control.on("socketOpen", (s) => {
        off();
        resolve(s.id);
      });
    });
    const p = probe(`${mock.wsUrl}/ws/${listenKey}`);
    expect(await opened).toBe(1);
    await clock.advance(60 * MIN);
    await until(() => expect(p.messages).toHaveLength(1));
    mock.control.dropSockets();
    await until(() => expect(p.closed).toBeDefined());
    expect(seen).toEqual([
      "keyCreated",
      "request POST 200",
      "socketOpen 1",
      "keyEnded expired",
      "socketClose 1 dropped without close frame",
    ]);
    for (const off of offs) off();
    await createKey(mock);
    expect(seen).toHaveLength(5);
  });

  it("survives a throwing listener", async () => {
    const warnings: string[] = [];
    const { mock } = await start({
      logger: { info: () => {}, warn: (_f, m) => warnings.push(String(m)) },
    });
    mock.control.on("request", () => {
      throw new Error("boom");
    });
    expect((await rest(mock, "POST", UDS, { apiKey: KEY_A })).status).toBe(200);
    expect(warnings).toEqual(["mock listener threw"]);
  });
});
