import type { AccountRecord, Accounts } from "./accounts.js";
import { fromUnits, minUnits, mulUnits, toUnits } from "./decimal.js";
import { BINANCE_US_WIRE_ERRORS as E, mandatoryParamError, type WireError } from "./errors.js";
import { executionReport, type MockEvent } from "./events.js";
import { type Book, defaultBooks, normalizeBook } from "./market.js";
import { type PlaceOrder, parsePlaceOrder, symbolOf } from "./order-params.js";
import { type Fill, type OrderRec, orderView, placeResponse } from "./order-views.js";
import type { MockRuntime } from "./runtime.js";

/** Result of an engine call: the REST answer and the events for the account's streams. */
export type EngineResult = { ok: true; body: unknown } | { ok: false; error: WireError };

/**
 * A small matching engine: orders of the mock's accounts trade against a scripted book
 * (liquidity from "the rest of the market", set with `setBook`), never against each
 * other. Limit orders that do not fill rest on the book and fill when a later book
 * crosses them (as maker). Every change is reported the way the exchange does:
 * `executionReport` events (NEW, TRADE, CANCELED, EXPIRED) followed by one
 * `outboundAccountPosition` with the balances that changed.
 */
export class OrderEngine {
  private readonly rt: MockRuntime;
  private readonly accounts: Accounts;
  private readonly publish: (account: string, event: MockEvent) => void;
  private readonly books = defaultBooks();
  private readonly orders = new Map<number, OrderRec>();
  private nextOrderId = 1_000_000;
  private nextTradeId = 500_000;

  /** `publish` delivers one event to every open user stream of the account. */
  constructor(
    rt: MockRuntime,
    accounts: Accounts,
    publish: (account: string, event: MockEvent) => void,
  ) {
    this.rt = rt;
    this.accounts = accounts;
    this.publish = publish;
  }

  /** Replaces a symbol's scripted book, then lets resting orders that now cross it fill. */
  setBook(symbol: string, book: { bids: [string, string][]; asks: [string, string][] }): void {
    const level = ([p, q]: [string, string]) => ({
      price: toUnits(p) ?? 0n,
      qty: toUnits(q) ?? 0n,
    });
    this.books.set(
      symbol,
      normalizeBook({ bids: book.bids.map(level), asks: book.asks.map(level) }),
    );
    const resting = [...this.orders.values()].filter(
      (o) => o.spec.symbol === symbol && (o.status === "NEW" || o.status === "PARTIALLY_FILLED"),
    );
    for (const o of resting) {
      const events: MockEvent[] = [];
      const changed = new Set<string>();
      this.match(o, true, events, changed);
      this.flush(o.account, events, changed);
    }
  }

  /** The scripted book of a symbol as decimal strings. */
  book(symbol: string): { bids: [string, string][]; asks: [string, string][] } | undefined {
    const b = this.books.get(symbol);
    if (!b) return undefined;
    const side = (ls: Book["bids"]) =>
      ls.map((l) => [fromUnits(l.price), fromUnits(l.qty)] as [string, string]);
    return { bids: side(b.bids), asks: side(b.asks) };
  }

  /** `POST /api/v3/order`. */
  place(account: string, params: URLSearchParams): EngineResult {
    const p = parsePlaceOrder(params);
    if ("status" in p) return { ok: false, error: p };
    const acc = this.accounts.get(account);
    if (
      p.clientOrderId !== undefined &&
      this.findOpen(account, p.spec.symbol, undefined, p.clientOrderId)
    ) {
      return { ok: false, error: E.DUPLICATE_ORDER };
    }
    const book = this.books.get(p.spec.symbol) ?? { bids: [], asks: [] };
    const opposite = p.side === "BUY" ? book.asks : book.bids;
    if (p.type === "LIMIT_MAKER" && opposite[0] && crosses(p.side, p.price!, opposite[0].price)) {
      return {
        ok: false,
        error: { ...E.INSUFFICIENT_BALANCE, msg: "Order would immediately match and take." },
      };
    }
    if (p.type === "MARKET" && opposite.length === 0)
      return { ok: false, error: E.NO_DEPTH_FOR_MARKET };
    const lock = this.lockNeeded(p, opposite);
    const spendAsset = p.side === "BUY" ? p.spec.quoteAsset : p.spec.baseAsset;
    const bal = balance(acc, spendAsset);
    if (lock === undefined || bal.free < lock) return { ok: false, error: E.INSUFFICIENT_BALANCE };
    const now = this.rt.clock.now();
    const orderId = this.nextOrderId++;
    const o: OrderRec = {
      account,
      spec: p.spec,
      orderId,
      clientOrderId: p.clientOrderId ?? `mock_${orderId}`,
      side: p.side,
      type: p.type,
      timeInForce: p.timeInForce ?? "GTC",
      price: p.price,
      origQty: p.quantity,
      executedQty: 0n,
      cumQuote: 0n,
      status: "NEW",
      time: now,
      updateTime: now,
      lockedLeft: lock,
    };
    setBalance(acc, spendAsset, bal.free - lock, bal.locked + lock);
    this.orders.set(o.orderId, o);
    const events: MockEvent[] = [this.report(o, "NEW")];
    const changed = new Set([spendAsset]);
    const fills = this.execute(o, book, events, changed);
    this.syncOpenOrders(acc);
    this.flush(account, events, changed);
    return { ok: true, body: placeResponse(o, fills, p.respType) };
  }

  /** `DELETE /api/v3/order` by `orderId` or `origClientOrderId` (orderId wins). */
  cancel(account: string, params: URLSearchParams): EngineResult {
    const spec = symbolOf(params);
    if ("status" in spec) return { ok: false, error: spec };
    const idRaw = params.get("orderId");
    const orig = params.get("origClientOrderId") ?? undefined;
    if ((idRaw === null || idRaw === "") && orig === undefined) {
      return { ok: false, error: mandatoryParamError("orderId") };
    }
    const o = this.findOpen(account, spec.symbol, idRaw ? Number(idRaw) : undefined, orig);
    if (!o) return { ok: false, error: E.CANCEL_UNKNOWN_ORDER };
    const cancelId = params.get("newClientOrderId") ?? `cancel_${o.orderId}`;
    const events: MockEvent[] = [];
    const changed = new Set<string>();
    this.end(o, "CANCELED", events, changed, { c: cancelId, C: o.clientOrderId });
    this.syncOpenOrders(this.accounts.get(account));
    this.flush(account, events, changed);
    return {
      ok: true,
      body: { ...orderView(o), origClientOrderId: o.clientOrderId, clientOrderId: cancelId },
    };
  }

  /** Funds the order must lock: price × qty (or the market's cost) for buys, qty for sells. */
  private lockNeeded(p: PlaceOrder, opposite: Book["asks"]): bigint | undefined {
    if (p.side === "SELL") return p.quantity;
    if (p.price !== undefined) return mulUnits(p.price, p.quantity);
    let left = p.quantity;
    let cost = 0n;
    for (const l of opposite) {
      const q = minUnits(left, l.qty);
      cost += mulUnits(l.price, q);
      left -= q;
      if (left === 0n) break;
    }
    return cost;
  }

  /** Taker matching right after placement, then the time-in-force rules. */
  private execute(o: OrderRec, book: Book, events: MockEvent[], changed: Set<string>): Fill[] {
    if (o.timeInForce === "FOK" && available(o, book) < o.origQty) {
      this.end(o, "EXPIRED", events, changed);
      return [];
    }
    const fills = o.type === "LIMIT_MAKER" ? [] : this.match(o, false, events, changed);
    const open = o.status === "NEW" || o.status === "PARTIALLY_FILLED";
    if (open && (o.type === "MARKET" || o.timeInForce === "IOC")) {
      this.end(o, "EXPIRED", events, changed);
    }
    return fills;
  }

  /** Trades `o` against its symbol's book level by level; consumes the scripted liquidity. */
  private match(o: OrderRec, maker: boolean, events: MockEvent[], changed: Set<string>): Fill[] {
    const book = this.books.get(o.spec.symbol);
    if (!book) return [];
    const levels = o.side === "BUY" ? book.asks : book.bids;
    const fills: Fill[] = [];
    while (levels.length > 0 && o.executedQty < o.origQty) {
      const level = levels[0]!;
      if (o.price !== undefined && !crosses(o.side, o.price, level.price)) break;
      const qty = minUnits(o.origQty - o.executedQty, level.qty);
      // A resting order fills at its own price (it was there first); a taker at the book's.
      const price = maker && o.price !== undefined ? o.price : level.price;
      level.qty -= qty;
      if (level.qty === 0n) levels.shift();
      const fill = this.fill(o, qty, price, maker, changed);
      fills.push(fill);
      events.push(this.report(o, "TRADE", fill, maker));
    }
    return fills;
  }

  private fill(
    o: OrderRec,
    qty: bigint,
    price: bigint,
    maker: boolean,
    changed: Set<string>,
  ): Fill {
    const acc = this.accounts.get(o.account);
    const rates = acc.snapshot.commissionRates as { maker: string; taker: string } | undefined;
    const rate = toUnits((maker ? rates?.maker : rates?.taker) ?? "0.001") ?? 0n;
    const quote = mulUnits(price, qty);
    const { baseAsset: base, quoteAsset: q } = o.spec;
    let commission: bigint;
    let commissionAsset: string;
    if (o.side === "BUY") {
      const released = o.price !== undefined ? mulUnits(o.price, qty) : quote;
      const spend = balance(acc, q);
      setBalance(acc, q, spend.free + released - quote, spend.locked - released);
      o.lockedLeft -= released;
      commission = mulUnits(qty, rate);
      commissionAsset = base;
      const got = balance(acc, base);
      setBalance(acc, base, got.free + qty - commission, got.locked);
    } else {
      const spend = balance(acc, base);
      setBalance(acc, base, spend.free, spend.locked - qty);
      o.lockedLeft -= qty;
      commission = mulUnits(quote, rate);
      commissionAsset = q;
      const got = balance(acc, q);
      setBalance(acc, q, got.free + quote - commission, got.locked);
    }
    changed.add(base);
    changed.add(q);
    o.executedQty += qty;
    o.cumQuote += quote;
    o.updateTime = this.rt.clock.now();
    o.status = o.executedQty === o.origQty ? "FILLED" : "PARTIALLY_FILLED";
    if (o.status === "FILLED") this.release(o, changed);
    return { price, qty, commission, commissionAsset, tradeId: this.nextTradeId++ };
  }

  /** Ends an open order (CANCELED or EXPIRED) and unlocks what it still held. */
  private end(
    o: OrderRec,
    status: "CANCELED" | "EXPIRED",
    events: MockEvent[],
    changed: Set<string>,
    extra: MockEvent = {},
  ): void {
    o.status = status;
    o.updateTime = this.rt.clock.now();
    this.release(o, changed);
    events.push(this.report(o, status, undefined, false, extra));
  }

  private release(o: OrderRec, changed: Set<string>): void {
    if (o.lockedLeft <= 0n) return;
    const asset = o.side === "BUY" ? o.spec.quoteAsset : o.spec.baseAsset;
    const acc = this.accounts.get(o.account);
    const b = balance(acc, asset);
    setBalance(acc, asset, b.free + o.lockedLeft, b.locked - o.lockedLeft);
    o.lockedLeft = 0n;
    changed.add(asset);
  }

  /** One `executionReport`; `W` only while the order is on the book, as documented. */
  private report(
    o: OrderRec,
    x: string,
    fill?: Fill,
    maker = false,
    extra: MockEvent = {},
  ): MockEvent {
    const now = this.rt.clock.now();
    const onBook = o.status === "NEW" || o.status === "PARTIALLY_FILLED";
    const resting = onBook && o.type !== "MARKET" && !(x === "NEW" && o.timeInForce !== "GTC");
    return executionReport(
      {
        E: now,
        s: o.spec.symbol,
        c: o.clientOrderId,
        S: o.side,
        o: o.type,
        f: o.timeInForce,
        q: fromUnits(o.origQty),
        p: fromUnits(o.price ?? 0n),
        x,
        X: o.status,
        i: o.orderId,
        l: fromUnits(fill?.qty ?? 0n),
        z: fromUnits(o.executedQty),
        L: fromUnits(fill?.price ?? 0n),
        n: fromUnits(fill?.commission ?? 0n),
        N: fill?.commissionAsset ?? null,
        T: now,
        t: fill?.tradeId ?? -1,
        w: resting,
        m: fill !== undefined && maker,
        O: o.time,
        Z: fromUnits(o.cumQuote),
        Y: fromUnits(fill ? mulUnits(fill.price, fill.qty) : 0n),
        ...(resting ? { W: o.time } : {}),
        ...extra,
      },
      now,
    );
  }

  /** Sends the reports, then one `outboundAccountPosition` with the changed balances. */
  private flush(account: string, events: MockEvent[], changed: Set<string>): void {
    const now = this.rt.clock.now();
    const acc = this.accounts.get(account);
    for (const e of events) this.publish(account, e);
    if (changed.size === 0) return;
    acc.snapshot.updateTime = now;
    const B = [...changed].map((a) => {
      const b = balance(acc, a);
      return { a, f: fromUnits(b.free), l: fromUnits(b.locked) };
    });
    this.publish(account, { e: "outboundAccountPosition", E: now, u: now, B });
  }

  private findOpen(
    account: string,
    symbol: string,
    orderId: number | undefined,
    clientOrderId: string | undefined,
  ): OrderRec | undefined {
    for (const o of this.orders.values()) {
      if (o.account !== account || o.spec.symbol !== symbol) continue;
      if (o.status !== "NEW" && o.status !== "PARTIALLY_FILLED") continue;
      if (orderId !== undefined ? o.orderId === orderId : o.clientOrderId === clientOrderId)
        return o;
    }
    return undefined;
  }

  /** Keeps the account's `openOrders` list in step: scripted orders plus resting ones. */
  private syncOpenOrders(acc: AccountRecord): void {
    const engineIds = new Set(
      [...this.orders.values()].filter((o) => o.account === acc.id).map((o) => o.orderId),
    );
    const scripted = acc.openOrders.filter((o) => !engineIds.has(o.orderId as number));
    const open = [...this.orders.values()].filter(
      (o) => o.account === acc.id && (o.status === "NEW" || o.status === "PARTIALLY_FILLED"),
    );
    acc.openOrders = [...scripted, ...open.map((o) => orderView(o))];
  }
}

function crosses(side: "BUY" | "SELL", limit: bigint, level: bigint): boolean {
  return side === "BUY" ? level <= limit : level >= limit;
}

function available(o: OrderRec, book: Book): bigint {
  const levels = o.side === "BUY" ? book.asks : book.bids;
  let sum = 0n;
  for (const l of levels) {
    if (o.price !== undefined && !crosses(o.side, o.price, l.price)) break;
    sum += l.qty;
  }
  return sum;
}

function balance(acc: AccountRecord, asset: string): { free: bigint; locked: bigint } {
  const line = acc.snapshot.balances.find((b) => b.asset === asset);
  if (!line) return { free: 0n, locked: 0n };
  return { free: toUnits(line.free) ?? 0n, locked: toUnits(line.locked) ?? 0n };
}

function setBalance(acc: AccountRecord, asset: string, free: bigint, locked: bigint): void {
  const line = acc.snapshot.balances.find((b) => b.asset === asset);
  const next = { asset, free: fromUnits(free), locked: fromUnits(locked) };
  if (line) Object.assign(line, next);
  else acc.snapshot.balances.push(next);
}
