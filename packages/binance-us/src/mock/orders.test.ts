import { describe, expect, it } from "vitest";
import { type ParsedUserDataEvent, parseUserDataPayload } from "../events.js";
import type { BinanceUsMock } from "./server.js";
import {
  createKey,
  KEY_A,
  type Probe,
  rest,
  SECRET,
  sign,
  until,
  useMockLifecycle,
} from "./test-utils/harness.js";

// Test-only view of wire JSON: any nested field may be read without a cast.
// biome-ignore lint/suspicious/noExplicitAny: wire frames are checked by the assertions
type Json = Record<string, any>;

const { start, open } = useMockLifecycle();
const opts = { apiKeys: { [KEY_A]: { secret: SECRET } } };

interface Rig {
  mock: BinanceUsMock;
  now: () => number;
  order(method: "POST" | "DELETE", params: string): Promise<{ status: number; body: Json }>;
  get(path: string, params?: string): Promise<{ status: number; body: Json }>;
  stream(): Promise<Probe>;
}

async function rig(): Promise<Rig> {
  const { mock, clock } = await start(opts);
  mock.control.setAccount(
    { apiKey: KEY_A },
    {
      balances: [
        { asset: "USD", free: "100000.00000000", locked: "0.00000000" },
        { asset: "BTC", free: "1.00000000", locked: "0.00000000" },
      ],
    },
  );
  const signed = (params: string) => sign(`${params}${params ? "&" : ""}timestamp=${clock.now()}`);
  return {
    mock,
    now: () => clock.now(),
    order: (method, params) =>
      rest(mock, method, "/api/v3/order", { apiKey: KEY_A, form: signed(params) }) as never,
    get: (path, params = "") =>
      rest(mock, "GET", path, { apiKey: KEY_A, query: signed(params) }) as never,
    stream: async () => open(`${mock.wsUrl}/ws/${await createKey(mock)}`),
  };
}

/** The frames a probe got, parsed by the connector's own zod events. */
function parsed(p: Probe): ParsedUserDataEvent[] {
  return p.messages.map((m) => parseUserDataPayload(m)!);
}

function sequence(p: Probe): string[] {
  return parsed(p).map((e) => (e.kind === "executionReport" ? `${e.data.x}/${e.data.X}` : e.kind));
}

describe("exchangeInfo", () => {
  it("lists symbols with filters and rate limits, weight 10, -1121 for an unknown symbol", async () => {
    const { mock } = await start();
    const r = await rest(mock, "GET", "/api/v3/exchangeInfo");
    expect(r.status).toBe(200);
    expect(r.headers.get("x-mbx-used-weight-1m")).toBe("10");
    const info = r.body as {
      rateLimits: unknown[];
      symbols: { symbol: string; filters: { filterType: string }[] }[];
    };
    expect(info.rateLimits).toContainEqual({
      rateLimitType: "REQUEST_WEIGHT",
      interval: "MINUTE",
      intervalNum: 1,
      limit: 1200,
    });
    expect(info.symbols.map((s) => s.symbol)).toEqual(["BTCUSD", "ETHUSD"]);
    expect(info.symbols[0]!.filters.map((f) => f.filterType)).toEqual([
      "PRICE_FILTER",
      "LOT_SIZE",
      "NOTIONAL",
    ]);
    const one = await rest(mock, "GET", "/api/v3/exchangeInfo", { query: "symbol=ETHUSD" });
    expect((one.body as typeof info).symbols).toHaveLength(1);
    expect(
      (await rest(mock, "GET", "/api/v3/exchangeInfo", { query: "symbol=DOGEUSD" })).body,
    ).toEqual({
      code: -1121,
      msg: "Invalid symbol.",
    });
  });
});

describe("orders produce the documented event sequence on every stream of the account", () => {
  it("a resting limit order: NEW with W, then outboundAccountPosition with the locked quote", async () => {
    const r = await rig();
    const a = await r.stream();
    const b = await open(`${r.mock.wsUrl}/stream?streams=${await createKey(r.mock)}`);
    const placed = await r.order(
      "POST",
      "symbol=BTCUSD&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=41000&newClientOrderId=bot1",
    );
    expect(placed.status).toBe(200);
    expect(placed.body).toMatchObject({
      status: "NEW",
      clientOrderId: "bot1",
      executedQty: "0.00000000",
      fills: [],
    });
    await until(() => expect(a.messages).toHaveLength(2));
    await until(() => expect(b.messages).toHaveLength(2));
    expect(sequence(a)).toEqual(["NEW/NEW", "outboundAccountPosition"]);
    const [report, position] = parsed(a);
    expect(report).toMatchObject({
      kind: "executionReport",
      data: { c: "bot1", w: true, W: r.now(), q: "0.10000000", p: "41000.00000000" },
    });
    expect(position).toMatchObject({
      kind: "outboundAccountPosition",
      data: { B: [{ a: "USD", f: "95900.00000000", l: "4100.00000000" }] },
    });
    // The combined stream got the same events, wrapped.
    expect((b.messages[0] as { data: { e: string } }).data.e).toBe("executionReport");
    const open1 = await r.get("/api/v3/openOrders", "symbol=BTCUSD");
    expect(open1.body).toMatchObject([{ clientOrderId: "bot1", status: "NEW", isWorking: true }]);
    const account = await r.get("/api/v3/account");
    expect(account.body.balances).toContainEqual({
      asset: "USD",
      free: "95900.00000000",
      locked: "4100.00000000",
    });
  });

  it("a market order across two levels: NEW, TRADE (partial), TRADE (filled), then balances", async () => {
    const r = await rig();
    const p = await r.stream();
    const placed = await r.order("POST", "symbol=BTCUSD&side=BUY&type=MARKET&quantity=0.6");
    expect(placed.body).toMatchObject({
      status: "FILLED",
      executedQty: "0.60000000",
      cummulativeQuoteQty: "25207.00000000",
      fills: [
        {
          price: "42010.00000000",
          qty: "0.50000000",
          commission: "0.00050000",
          commissionAsset: "BTC",
        },
        {
          price: "42020.00000000",
          qty: "0.10000000",
          commission: "0.00010000",
          commissionAsset: "BTC",
        },
      ],
    });
    await until(() => expect(p.messages).toHaveLength(4));
    expect(sequence(p)).toEqual([
      "NEW/NEW",
      "TRADE/PARTIALLY_FILLED",
      "TRADE/FILLED",
      "outboundAccountPosition",
    ]);
    const events = parsed(p);
    for (const e of events.slice(0, 3)) {
      // A market order is never on the book: no working time.
      expect(e.kind === "executionReport" && e.data.W).toBeUndefined();
    }
    expect(events[1]).toMatchObject({
      data: { l: "0.50000000", L: "42010.00000000", z: "0.50000000", m: false, N: "BTC" },
    });
    expect(events[3]).toMatchObject({
      data: {
        B: expect.arrayContaining([
          { a: "BTC", f: "1.59940000", l: "0.00000000" },
          { a: "USD", f: "74793.00000000", l: "0.00000000" },
        ]),
      },
    });
    // The scripted liquidity was consumed.
    expect(r.mock.control.book("BTCUSD")?.asks).toEqual([["42020.00000000", "0.90000000"]]);
  });

  it("IOC expires the rest after a partial fill; FOK expires without trading", async () => {
    const r = await rig();
    const p = await r.stream();
    const ioc = await r.order(
      "POST",
      "symbol=BTCUSD&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.7&price=42010",
    );
    expect(ioc.body).toMatchObject({ status: "EXPIRED", executedQty: "0.50000000" });
    const fok = await r.order(
      "POST",
      "symbol=BTCUSD&side=SELL&type=LIMIT&timeInForce=FOK&quantity=1.2&price=41985",
    );
    expect(fok.body).toMatchObject({ status: "EXPIRED", executedQty: "0.00000000", fills: [] });
    await until(() => expect(p.messages).toHaveLength(7));
    expect(sequence(p)).toEqual([
      "NEW/NEW",
      "TRADE/PARTIALLY_FILLED",
      "EXPIRED/EXPIRED",
      "outboundAccountPosition",
      "NEW/NEW",
      "EXPIRED/EXPIRED",
      "outboundAccountPosition",
    ]);
    // Nothing left locked once the orders ended.
    const balances = (await r.get("/api/v3/account")).body.balances as { locked: string }[];
    expect(balances.every((b) => b.locked === "0.00000000")).toBe(true);
  });

  it("cancel: CANCELED with C = the order's client id, funds unlocked; unknown order -2011", async () => {
    const r = await rig();
    const p = await r.stream();
    const placed = await r.order(
      "POST",
      "symbol=BTCUSD&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.25&price=43000&newClientOrderId=s1",
    );
    const orderId = placed.body.orderId as number;
    const canceled = await r.order(
      "DELETE",
      `symbol=BTCUSD&orderId=${orderId}&newClientOrderId=c1`,
    );
    expect(canceled.body).toMatchObject({
      status: "CANCELED",
      origClientOrderId: "s1",
      clientOrderId: "c1",
    });
    await until(() => expect(p.messages).toHaveLength(4));
    expect(sequence(p)).toEqual([
      "NEW/NEW",
      "outboundAccountPosition",
      "CANCELED/CANCELED",
      "outboundAccountPosition",
    ]);
    expect(parsed(p)[2]).toMatchObject({ data: { c: "c1", C: "s1", w: false } });
    expect(parsed(p)[3]).toMatchObject({
      data: { B: [{ a: "BTC", f: "1.00000000", l: "0.00000000" }] },
    });
    expect((await r.get("/api/v3/openOrders")).body).toEqual([]);
    expect((await r.order("DELETE", `symbol=BTCUSD&orderId=${orderId}`)).body).toEqual({
      code: -2011,
      msg: "Unknown order sent.",
    });
    expect((await r.order("DELETE", "symbol=BTCUSD")).body).toMatchObject({ code: -1102 });
  });

  it("a resting order fills as maker when a scripted book crosses it", async () => {
    const r = await rig();
    const p = await r.stream();
    await r.order(
      "POST",
      "symbol=BTCUSD&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.2&price=41500",
    );
    r.mock.control.setBook("BTCUSD", {
      asks: [
        ["41400", "0.05"],
        ["41450", "1"],
      ],
      bids: [["41000", "1"]],
    });
    await until(() => expect(p.messages).toHaveLength(5));
    expect(sequence(p)).toEqual([
      "NEW/NEW",
      "outboundAccountPosition",
      "TRADE/PARTIALLY_FILLED",
      "TRADE/FILLED",
      "outboundAccountPosition",
    ]);
    expect(parsed(p)[2]).toMatchObject({
      data: { m: true, L: "41500.00000000", w: true, W: expect.any(Number) },
    });
    expect(parsed(p)[3]).toMatchObject({ data: { m: true, w: false } });
    expect((parsed(p)[3] as { data: Record<string, unknown> }).data.W).toBeUndefined();
  });

  it("rejects what the exchange rejects, with its codes", async () => {
    const r = await rig();
    const cases: [string, number][] = [
      ["symbol=DOGEUSD&side=BUY&type=MARKET&quantity=1", -1121],
      ["symbol=BTCUSD&side=HOLD&type=MARKET&quantity=1", -1117],
      ["symbol=BTCUSD&side=BUY&type=STOP&quantity=1", -1116],
      ["symbol=BTCUSD&side=BUY&type=LIMIT&quantity=1&price=1", -1102],
      ["symbol=BTCUSD&side=BUY&type=LIMIT&timeInForce=GTD&quantity=1&price=1", -1115],
      ["symbol=BTCUSD&side=BUY&type=MARKET&timeInForce=GTC&quantity=1", -1106],
      ["symbol=BTCUSD&side=BUY&type=MARKET&quantity=0.000001", -1111],
      ["symbol=BTCUSD&side=BUY&type=LIMIT&timeInForce=GTC&quantity=10&price=41000", -2010],
      ["symbol=BTCUSD&side=BUY&type=LIMIT_MAKER&quantity=0.1&price=42050", -2010],
    ];
    for (const [params, code] of cases) {
      const res = await r.order("POST", params);
      expect([params, res.status, res.body.code]).toEqual([params, 400, code]);
    }
    await r.order(
      "POST",
      "symbol=BTCUSD&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=40000&newClientOrderId=dup",
    );
    expect(
      (
        await r.order(
          "POST",
          "symbol=BTCUSD&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=40000&newClientOrderId=dup",
        )
      ).body,
    ).toEqual({
      code: -2010,
      msg: "Duplicate order sent.",
    });
  });

  it("checks the signature and the time window on orders", async () => {
    const r = await rig();
    const unsigned = await rest(r.mock, "POST", "/api/v3/order", {
      apiKey: KEY_A,
      form: `symbol=BTCUSD&side=BUY&type=MARKET&quantity=0.01&timestamp=${r.now()}`,
    });
    expect(unsigned.body).toMatchObject({ code: -1022 });
    const stale = await rest(r.mock, "POST", "/api/v3/order", {
      apiKey: KEY_A,
      form: sign(`symbol=BTCUSD&side=BUY&type=MARKET&quantity=0.01&timestamp=${r.now() - 6000}`),
    });
    expect(stale.body).toMatchObject({ code: -1021 });
    const other = await rest(r.mock, "POST", "/api/v3/order", {
      apiKey: KEY_A,
      form: sign(
        `symbol=BTCUSD&side=BUY&type=MARKET&quantity=0.01&timestamp=${r.now()}`,
        "wrong-secret",
      ),
    });
    expect(other.body).toMatchObject({ code: -1022 });
  });
});
