import { Accounts } from "./accounts.js";
import type { Clock } from "./clock.js";
import { BinanceUsMockError, MockErrorCode } from "./errors.js";
import { listenKeyExpired, type MockEvent } from "./events.js";
import { FaultQueue } from "./faults.js";
import { type ExpiryMode, ListenKeys } from "./keys.js";
import { routeWeight, WeightLimits } from "./limits.js";
import type {
  AccountSnapshotInput,
  InjectErrorSpecParsed,
  MockTarget,
  OpenOrderInput,
  ResolvedMockOptions,
} from "./options.js";
import { OrderEngine } from "./orders.js";
import { RequestLog } from "./request-log.js";
import { routeRest } from "./rest.js";
import { MockRuntime } from "./runtime.js";
import { requestParams } from "./signed.js";
import { type AddSocketSpec, SocketHub, type SocketRecord } from "./sockets.js";
import type {
  CoreRequest,
  CoreResponse,
  MockNotifications,
  MockState,
  RequestCounters,
} from "./types.js";

export { maskApiKey } from "./runtime.js";
export type {
  ClosedSocketState,
  CoreRequest,
  CoreResponse,
  KeyEndReason,
  ListenKeyState,
  LoggedRequest,
  MockNotifications,
  MockState,
  RequestCounters,
  SocketState,
} from "./types.js";

/**
 * The exchange: composes accounts, listen keys, weights and bans, faults, sockets and the
 * order engine. It knows no HTTP server; `server.ts` feeds it parsed requests and accepted
 * sockets, and the WebSocket API maps its calls onto the same {@link handle}.
 */
export class MockExchange {
  readonly rt: MockRuntime;
  readonly accounts: Accounts;
  readonly keys: ListenKeys;
  readonly limits: WeightLimits;
  readonly faults: FaultQueue;
  readonly sockets: SocketHub;
  readonly engine: OrderEngine;
  private readonly log: RequestLog;
  private closed = false;

  constructor(opts: ResolvedMockOptions, clock: Clock) {
    this.rt = new MockRuntime(opts, clock);
    this.accounts = new Accounts(this.rt);
    this.sockets = new SocketHub(this.rt, (apiKey) => this.accounts.accountOf(apiKey));
    this.keys = new ListenKeys(this.rt, this.accounts, (key, mode) => {
      this.sockets.keyEnded(key, mode);
    });
    this.limits = new WeightLimits(this.rt);
    this.faults = new FaultQueue(this.rt, this.limits);
    this.engine = new OrderEngine(this.rt, this.accounts, (account, event) => {
      this.pushEvent({ account }, event);
    });
    this.log = new RequestLog(this.rt);
  }

  /** The (run-time adjustable) options. */
  get opts(): ResolvedMockOptions {
    return this.rt.opts;
  }

  /** The mock's clock. */
  get clock(): Clock {
    return this.rt.clock;
  }

  /** Subscribes to a notification; returns the unsubscribe function. */
  on<K extends keyof MockNotifications>(
    type: K,
    listener: (payload: MockNotifications[K]) => void,
  ): () => void {
    return this.rt.on(type, listener);
  }

  /** Handles one `/api/...` request end to end: limits, faults, auth, the operation. */
  handle(req: CoreRequest): CoreResponse {
    const params = requestParams(req);
    const st = this.limits.ip(req.ip);
    const weight = routeWeight(req.path, params);
    let injected = false;
    let res = this.limits.admit(st, weight);
    if (res === undefined) {
      const fault = this.faults.take(req);
      const operate = () => routeRest(this, req, params);
      if (fault === undefined) res = operate();
      else {
        injected = true;
        res = this.faults.respond(fault, st, operate);
      }
    }
    res.headers["X-MBX-USED-WEIGHT-1M"] = String(st.used);
    res.headers["X-MBX-USED-WEIGHT"] = String(st.used);
    this.log.record(req, res, weight, st.used, injected);
    return res;
  }

  /** Resolves a target to an account id (throws for an unknown listen key). */
  resolveAccount(target: MockTarget | string): string {
    if (typeof target === "string") return target;
    if ("account" in target) return target.account;
    if ("apiKey" in target) return this.accounts.accountOf(target.apiKey);
    const key = this.keys.get(target.listenKey);
    if (!key) {
      throw new BinanceUsMockError(
        MockErrorCode.UNKNOWN_LISTEN_KEY,
        "No active listen key matches the target; create one with POST /api/v3/userDataStream first",
      );
    }
    return key.account;
  }

  /** Delivers an event to every open socket of the target's active key; returns the count. */
  pushEvent(target: MockTarget, event: MockEvent): number {
    const listenKey =
      "listenKey" in target
        ? target.listenKey
        : this.accounts.peek(this.resolveAccount(target))?.listenKey;
    if (listenKey === undefined || !this.keys.isActive(listenKey)) return 0;
    const stamped = event.E === undefined ? { ...event, E: this.clock.now() } : event;
    return this.sockets.deliver(listenKey, stamped);
  }

  /** Replaces fields of an account's snapshot. */
  setAccount(target: MockTarget | string, input: AccountSnapshotInput): void {
    this.accounts.setSnapshot(this.resolveAccount(target), input);
  }

  /** Replaces an account's scripted open orders. */
  setOpenOrders(target: MockTarget | string, orders: OpenOrderInput[]): void {
    this.accounts.setOpenOrders(this.resolveAccount(target), orders);
  }

  /** Queues a fault; `s` was validated by the control surface. */
  injectError(s: InjectErrorSpecParsed): void {
    this.faults.push(s);
  }

  /** Drops queued faults and lifts 429 windows and bans. */
  clearErrors(): void {
    this.faults.clear();
    this.limits.clear();
  }

  /** Ends a key early; its sockets see `mode`. */
  expire(listenKey: string, mode: ExpiryMode): boolean {
    return this.keys.expire(listenKey, mode);
  }

  /**
   * Sends `listenKeyExpired` to the key's sockets; nothing more is delivered to them for
   * that key. They stay open (as on the exchange) unless `close`; the key stays valid
   * unless `invalidate`.
   */
  sendListenKeyExpired(listenKey: string, invalidate: boolean, close: boolean): number {
    const targets = this.sockets.ofKey(listenKey);
    for (const s of targets) {
      this.sockets.sendJson(s, listenKeyExpired(listenKey, this.clock.now()));
      s.mutedKeys.add(listenKey);
      if (close) this.sockets.close(s, 1000, "listen key expired");
    }
    if (invalidate) this.keys.invalidate(listenKey, "invalidated-by-control");
    return targets.length;
  }

  /** Registers an accepted socket. */
  addSocket(spec: Omit<AddSocketSpec, "account">): SocketRecord {
    const account = spec.listenKeys
      .map((k) => this.keys.get(k)?.account)
      .find((a) => a !== undefined);
    return this.sockets.add({ ...spec, account });
  }

  /** REST request counters by route and status. */
  requestCounters(): RequestCounters {
    return this.log.totals();
  }

  /** A deep copy of everything a test may assert on; never contains a secret. */
  state(): MockState {
    return {
      now: this.clock.now(),
      keys: this.keys.list().map((k) => this.keys.view(k, this.sockets.ofKey(k.listenKey).length)),
      sockets: this.sockets.views(),
      accounts: this.accounts.ids(),
      switches: { pings: this.sockets.pingsOn, pongs: this.sockets.pongsOn },
      pendingErrors: this.faults.pending,
      requests: this.log.list(),
      counters: this.log.totals(),
      closedSockets: this.sockets.closed(),
    };
  }

  /** True after {@link shutdown}. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops every timer and terminates every socket. Idempotent. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    this.sockets.shutdown();
    this.keys.shutdown();
    this.rt.shutdown();
  }
}
