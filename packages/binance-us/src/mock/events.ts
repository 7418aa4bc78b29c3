/**
 * Builders for realistic user-data events. Field letters follow the exchange exactly (they
 * are case-sensitive: `c`/`C`, `x`/`X`, `z`/`Z` differ) and amounts are decimal strings,
 * so a parser tested against these sees what production sends. `E` is left out unless
 * given, so {@link MockControl.pushEvent} stamps it from the mock's clock.
 */

/** A JSON object sent on the stream. */
export type MockEvent = Record<string, unknown>;

/** Timestamp used for `T`/`O`/`W`/`u` when no clock is given: 2026-01-01T00:00:00Z. */
const DEFAULT_TIME = Date.UTC(2026, 0, 1);

let orderSeq = 100_000;
let tradeSeq = 5_000;

/**
 * A `NEW` limit buy `executionReport`; override any field (e.g. `{ x: "TRADE", X: "FILLED" }`).
 * Conditional fields follow the exchange's docs: `W` (working time) is present only while
 * the order is on the book (`w: true`); `d`/`D` (trailing stops) and `v`/`A`/`B`/`u`/`U`
 * (self-trade prevention) only when given — see {@link executionReportTrailing} and
 * {@link executionReportPrevented}. Pass `W` explicitly to force it.
 *
 * @example
 * mock.control.pushEvent({ apiKey }, executionReport({ s: "ETHUSD", S: "SELL" }));
 */
export function executionReport(overrides: MockEvent = {}, nowMs = DEFAULT_TIME): MockEvent {
  const orderId = overrides.i ?? orderSeq++;
  const t = typeof overrides.T === "number" ? overrides.T : nowMs;
  const out: MockEvent = {
    e: "executionReport",
    s: "BTCUSD",
    c: `mock_${String(orderId)}`,
    S: "BUY",
    o: "LIMIT",
    f: "GTC",
    q: "0.01000000",
    p: "42000.00000000",
    P: "0.00000000",
    F: "0.00000000",
    g: -1,
    C: "",
    x: "NEW",
    X: "NEW",
    r: "NONE",
    i: orderId,
    l: "0.00000000",
    z: "0.00000000",
    L: "0.00000000",
    n: "0",
    N: null,
    T: t,
    t: -1,
    I: 8_641_984,
    w: true,
    m: false,
    M: false,
    O: t,
    Z: "0.00000000",
    Y: "0.00000000",
    Q: "0.00000000",
    W: t,
    V: "NONE",
    ...overrides,
  };
  if (out.w !== true && !("W" in overrides)) delete out.W;
  return out;
}

/**
 * A fill (`x: "TRADE"`, `X: "FILLED"`) for a whole order, with trade id, commission and the
 * quote amounts consistent with `q` and `p`. The order left the book, so no `W`.
 */
export function executionReportFill(overrides: MockEvent = {}, nowMs = DEFAULT_TIME): MockEvent {
  const q = String(overrides.q ?? "0.01000000");
  const p = String(overrides.p ?? "42000.00000000");
  const quote = (Number(q) * Number(p)).toFixed(8);
  return executionReport(
    {
      x: "TRADE",
      X: "FILLED",
      l: q,
      z: q,
      L: p,
      n: (Number(quote) * 0.001).toFixed(8),
      N: "USD",
      t: tradeSeq++,
      w: false,
      m: false,
      Z: quote,
      Y: quote,
      ...overrides,
    },
    nowMs,
  );
}

/** A partial fill: half of `q` traded, the rest still on the book (so `W` is present). */
export function executionReportPartialFill(
  overrides: MockEvent = {},
  nowMs = DEFAULT_TIME,
): MockEvent {
  const q = String(overrides.q ?? "0.01000000");
  const half = (Number(q) / 2).toFixed(8);
  return executionReportFill(
    { X: "PARTIALLY_FILLED", l: half, z: half, w: true, q, ...overrides },
    nowMs,
  );
}

/** The user canceled the order: `C` names the canceled order's client id, `c` the cancel's. */
export function executionReportCanceled(
  overrides: MockEvent = {},
  nowMs = DEFAULT_TIME,
): MockEvent {
  const i = overrides.i ?? orderSeq++;
  return executionReport(
    {
      x: "CANCELED",
      X: "CANCELED",
      w: false,
      i,
      C: `mock_${String(i)}`,
      c: `cancel_${String(i)}`,
      ...overrides,
    },
    nowMs,
  );
}

/** The exchange expired the order (IOC/FOK remainder, market order without liquidity). */
export function executionReportExpired(overrides: MockEvent = {}, nowMs = DEFAULT_TIME): MockEvent {
  return executionReport({ x: "EXPIRED", X: "EXPIRED", w: false, f: "IOC", ...overrides }, nowMs);
}

/** A trailing-stop order: adds `d` (trailing delta) and `D` (trailing time). */
export function executionReportTrailing(
  overrides: MockEvent = {},
  nowMs = DEFAULT_TIME,
): MockEvent {
  return executionReport(
    { o: "STOP_LOSS_LIMIT", P: "41000.00000000", d: 100, D: nowMs, ...overrides },
    nowMs,
  );
}

/**
 * An order expired by self-trade prevention: `x: "TRADE_PREVENTION"` with `v` (prevented
 * match id), `A`/`B` (prevented quantities), `u` (trade group id) and `U` (counter order id).
 */
export function executionReportPrevented(
  overrides: MockEvent = {},
  nowMs = DEFAULT_TIME,
): MockEvent {
  return executionReport(
    {
      x: "TRADE_PREVENTION",
      X: "EXPIRED",
      w: false,
      V: "EXPIRE_TAKER",
      v: 3,
      A: "0.01000000",
      B: "0.01000000",
      u: 1,
      U: 37,
      ...overrides,
    },
    nowMs,
  );
}

/** An `outboundAccountPosition` with the given balances (default: one USD and one BTC line). */
export function outboundAccountPosition(
  overrides: MockEvent = {},
  nowMs = DEFAULT_TIME,
): MockEvent {
  return {
    e: "outboundAccountPosition",
    u: nowMs,
    B: [
      { a: "USD", f: "1000.00000000", l: "0.00000000" },
      { a: "BTC", f: "0.01000000", l: "0.00000000" },
    ],
    ...overrides,
  };
}

/** A `balanceUpdate` (deposit/withdrawal delta `d`, a signed decimal string). */
export function balanceUpdate(overrides: MockEvent = {}, nowMs = DEFAULT_TIME): MockEvent {
  return {
    e: "balanceUpdate",
    a: "USD",
    d: "100.00000000",
    T: nowMs,
    ...overrides,
  };
}

/** An OCO `listStatus` with two legs. */
export function listStatus(overrides: MockEvent = {}, nowMs = DEFAULT_TIME): MockEvent {
  const base = orderSeq;
  orderSeq += 2;
  return {
    e: "listStatus",
    s: "BTCUSD",
    g: 2,
    c: "OCO",
    l: "EXEC_STARTED",
    L: "EXECUTING",
    r: "NONE",
    C: `mock_list_${base}`,
    T: nowMs,
    O: [
      { s: "BTCUSD", i: base, c: `mock_leg_${base}` },
      { s: "BTCUSD", i: base + 1, c: `mock_leg_${base + 1}` },
    ],
    ...overrides,
  };
}

/**
 * The `listenKeyExpired` event as Binance global documents it: note `E` is a *string* of
 * milliseconds, which is exactly what trips parsers expecting a number.
 */
export function listenKeyExpired(listenKey: string, nowMs: number): MockEvent {
  return { e: "listenKeyExpired", E: String(nowMs), listenKey };
}

/**
 * Builders whose timestamps (`T`, `O`, `W`, `u`) come from a clock, as on
 * `mock.control.build`. `E` is still left to `pushEvent`.
 */
export interface MockEventBuilders {
  executionReport(overrides?: MockEvent): MockEvent;
  executionReportFill(overrides?: MockEvent): MockEvent;
  executionReportPartialFill(overrides?: MockEvent): MockEvent;
  executionReportCanceled(overrides?: MockEvent): MockEvent;
  executionReportExpired(overrides?: MockEvent): MockEvent;
  executionReportTrailing(overrides?: MockEvent): MockEvent;
  executionReportPrevented(overrides?: MockEvent): MockEvent;
  outboundAccountPosition(overrides?: MockEvent): MockEvent;
  balanceUpdate(overrides?: MockEvent): MockEvent;
  listStatus(overrides?: MockEvent): MockEvent;
  listenKeyExpired(listenKey: string): MockEvent;
}

/** Binds the builders to a clock so event times follow the (possibly fake) mock time. */
export function createEventBuilders(now: () => number): MockEventBuilders {
  return {
    executionReport: (o) => executionReport(o, now()),
    executionReportFill: (o) => executionReportFill(o, now()),
    executionReportPartialFill: (o) => executionReportPartialFill(o, now()),
    executionReportCanceled: (o) => executionReportCanceled(o, now()),
    executionReportExpired: (o) => executionReportExpired(o, now()),
    executionReportTrailing: (o) => executionReportTrailing(o, now()),
    executionReportPrevented: (o) => executionReportPrevented(o, now()),
    outboundAccountPosition: (o) => outboundAccountPosition(o, now()),
    balanceUpdate: (o) => balanceUpdate(o, now()),
    listStatus: (o) => listStatus(o, now()),
    listenKeyExpired: (k) => listenKeyExpired(k, now()),
  };
}

/**
 * All builders in one object, unbound: times default to 2026-01-01T00:00:00Z unless a
 * second `nowMs` argument is given.
 */
export const mockEvents = {
  executionReport,
  executionReportFill,
  executionReportPartialFill,
  executionReportCanceled,
  executionReportExpired,
  executionReportTrailing,
  executionReportPrevented,
  outboundAccountPosition,
  balanceUpdate,
  listStatus,
  listenKeyExpired,
} as const;
