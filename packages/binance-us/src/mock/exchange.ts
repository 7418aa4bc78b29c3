import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import type { Clock } from "./clock.js";
import {
  BINANCE_US_WIRE_ERRORS,
  BinanceUsMockError,
  MockErrorCode,
  type WireError,
} from "./errors.js";
import { listenKeyExpired, type MockEvent } from "./events.js";
import type {
  AccountSnapshotInput,
  InjectErrorSpecParsed,
  MockTarget,
  OpenOrderInput,
  ResolvedMockOptions,
  SocketFilter,
} from "./options.js";

/** A REST request as the exchange core sees it (already read off the wire). */
export interface CoreRequest {
  method: string;
  path: string;
  /** Raw query string without the leading `?` (kept raw: signatures cover exact bytes). */
  rawQuery: string;
  rawBody: string;
  contentType: string | undefined;
  apiKey: string | undefined;
  ip: string;
}

/** A REST response produced by the core. */
export interface CoreResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** One entry of the request log. API keys are masked; query strings are not kept. */
export interface LoggedRequest {
  at: number;
  method: string;
  path: string;
  status: number;
  code?: number;
  apiKey?: string;
  weight: number;
  usedWeight: number;
  injected?: boolean;
}

/** Per-socket facts exposed by `state()`. */
export interface SocketState {
  id: number;
  listenKeys: string[];
  account: string | undefined;
  combined: boolean;
  openedAt: number;
  pingsSent: number;
  pongsReceived: number;
  pingsReceived: number;
  pongsSent: number;
  messagesReceived: number;
  eventsDelivered: number;
  lastPongAt: number | undefined;
  awaitingPongSince: number | undefined;
  silenced: boolean;
  incomingLimitHits: number;
}

/** Per-key facts exposed by `state()`. */
export interface ListenKeyState {
  listenKey: string;
  account: string;
  createdAt: number;
  expiresAt: number;
  sockets: number;
}

/** Counters of REST traffic, by route (`"POST /api/v3/userDataStream"`) and status. */
export interface RequestCounters {
  total: number;
  byRoute: Record<string, number>;
  byStatus: Record<string, number>;
}

/** Snapshot of everything a test may want to assert on. Contains no API key or secret. */
export interface MockState {
  now: number;
  keys: ListenKeyState[];
  sockets: SocketState[];
  accounts: string[];
  switches: { pings: boolean; pongs: boolean };
  pendingErrors: number;
  requests: LoggedRequest[];
  counters: RequestCounters;
  closedSockets: ClosedSocketState[];
}

/** How and why a socket ended, for assertions on cuts and drops. */
export interface ClosedSocketState {
  id: number;
  listenKeys: string[];
  openedAt: number;
  closedAt: number;
  reason: string;
}

/** Why a listen key stopped existing. */
export type KeyEndReason = "expired" | "deleted" | "expired-by-control" | "invalidated-by-control";

/**
 * Notifications a test can subscribe to with `control.on(type, listener)`, so it can await
 * "the client reconnected" or "the keepalive arrived" instead of polling `state()`.
 */
export interface MockNotifications {
  request: LoggedRequest;
  socketOpen: SocketState;
  socketClose: ClosedSocketState;
  keyCreated: ListenKeyState;
  keyEnded: { listenKey: string; account: string; reason: KeyEndReason };
}

interface KeyRecord {
  listenKey: string;
  account: string;
  createdAt: number;
  expiresAt: number;
  timer: unknown;
}

interface AccountRecord {
  id: string;
  snapshot: Record<string, unknown>;
  openOrders: Record<string, unknown>[];
  listenKey: string | undefined;
}

/** A connected stream socket. Internal; tests see {@link SocketState}. */
export interface SocketRecord extends SocketState {
  ws: WebSocket;
  raw: Duplex;
  pingTimer: unknown;
  pongDeadline: unknown;
  maxAgeTimer: unknown;
  windowSecond: number;
  windowCount: number;
  closed: boolean;
}

interface InjectedError {
  method: string | undefined;
  path: string | undefined;
  status: number;
  code: number;
  msg: string;
  retryAfterSec: number | undefined;
  remaining: number;
  applied: boolean;
  sticky: boolean;
}

interface IpState {
  minute: number;
  used: number;
  retryUntil: number;
  earlyRetries: number;
  banUntil: number;
  bans: number;
}

const MAX_BAN_SEC = 3 * 24 * 60 * 60;
const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/**
 * Masks an API key for logs: the first four characters and the length (only the length
 * for keys shorter than 16 characters, where four characters would give too much away).
 *
 * @example maskApiKey("A".repeat(64)) // "AAAA…(64)"
 */
export function maskApiKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  return key.length < 16 ? `…(${key.length})` : `${key.slice(0, 4)}…(${key.length})`;
}

function defaultListenKey(): string {
  const bytes = randomBytes(64);
  let out = "";
  for (const b of bytes) out += BASE62[b % 62];
  return out;
}

/** Default account id of an API key: stable, and it does not reveal the key. */
function accountIdOf(apiKey: string): string {
  return `acct_${createHash("sha256").update(apiKey).digest("hex").slice(0, 12)}`;
}

function wire(e: WireError, extraHeaders: Record<string, string> = {}): CoreResponse {
  return { status: e.status, headers: extraHeaders, body: { code: e.code, msg: e.msg } };
}

function defaultWireFor(status: number): WireError {
  if (status === 429) return BINANCE_US_WIRE_ERRORS.TOO_MANY_REQUESTS;
  if (status === 418) return BINANCE_US_WIRE_ERRORS.IP_BANNED;
  if (status === 503) return BINANCE_US_WIRE_ERRORS.INTERNAL_ERROR;
  if (status === 403)
    return { status, code: -1000, msg: "Forbidden by the web application firewall." };
  return { ...BINANCE_US_WIRE_ERRORS.UNKNOWN_ERROR, status };
}

/** Whether the body is form-encoded: only then do its parameters count. */
function isForm(req: CoreRequest): boolean {
  return (req.contentType ?? "").includes("application/x-www-form-urlencoded");
}

/** Splits `a=1&b=2` keeping raw pieces, so the signed payload can be rebuilt byte for byte. */
function withoutSignature(raw: string): { rest: string; signature: string | undefined } {
  if (raw === "") return { rest: "", signature: undefined };
  let signature: string | undefined;
  const kept: string[] = [];
  for (const piece of raw.split("&")) {
    if (piece.startsWith("signature=")) signature = decodeURIComponent(piece.slice(10));
    else kept.push(piece);
  }
  return { rest: kept.join("&"), signature };
}

/**
 * The exchange: listen keys, accounts, weights, injected faults and stream sockets. It knows
 * no HTTP server; `server.ts` feeds it parsed requests and accepted sockets.
 */
export class MockExchange {
  readonly opts: ResolvedMockOptions;
  readonly clock: Clock;
  private readonly keys = new Map<string, KeyRecord>();
  private readonly accounts = new Map<string, AccountRecord>();
  private readonly sockets = new Map<number, SocketRecord>();
  private readonly closedSockets: ClosedSocketState[] = [];
  private readonly ips = new Map<string, IpState>();
  private readonly injected: InjectedError[] = [];
  private readonly log: LoggedRequest[] = [];
  private readonly counters: RequestCounters = { total: 0, byRoute: {}, byStatus: {} };
  private readonly timers = new Set<unknown>();
  private readonly newListenKey: () => string;
  private readonly listeners = new Map<keyof MockNotifications, Set<(p: never) => void>>();
  private nextSocketId = 1;
  private pingsOn = true;
  // API keys answered with -2015 until restored: a key deleted, its IP whitelist changed or
  // its permissions cut on the exchange while a client is running.
  private readonly revoked = new Set<string>();
  private pongsOn = true;
  private closed = false;

  constructor(opts: ResolvedMockOptions, clock: Clock) {
    this.opts = opts;
    this.clock = clock;
    this.newListenKey = opts.generateListenKey ?? defaultListenKey;
  }

  // ---- timers: every timer is tracked so close() can leave nothing behind ----

  private arm(fn: () => void, ms: number): unknown {
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.add(handle);
    return handle;
  }

  private disarm(handle: unknown): void {
    if (handle === undefined) return;
    this.clock.clearTimeout(handle);
    this.timers.delete(handle);
  }

  /** Subscribes to a notification; returns the unsubscribe function. */
  on<K extends keyof MockNotifications>(
    type: K,
    listener: (payload: MockNotifications[K]) => void,
  ): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    const fn = listener as (p: never) => void;
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  private emit<K extends keyof MockNotifications>(type: K, payload: MockNotifications[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as (p: MockNotifications[K]) => void)(payload);
      } catch (err) {
        // A throwing test listener must not corrupt the exchange's own bookkeeping.
        this.opts.logger?.warn(
          { type, err: err instanceof Error ? err.message : String(err) },
          "mock listener threw",
        );
      }
    }
  }

  private logInfo(fields: Record<string, unknown>, msg: string): void {
    this.opts.logger?.info(fields, msg);
  }

  // ---- accounts and API keys ----

  /** Resolves an API key to its account, or the -2014/-2015 error the exchange sends. */
  authenticate(
    apiKey: string | undefined,
  ): { ok: true; account: string; secret: string | undefined } | { ok: false; error: WireError } {
    if (apiKey === undefined || apiKey === "") {
      return { ok: false, error: BINANCE_US_WIRE_ERRORS.API_KEY_FORMAT_INVALID };
    }
    if (this.revoked.has(apiKey)) {
      return { ok: false, error: BINANCE_US_WIRE_ERRORS.API_KEY_REJECTED };
    }
    const listed = this.opts.apiKeys?.[apiKey];
    if (listed) {
      return { ok: true, account: listed.account ?? accountIdOf(apiKey), secret: listed.secret };
    }
    if (!this.opts.apiKeyPattern.test(apiKey)) {
      return { ok: false, error: BINANCE_US_WIRE_ERRORS.API_KEY_FORMAT_INVALID };
    }
    if (this.opts.apiKeys) return { ok: false, error: BINANCE_US_WIRE_ERRORS.API_KEY_REJECTED };
    return { ok: true, account: accountIdOf(apiKey), secret: undefined };
  }

  /** Makes `apiKey` answer -2015 (`restore` undoes it); existing sockets stay up. */
  setApiKeyRevoked(apiKey: string, revoked: boolean): void {
    if (revoked) this.revoked.add(apiKey);
    else this.revoked.delete(apiKey);
  }

  /** The account an API key maps to (listed `account`, else a hash-derived id). */
  accountOf(apiKey: string): string {
    return this.opts.apiKeys?.[apiKey]?.account ?? accountIdOf(apiKey);
  }

  private account(id: string): AccountRecord {
    let rec = this.accounts.get(id);
    if (!rec) {
      rec = {
        id,
        snapshot: {
          makerCommission: 10,
          takerCommission: 10,
          buyerCommission: 0,
          sellerCommission: 0,
          commissionRates: {
            maker: "0.00100000",
            taker: "0.00100000",
            buyer: "0.00000000",
            seller: "0.00000000",
          },
          canTrade: true,
          canWithdraw: true,
          canDeposit: true,
          brokered: false,
          requireSelfTradePrevention: false,
          preventSor: false,
          updateTime: this.clock.now(),
          accountType: "SPOT",
          balances: [
            { asset: "USD", free: "1000.00000000", locked: "0.00000000" },
            { asset: "BTC", free: "0.01000000", locked: "0.00000000" },
            { asset: "ETH", free: "0.00000000", locked: "0.00000000" },
          ],
          permissions: ["SPOT"],
        },
        openOrders: [],
        listenKey: undefined,
      };
      this.accounts.set(id, rec);
    }
    return rec;
  }

  /** Resolves a target to an account id (throws for an unknown listen key). */
  resolveAccount(target: MockTarget | string): string {
    if (typeof target === "string") return target;
    if ("account" in target) return target.account;
    if ("apiKey" in target) return this.accountOf(target.apiKey);
    const key = this.keys.get(target.listenKey);
    if (!key) {
      throw new BinanceUsMockError(
        MockErrorCode.UNKNOWN_LISTEN_KEY,
        "No active listen key matches the target; create one with POST /api/v3/userDataStream first",
      );
    }
    return key.account;
  }

  setAccount(target: MockTarget | string, input: AccountSnapshotInput): void {
    const rec = this.account(this.resolveAccount(target));
    rec.snapshot = {
      ...rec.snapshot,
      ...input,
      updateTime: input.updateTime ?? this.clock.now(),
    };
  }

  setOpenOrders(target: MockTarget | string, orders: OpenOrderInput[]): void {
    const rec = this.account(this.resolveAccount(target));
    const now = this.clock.now();
    rec.openOrders = orders.map((o, i) => {
      const orderId = o.orderId ?? 1_000 + i;
      return {
        symbol: "BTCUSD",
        orderId,
        orderListId: -1,
        clientOrderId: `mock_${orderId}`,
        price: "42000.00000000",
        origQty: "0.01000000",
        executedQty: "0.00000000",
        cummulativeQuoteQty: "0.00000000",
        status: "NEW",
        timeInForce: "GTC",
        type: "LIMIT",
        side: "BUY",
        stopPrice: "0.00000000",
        icebergQty: "0.00000000",
        time: now,
        updateTime: o.time ?? now,
        isWorking: true,
        workingTime: o.time ?? now,
        origQuoteOrderQty: "0.00000000",
        selfTradePreventionMode: "NONE",
        ...o,
      };
    });
  }

  // ---- listen keys ----

  private createOrExtend(account: string): KeyRecord {
    const acc = this.account(account);
    const now = this.clock.now();
    const existing = acc.listenKey ? this.keys.get(acc.listenKey) : undefined;
    if (existing) {
      this.extend(existing);
      return existing;
    }
    let listenKey = this.newListenKey();
    while (this.keys.has(listenKey)) listenKey = this.newListenKey();
    const rec: KeyRecord = {
      listenKey,
      account,
      createdAt: now,
      expiresAt: now + this.opts.keyValidityMs,
      timer: undefined,
    };
    rec.timer = this.arm(
      () => this.expire(rec.listenKey, this.opts.onKeyExpiry, "expired"),
      this.opts.keyValidityMs,
    );
    this.keys.set(listenKey, rec);
    acc.listenKey = listenKey;
    this.logInfo({ account }, "listen key created");
    this.emit("keyCreated", {
      listenKey,
      account,
      createdAt: rec.createdAt,
      expiresAt: rec.expiresAt,
      sockets: 0,
    });
    return rec;
  }

  private extend(rec: KeyRecord): void {
    this.disarm(rec.timer);
    rec.expiresAt = this.clock.now() + this.opts.keyValidityMs;
    rec.timer = this.arm(
      () => this.expire(rec.listenKey, this.opts.onKeyExpiry, "expired"),
      this.opts.keyValidityMs,
    );
  }

  private invalidate(listenKey: string, reason: KeyEndReason): KeyRecord | undefined {
    const rec = this.keys.get(listenKey);
    if (!rec) return undefined;
    this.disarm(rec.timer);
    this.keys.delete(listenKey);
    const acc = this.accounts.get(rec.account);
    if (acc && acc.listenKey === listenKey) acc.listenKey = undefined;
    this.emit("keyEnded", { listenKey, account: rec.account, reason });
    return rec;
  }

  /** Ends a key (timeout or control). Returns false when it was not active. */
  expire(
    listenKey: string,
    sockets: "event" | "close" | "keep",
    reason: KeyEndReason = "expired-by-control",
  ): boolean {
    const rec = this.invalidate(listenKey, reason);
    if (!rec) return false;
    this.logInfo({ account: rec.account }, "listen key expired");
    for (const s of this.socketsOfKey(listenKey)) {
      if (sockets === "event") {
        this.sendRaw(s, listenKey, listenKeyExpired(listenKey, this.clock.now()));
        this.closeSocket(s, 1000, "listen key expired");
      } else if (sockets === "close") {
        this.closeSocket(s, 1000, "listen key expired");
      }
    }
    return true;
  }

  /** Sends `listenKeyExpired` (E as a string) to the key's sockets, then closes them. */
  sendListenKeyExpired(listenKey: string, invalidateKey: boolean): number {
    const targets = this.socketsOfKey(listenKey);
    for (const s of targets) {
      this.sendRaw(s, listenKey, listenKeyExpired(listenKey, this.clock.now()));
      this.closeSocket(s, 1000, "listen key expired");
    }
    if (invalidateKey) this.invalidate(listenKey, "invalidated-by-control");
    return targets.length;
  }

  isActiveKey(listenKey: string): boolean {
    return this.keys.has(listenKey);
  }

  // ---- REST ----

  private ip(ip: string): IpState {
    const minute = Math.floor(this.clock.now() / 60_000);
    let st = this.ips.get(ip);
    if (!st) {
      st = { minute, used: 0, retryUntil: 0, earlyRetries: 0, banUntil: 0, bans: 0 };
      this.ips.set(ip, st);
    }
    if (st.minute !== minute) {
      st.minute = minute;
      st.used = 0;
    }
    return st;
  }

  private routeWeight(req: CoreRequest, params: URLSearchParams): number {
    if (req.path === "/api/v3/account") return 10;
    if (req.path === "/api/v3/openOrders") return params.get("symbol") ? 3 : 40;
    return 1;
  }

  private ban(st: IpState, now: number): number {
    const sec = Math.min(MAX_BAN_SEC, this.opts.banDurationSec * 2 ** st.bans);
    st.bans += 1;
    st.banUntil = now + sec * 1000;
    st.retryUntil = 0;
    st.earlyRetries = 0;
    return sec;
  }

  /** Handles one `/api/...` request end to end: limits, faults, auth, the operation. */
  handle(req: CoreRequest): CoreResponse {
    const now = this.clock.now();
    const params = this.params(req);
    const st = this.ip(req.ip);
    const weight = this.routeWeight(req, params);
    let res: CoreResponse;
    let injectedHit = false;

    if (st.banUntil > now) {
      const sec = Math.ceil((st.banUntil - now) / 1000);
      res = this.bannedResponse(st, sec);
    } else if (st.retryUntil > now) {
      st.earlyRetries += 1;
      if (st.earlyRetries >= this.opts.banAfterEarlyRetries) {
        res = this.bannedResponse(st, this.ban(st, now));
      } else {
        const sec = Math.ceil((st.retryUntil - now) / 1000);
        res = wire(BINANCE_US_WIRE_ERRORS.TOO_MANY_REQUESTS, { "Retry-After": String(sec) });
      }
    } else {
      st.used += weight;
      if (st.used > this.opts.weightLimitPerMinute) {
        st.retryUntil = (st.minute + 1) * 60_000;
        st.earlyRetries = 0;
        const sec = Math.max(1, Math.ceil((st.retryUntil - now) / 1000));
        res = wire(
          {
            ...BINANCE_US_WIRE_ERRORS.TOO_MANY_REQUESTS,
            msg: BINANCE_US_WIRE_ERRORS.TOO_MANY_REQUESTS.msg.replace(
              "1200",
              String(this.opts.weightLimitPerMinute),
            ),
          },
          { "Retry-After": String(sec) },
        );
      } else {
        const fault = this.takeInjected(req);
        if (fault === undefined) res = this.operate(req, params);
        else {
          injectedHit = true;
          // An `applied` fault lets the operation take effect, then answers with the error.
          if (fault.applied) this.operate(req, params);
          res = this.faultResponse(fault, st, now);
        }
      }
    }

    res.headers["X-MBX-USED-WEIGHT-1M"] = String(st.used);
    res.headers["X-MBX-USED-WEIGHT"] = String(st.used);
    this.record(req, res, weight, st.used, injectedHit);
    return res;
  }

  private bannedResponse(st: IpState, retryAfterSec: number): CoreResponse {
    return wire(
      {
        ...BINANCE_US_WIRE_ERRORS.IP_BANNED,
        msg: `Way too much request weight used; IP banned until ${st.banUntil}. Please use WebSocket Streams for live updates to avoid bans.`,
      },
      { "Retry-After": String(retryAfterSec) },
    );
  }

  private faultResponse(fault: InjectedError, st: IpState, now: number): CoreResponse {
    const headers: Record<string, string> = {};
    // The exchange never sends a 429 or 418 without Retry-After; when the test does not pick
    // one, use what the exchange would: the rest of the weight minute, or the ban length.
    const retryAfterSec =
      fault.retryAfterSec ??
      (fault.status === 429
        ? Math.max(1, Math.ceil(((Math.floor(now / 60_000) + 1) * 60_000 - now) / 1000))
        : fault.status === 418
          ? this.opts.banDurationSec
          : undefined);
    if (retryAfterSec !== undefined) headers["Retry-After"] = String(retryAfterSec);
    if (fault.sticky && retryAfterSec !== undefined) {
      if (fault.status === 418) {
        st.banUntil = now + retryAfterSec * 1000;
        st.bans += 1;
      } else if (fault.status === 429) {
        st.retryUntil = now + retryAfterSec * 1000;
        st.earlyRetries = 0;
      }
    }
    return { status: fault.status, headers, body: { code: fault.code, msg: fault.msg } };
  }

  private takeInjected(req: CoreRequest): InjectedError | undefined {
    const idx = this.injected.findIndex(
      (f) =>
        (f.method === undefined || f.method === req.method) &&
        (f.path === undefined || f.path === req.path),
    );
    if (idx < 0) return undefined;
    const fault = this.injected[idx]!;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.injected.splice(idx, 1);
    return fault;
  }

  /** Queues a fault; `s` was validated by the control surface. */
  injectError(s: InjectErrorSpecParsed): void {
    const d = defaultWireFor(s.status);
    this.injected.push({
      method: s.method,
      path: s.path,
      status: s.status,
      code: s.code ?? d.code,
      msg: s.msg ?? d.msg,
      retryAfterSec: s.retryAfterSec,
      remaining: s.times,
      applied: s.applied,
      sticky: s.sticky,
    });
  }

  clearErrors(): void {
    this.injected.length = 0;
    for (const st of this.ips.values()) {
      st.retryUntil = 0;
      st.banUntil = 0;
      st.earlyRetries = 0;
    }
  }

  private params(req: CoreRequest): URLSearchParams {
    const merged = new URLSearchParams();
    if (isForm(req) && req.rawBody !== "") {
      for (const [k, v] of new URLSearchParams(req.rawBody)) merged.set(k, v);
    }
    // The query string wins over the body, as the exchange documents.
    for (const [k, v] of new URLSearchParams(req.rawQuery)) merged.set(k, v);
    return merged;
  }

  private operate(req: CoreRequest, params: URLSearchParams): CoreResponse {
    const route = `${req.method} ${req.path}`;
    switch (route) {
      case "GET /api/v3/ping":
        return { status: 200, headers: {}, body: {} };
      case "GET /api/v3/time":
        return { status: 200, headers: {}, body: { serverTime: this.clock.now() } };
      case "POST /api/v3/userDataStream":
      case "PUT /api/v3/userDataStream":
      case "DELETE /api/v3/userDataStream":
        return this.userDataStream(req, params);
      case "GET /api/v3/account":
      case "GET /api/v3/openOrders":
        return this.signed(req, params);
      default:
        return {
          status: 404,
          headers: {},
          body: {
            code: -1000,
            msg: `Unknown endpoint ${route} (the mock serves userDataStream, account, openOrders, time, ping)`,
          },
        };
    }
  }

  private userDataStream(req: CoreRequest, params: URLSearchParams): CoreResponse {
    const auth = this.authenticate(req.apiKey);
    if (!auth.ok) return wire(auth.error);
    if (req.method === "POST") {
      const rec = this.createOrExtend(auth.account);
      return { status: 200, headers: {}, body: { listenKey: rec.listenKey } };
    }
    const listenKey = params.get("listenKey");
    if (listenKey === null || listenKey.trim() === "") {
      return wire(BINANCE_US_WIRE_ERRORS.MANDATORY_PARAM_LISTEN_KEY);
    }
    const rec = this.keys.get(listenKey);
    if (!rec || rec.account !== auth.account)
      return wire(BINANCE_US_WIRE_ERRORS.LISTEN_KEY_NOT_FOUND);
    if (req.method === "PUT") {
      this.extend(rec);
      return { status: 200, headers: {}, body: {} };
    }
    this.invalidate(listenKey, "deleted");
    for (const s of this.socketsOfKey(listenKey)) this.closeSocket(s, 1000, "listen key closed");
    this.logInfo({ account: rec.account }, "listen key closed");
    return { status: 200, headers: {}, body: {} };
  }

  private signed(req: CoreRequest, params: URLSearchParams): CoreResponse {
    const auth = this.authenticate(req.apiKey);
    if (!auth.ok) return wire(auth.error);
    // A key without a secret has no trading/reading permission in the mock.
    if (auth.secret === undefined) return wire(BINANCE_US_WIRE_ERRORS.API_KEY_REJECTED);
    const q = withoutSignature(req.rawQuery);
    const b = isForm(req) ? withoutSignature(req.rawBody) : { rest: "", signature: undefined };
    const signature = q.signature ?? b.signature;
    const payload = q.rest + b.rest;
    const expected = createHmac("sha256", auth.secret).update(payload).digest("hex");
    if (
      signature === undefined ||
      signature.length !== expected.length ||
      !timingSafeEqual(Buffer.from(signature.toLowerCase()), Buffer.from(expected))
    ) {
      return wire(BINANCE_US_WIRE_ERRORS.INVALID_SIGNATURE);
    }
    const tsRaw = params.get("timestamp");
    const ts = tsRaw === null ? Number.NaN : Number(tsRaw);
    if (!Number.isInteger(ts)) return wire(BINANCE_US_WIRE_ERRORS.MANDATORY_PARAM_TIMESTAMP);
    const recvRaw = params.get("recvWindow");
    const recvWindow = recvRaw === null ? 5000 : Number(recvRaw);
    if (!Number.isFinite(recvWindow) || recvWindow > 60_000) {
      return wire(BINANCE_US_WIRE_ERRORS.RECV_WINDOW_TOO_LARGE);
    }
    const now = this.clock.now();
    if (ts > now + 1000) return wire(BINANCE_US_WIRE_ERRORS.TIMESTAMP_AHEAD);
    if (now - ts > recvWindow) return wire(BINANCE_US_WIRE_ERRORS.TIMESTAMP_OUTSIDE_RECV_WINDOW);
    const acc = this.account(auth.account);
    if (req.path === "/api/v3/account") {
      let snapshot = acc.snapshot;
      if (params.get("omitZeroBalances") === "true") {
        const balances = snapshot.balances as { free: string; locked: string }[];
        snapshot = {
          ...snapshot,
          balances: balances.filter((x) => Number(x.free) !== 0 || Number(x.locked) !== 0),
        };
      }
      return { status: 200, headers: {}, body: snapshot };
    }
    const symbol = params.get("symbol");
    const orders = symbol ? acc.openOrders.filter((o) => o.symbol === symbol) : acc.openOrders;
    return { status: 200, headers: {}, body: orders };
  }

  private record(
    req: CoreRequest,
    res: CoreResponse,
    weight: number,
    usedWeight: number,
    injected: boolean,
  ): void {
    const route = `${req.method} ${req.path}`;
    this.counters.total += 1;
    this.counters.byRoute[route] = (this.counters.byRoute[route] ?? 0) + 1;
    this.counters.byStatus[String(res.status)] =
      (this.counters.byStatus[String(res.status)] ?? 0) + 1;
    const body = res.body as { code?: unknown };
    const entry: LoggedRequest = {
      at: this.clock.now(),
      method: req.method,
      path: req.path,
      status: res.status,
      weight,
      usedWeight,
    };
    if (typeof body?.code === "number") entry.code = body.code;
    const masked = maskApiKey(req.apiKey);
    if (masked !== undefined) entry.apiKey = masked;
    if (injected) entry.injected = true;
    this.log.push(entry);
    this.emit("request", { ...entry });
    if (this.log.length > this.opts.requestLogLimit) this.log.shift();
    this.opts.logger?.debug?.({ ...entry }, "request");
  }

  requestCounters(): RequestCounters {
    return structuredClone(this.counters);
  }

  // ---- sockets ----

  /** Registers an accepted stream socket and starts its ping and 24 h timers. */
  addSocket(ws: WebSocket, raw: Duplex, listenKeys: string[], combined: boolean): SocketRecord {
    const now = this.clock.now();
    const account = listenKeys.map((k) => this.keys.get(k)?.account).find((a) => a !== undefined);
    const rec: SocketRecord = {
      id: this.nextSocketId++,
      ws,
      raw,
      listenKeys,
      account,
      combined,
      openedAt: now,
      pingsSent: 0,
      pongsReceived: 0,
      pingsReceived: 0,
      pongsSent: 0,
      messagesReceived: 0,
      eventsDelivered: 0,
      lastPongAt: undefined,
      awaitingPongSince: undefined,
      silenced: false,
      incomingLimitHits: 0,
      pingTimer: undefined,
      pongDeadline: undefined,
      maxAgeTimer: undefined,
      windowSecond: -1,
      windowCount: 0,
      closed: false,
    };
    this.sockets.set(rec.id, rec);
    const schedulePing = (): void => {
      rec.pingTimer = this.arm(() => {
        this.serverPing(rec);
        if (!rec.closed) schedulePing();
      }, this.opts.pingIntervalMs);
    };
    schedulePing();
    rec.maxAgeTimer = this.arm(
      () => this.closeSocket(rec, 1000, "connection max age reached"),
      this.opts.connectionMaxAgeMs,
    );

    ws.on("ping", (data) => {
      rec.pingsReceived += 1;
      if (!this.countIncoming(rec)) return;
      if (this.pongsOn && !rec.silenced && ws.readyState === ws.OPEN) {
        ws.pong(data);
        rec.pongsSent += 1;
      }
    });
    ws.on("pong", () => {
      if (rec.silenced) return;
      rec.pongsReceived += 1;
      rec.lastPongAt = this.clock.now();
      rec.awaitingPongSince = undefined;
      this.disarm(rec.pongDeadline);
      rec.pongDeadline = undefined;
      this.countIncoming(rec);
    });
    ws.on("message", () => {
      rec.messagesReceived += 1;
      this.countIncoming(rec);
    });
    ws.on("error", () => {
      // A peer that vanished mid-frame; the close handler below does the cleanup.
    });
    ws.on("close", () => this.forget(rec, "closed"));
    this.emit("socketOpen", this.socketView(rec));
    return rec;
  }

  /** Applies the per-connection incoming message limit; false when it disconnected. */
  private countIncoming(rec: SocketRecord): boolean {
    const second = Math.floor(this.clock.now() / 1000);
    if (second !== rec.windowSecond) {
      rec.windowSecond = second;
      rec.windowCount = 0;
    }
    rec.windowCount += 1;
    if (rec.windowCount > this.opts.maxIncomingMessagesPerSec) {
      rec.incomingLimitHits += 1;
      if (this.opts.onIncomingLimit === "disconnect") {
        this.closeSocket(rec, 1008, "too many messages");
        return false;
      }
    }
    return true;
  }

  private serverPing(rec: SocketRecord): void {
    if (rec.closed || !this.pingsOn || rec.silenced || rec.ws.readyState !== rec.ws.OPEN) return;
    rec.ws.ping();
    rec.pingsSent += 1;
    if (rec.awaitingPongSince === undefined) {
      rec.awaitingPongSince = this.clock.now();
      rec.pongDeadline = this.arm(() => {
        rec.pongDeadline = undefined;
        this.closeSocket(rec, 1008, "pong timeout");
      }, this.opts.pongTimeoutMs);
    }
  }

  private forget(rec: SocketRecord, reason: string): void {
    if (rec.closed) return;
    rec.closed = true;
    this.disarm(rec.pingTimer);
    this.disarm(rec.pongDeadline);
    this.disarm(rec.maxAgeTimer);
    this.sockets.delete(rec.id);
    const closed: ClosedSocketState = {
      id: rec.id,
      listenKeys: [...rec.listenKeys],
      openedAt: rec.openedAt,
      closedAt: this.clock.now(),
      reason,
    };
    this.closedSockets.push(closed);
    this.emit("socketClose", { ...closed, listenKeys: [...closed.listenKeys] });
    if (this.closedSockets.length > this.opts.requestLogLimit) this.closedSockets.shift();
  }

  /** Sends a close frame and forgets the socket at once (its timers stop now). */
  closeSocket(rec: SocketRecord, code: number, reason: string): void {
    if (rec.closed) return;
    this.forget(rec, reason);
    try {
      rec.ws.close(code, reason);
    } catch {
      rec.ws.terminate();
    }
  }

  /** Destroys the TCP connection without a close frame: the client sees code 1006. */
  dropSocket(rec: SocketRecord): void {
    this.forget(rec, "dropped without close frame");
    rec.raw.destroy();
    rec.ws.terminate();
  }

  private socketsOfKey(listenKey: string): SocketRecord[] {
    return [...this.sockets.values()].filter((s) => s.listenKeys.includes(listenKey));
  }

  selectSockets(filter: SocketFilter = {}): SocketRecord[] {
    const account =
      filter.account ?? (filter.apiKey !== undefined ? this.accountOf(filter.apiKey) : undefined);
    return [...this.sockets.values()].filter(
      (s) =>
        (filter.socketId === undefined || s.id === filter.socketId) &&
        (filter.listenKey === undefined || s.listenKeys.includes(filter.listenKey)) &&
        (account === undefined || s.account === account),
    );
  }

  private sendRaw(rec: SocketRecord, listenKey: string, event: MockEvent): boolean {
    if (rec.closed || rec.silenced || rec.ws.readyState !== rec.ws.OPEN) return false;
    const payload = rec.combined ? { stream: listenKey, data: event } : event;
    rec.ws.send(JSON.stringify(payload));
    rec.eventsDelivered += 1;
    return true;
  }

  /** Delivers an event to every open socket of the target's active key; returns the count. */
  pushEvent(target: MockTarget, event: MockEvent): number {
    let listenKey: string | undefined;
    if ("listenKey" in target) listenKey = target.listenKey;
    else listenKey = this.accounts.get(this.resolveAccount(target))?.listenKey;
    if (listenKey === undefined || !this.keys.has(listenKey)) return 0;
    const stamped = event.E === undefined ? { ...event, E: this.clock.now() } : event;
    let delivered = 0;
    for (const s of this.socketsOfKey(listenKey)) {
      if (this.sendRaw(s, listenKey, stamped)) delivered += 1;
    }
    return delivered;
  }

  setPings(on: boolean): void {
    this.pingsOn = on;
  }

  setPongs(on: boolean): void {
    this.pongsOn = on;
  }

  silence(filter: SocketFilter, on: boolean): number {
    const picked = this.selectSockets(filter);
    for (const s of picked) {
      s.silenced = on;
      if (on) {
        this.disarm(s.pongDeadline);
        s.pongDeadline = undefined;
        s.awaitingPongSince = undefined;
      }
    }
    return picked.length;
  }

  resume(): void {
    this.pingsOn = true;
    this.pongsOn = true;
    for (const s of this.sockets.values()) s.silenced = false;
  }

  private socketView(rec: SocketRecord): SocketState {
    return {
      id: rec.id,
      listenKeys: [...rec.listenKeys],
      account: rec.account,
      combined: rec.combined,
      openedAt: rec.openedAt,
      pingsSent: rec.pingsSent,
      pongsReceived: rec.pongsReceived,
      pingsReceived: rec.pingsReceived,
      pongsSent: rec.pongsSent,
      messagesReceived: rec.messagesReceived,
      eventsDelivered: rec.eventsDelivered,
      lastPongAt: rec.lastPongAt,
      awaitingPongSince: rec.awaitingPongSince,
      silenced: rec.silenced,
      incomingLimitHits: rec.incomingLimitHits,
    };
  }

  state(): MockState {
    const keys = [...this.keys.values()].map((k) => ({
      listenKey: k.listenKey,
      account: k.account,
      createdAt: k.createdAt,
      expiresAt: k.expiresAt,
      sockets: this.socketsOfKey(k.listenKey).length,
    }));
    const sockets = [...this.sockets.values()].map((rec) => this.socketView(rec));
    return {
      now: this.clock.now(),
      keys,
      sockets,
      accounts: [...this.accounts.keys()],
      switches: { pings: this.pingsOn, pongs: this.pongsOn },
      pendingErrors: this.injected.length,
      requests: this.log.map((r) => ({ ...r })),
      counters: this.requestCounters(),
      closedSockets: this.closedSockets.map((c) => ({ ...c, listenKeys: [...c.listenKeys] })),
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops every timer and terminates every socket. Idempotent. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.sockets.values()]) {
      this.forget(s, "mock closed");
      s.ws.terminate();
    }
    for (const k of this.keys.values()) k.timer = undefined;
    for (const t of [...this.timers]) this.disarm(t);
    this.listeners.clear();
  }
}
