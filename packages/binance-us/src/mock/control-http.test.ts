import { describe, expect, it } from "vitest";
import { createRealClock } from "./clock.js";
import { type BinanceUsMock, startBinanceUsMock } from "./server.js";
import { createKey, KEY_A, rest, until, useMockLifecycle } from "./test-utils/harness.js";

const { start, probe } = useMockLifecycle();

async function call(mock: BinanceUsMock, method: string, path: string, body?: unknown) {
  const res = await fetch(`${mock.restUrl}${path}`, {
    method,
    headers: { "Content-Type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("HTTP control API", () => {
  it("lists its routes", async () => {
    const { mock } = await start();
    const r = await call(mock, "GET", "/__mock");
    expect(r.status).toBe(200);
    expect((r.body.routes as string[]).length).toBeGreaterThan(10);
  });

  it("revokes an API key (-2015 on every call, sockets stay up) and restores it", async () => {
    const { mock } = await start();
    const listenKey = await createKey(mock);
    const p = probe(`${mock.wsUrl}/ws/${listenKey}`);
    await p.opened;
    expect((await call(mock, "POST", "/__mock/api-keys/revoke", { apiKey: KEY_A })).status).toBe(
      200,
    );
    const refused = await rest(mock, "POST", "/api/v3/userDataStream", { apiKey: KEY_A });
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({
      code: -2015,
      msg: "Invalid API-key, IP, or permissions for action.",
    });
    const put = await rest(mock, "PUT", "/api/v3/userDataStream", {
      apiKey: KEY_A,
      form: `listenKey=${listenKey}`,
    });
    expect(put.status).toBe(401);
    expect(p.ws.readyState).toBe(p.ws.OPEN);
    const bad = await call(mock, "POST", "/__mock/api-keys/revoke", {});
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/apiKey/);
    await call(mock, "POST", "/__mock/api-keys/restore", { apiKey: KEY_A });
    expect(await createKey(mock)).toBe(listenKey);
  });

  it("pushes built and literal events, and reports state without secrets", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    const p = probe(`${mock.wsUrl}/ws/${listenKey}`);
    await p.opened;
    const built = await call(mock, "POST", "/__mock/events", {
      target: { apiKey: KEY_A },
      type: "executionReportFill",
      fields: { s: "ETHUSD" },
    });
    expect(built.body.delivered).toBe(1);
    await call(mock, "POST", "/__mock/events", {
      target: { listenKey },
      event: { e: "custom", v: "1" },
    });
    await until(() => expect(p.messages).toHaveLength(2));
    expect(p.messages[0]).toMatchObject({
      e: "executionReport",
      s: "ETHUSD",
      x: "TRADE",
      X: "FILLED",
      E: clock.now(),
    });
    expect(p.messages[1]).toEqual({ e: "custom", v: "1", E: clock.now() });
    const state = await call(mock, "GET", "/__mock/state");
    expect(state.body.keys).toMatchObject([{ listenKey, sockets: 1 }]);
    expect(JSON.stringify(state.body)).not.toContain(KEY_A);
    const counters = await call(mock, "GET", "/__mock/requests");
    expect(counters.body).toMatchObject({
      total: 1,
      byRoute: { "POST /api/v3/userDataStream": 1 },
    });
  });

  it("injects and clears errors, expires keys, sends listenKeyExpired, drops and silences sockets", async () => {
    const { mock } = await start();
    expect(
      (await call(mock, "POST", "/__mock/errors", { status: 429, retryAfterSec: 3 })).status,
    ).toBe(200);
    const limited = await rest(mock, "POST", "/api/v3/userDataStream", { apiKey: KEY_A });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("3");
    await call(mock, "POST", "/__mock/errors", { status: 503 });
    await call(mock, "DELETE", "/__mock/errors");
    const listenKey = await createKey(mock);

    const a = probe(`${mock.wsUrl}/ws/${listenKey}`);
    await a.opened;
    expect((await call(mock, "POST", "/__mock/silence", {})).body).toEqual({ silenced: 1 });
    await call(mock, "POST", "/__mock/resume");
    expect((await call(mock, "POST", "/__mock/drop", { filter: { listenKey } })).body).toEqual({
      dropped: 1,
    });
    await until(() => expect(a.closed?.code).toBe(1006));

    const b = probe(`${mock.wsUrl}/ws/${listenKey}`);
    await b.opened;
    expect((await call(mock, "POST", "/__mock/listen-key-expired", { listenKey })).body).toEqual({
      sockets: 1,
    });
    await until(() => expect(b.messages).toMatchObject([{ e: "listenKeyExpired", listenKey }]));

    expect(
      (await call(mock, "POST", "/__mock/expire", { listenKey, sockets: "close" })).body,
    ).toEqual({
      expired: true,
    });
    expect(mock.control.state().keys).toHaveLength(0);
    expect((await call(mock, "POST", "/__mock/pings/stop")).status).toBe(200);
    expect((await call(mock, "POST", "/__mock/pongs/stop")).status).toBe(200);
    expect(mock.control.state().switches).toEqual({ pings: false, pongs: false });
  });

  it("sets account snapshots and open orders", async () => {
    const { mock } = await start({ apiKeys: { [KEY_A]: { secret: "s", account: "acme" } } });
    const r = await call(mock, "PUT", "/__mock/account", {
      target: { account: "acme" },
      snapshot: { balances: [{ asset: "USD", free: "5.00", locked: "0.00" }], updateTime: 99 },
    });
    expect(r.status).toBe(200);
    await call(mock, "PUT", "/__mock/open-orders", {
      target: { apiKey: KEY_A },
      orders: [{ orderId: 7 }],
    });
    expect(mock.control.state().accounts).toEqual(["acme"]);
  });

  it("advances a fake clock, and refuses to on real time", async () => {
    const { mock, clock } = await start();
    const before = clock.now();
    expect((await call(mock, "POST", "/__mock/clock/advance", { ms: 5000 })).body).toEqual({
      now: before + 5000,
    });
    const real = await startBinanceUsMock({ clock: createRealClock() });
    try {
      const r = await call(real, "POST", "/__mock/clock/advance", { ms: 1 });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: { code: "MOCK_NOT_A_FAKE_CLOCK" } });
    } finally {
      await real.close();
    }
  });

  it("answers 400 naming the field to fix, and 404 for unknown routes", async () => {
    const { mock } = await start();
    const bad = await call(mock, "POST", "/__mock/errors", { status: "soon" });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: "MOCK_INVALID_CONTROL_INPUT" } });
    expect(JSON.stringify(bad.body)).toContain("status");
    const balance = await call(mock, "PUT", "/__mock/account", {
      target: { account: "x" },
      snapshot: { balances: [{ asset: "USD", free: 5, locked: "0" }] },
    });
    expect(JSON.stringify(balance.body)).toContain(
      "snapshot.balances.0.free: must be a decimal string",
    );
    const notJson = await fetch(`${mock.restUrl}/__mock/events`, { method: "POST", body: "{" });
    expect(notJson.status).toBe(400);
    expect((await call(mock, "GET", "/__mock/nothing")).status).toBe(404);
  });
});

describe("startBinanceUsMock options", () => {
  it("runs on real time by default", async () => {
    const mock = await startBinanceUsMock();
    try {
      expect(Math.abs(mock.clock.now() - Date.now())).toBeLessThan(1000);
      expect(mock.restUrl).toBe(`http://127.0.0.1:${mock.port}`);
      expect(mock.wsUrl).toBe(`ws://127.0.0.1:${mock.port}`);
      await createKey(mock);
      const key = mock.control.state().keys[0]!;
      expect(Math.abs(key.expiresAt - (Date.now() + 3_600_000))).toBeLessThan(1000);
    } finally {
      await mock.close();
    }
  });

  it("rejects bad options with the option name and the fix", async () => {
    await expect(startBinanceUsMock({ port: -1 })).rejects.toMatchObject({
      code: "MOCK_INVALID_OPTIONS",
      message: expect.stringContaining("port"),
    });
    await expect(
      // @ts-expect-error the clock must be an object with now/setTimeout/clearTimeout
      startBinanceUsMock({ clock: Date.now }),
    ).rejects.toThrow(/clock: must be a clock with now\(\)/);
  });

  it("honours custom intervals", async () => {
    const { mock, clock } = await start({ pingIntervalMs: 1000, keyValidityMs: 5000 });
    const listenKey = await createKey(mock);
    const p = probe(`${mock.wsUrl}/ws/${listenKey}`);
    await p.opened;
    await clock.advance(1000);
    await until(() => expect(p.pings).toBe(1));
    await clock.advance(4000);
    await until(() => expect(p.messages).toMatchObject([{ e: "listenKeyExpired" }]));
    expect(mock.control.state().keys).toHaveLength(0);
  });
});

describe("HTTP control API for the new levers", () => {
  it("scripts the book, sends listenKeyExpired with close, and queues non-JSON and hanging faults", async () => {
    const { mock } = await start();
    const book = await call(mock, "PUT", "/__mock/book", {
      symbol: "ETHUSD",
      bids: [["2100", "1"]],
      asks: [["2105.5", "2"]],
    });
    expect(book.body).toEqual({
      book: { bids: [["2100.00000000", "1.00000000"]], asks: [["2105.50000000", "2.00000000"]] },
    });
    expect((await call(mock, "GET", "/__mock/book?symbol=ETHUSD")).body).toMatchObject({
      symbol: "ETHUSD",
      asks: [["2105.50000000", "2.00000000"]],
    });
    const unknown = await call(mock, "PUT", "/__mock/book", { symbol: "DOGEUSD", bids: [] });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body)).toContain("exchangeInfo");

    const listenKey = await createKey(mock);
    const p = probe(`${mock.wsUrl}/ws/${listenKey}`);
    await p.opened;
    const sent = await call(mock, "POST", "/__mock/listen-key-expired", { listenKey, close: true });
    expect(sent.body).toEqual({ sockets: 1 });
    await until(() => expect(p.closed?.code).toBe(1000));

    const html = await call(mock, "POST", "/__mock/errors", { status: 403, body: "html" });
    expect(html.status).toBe(200);
    const bad = await call(mock, "POST", "/__mock/errors", { hang: "yes" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("hang");
  });
});
