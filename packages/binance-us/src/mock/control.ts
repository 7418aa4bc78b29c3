import { z } from "zod";
import { BinanceUsMockError, MockErrorCode } from "./errors.js";
import { createEventBuilders, type MockEvent, type MockEventBuilders } from "./events.js";
import type { MockExchange } from "./exchange.js";
import type { ExpiryMode } from "./keys.js";
import {
  type AccountSnapshotInput,
  accountSnapshotInputSchema,
  describeZodError,
  type InjectErrorSpec,
  injectErrorSpecSchema,
  type MockTarget,
  type MockTunables,
  mockTargetSchema,
  mockTunablesSchema,
  type OpenOrderInput,
  openOrderInputSchema,
  type ResolvedMockOptions,
  type SocketFilter,
  socketFilterSchema,
} from "./options.js";
import type { MockNotifications, MockState, RequestCounters } from "./types.js";

/** A scripted book side: `[price, quantity]` pairs as decimal strings. */
export type BookSide = [string, string][];

const decimalString = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a decimal string such as "42000.5"');
/** Input of {@link MockControl.setBook}. */
export const bookSchema = z
  .object({
    bids: z.array(z.tuple([decimalString, decimalString])).default([]),
    asks: z.array(z.tuple([decimalString, decimalString])).default([]),
  })
  .strict();

/**
 * Levers a test (or the runnable mock's HTTP control API) pulls to make the exchange
 * misbehave on purpose. Every method is synchronous: the effect is applied when it returns
 * (bytes may still be in flight on the sockets).
 */
export interface MockControl {
  /**
   * Delivers `event` to every open socket of the target's active listen key and returns how
   * many sockets got it (0 when the account has no active key). `E` is stamped from the
   * mock's clock when absent.
   */
  pushEvent(target: MockTarget, event: MockEvent): number;
  /**
   * Realistic event builders (`executionReport`, `outboundAccountPosition`, ...) whose
   * timestamps come from the mock's clock.
   */
  readonly build: MockEventBuilders;
  /** Queues a fault for the next matching REST call(s); see {@link InjectErrorSpec}. */
  injectError(spec: InjectErrorSpec): void;
  /** Forgets queued faults and lifts any 429 window or 418 ban. */
  clearErrors(): void;
  /**
   * Ends a listen key early (PUT then answers -1125). Its sockets get what `sockets` says
   * (default: the `onKeyExpiry` option): `listenKeyExpired` and then silence on an open
   * socket ("event", as the exchange does), the event then a close ("event-close"), a
   * plain close ("close"), or nothing at all ("keep"). False when the key was not active.
   */
  expireKey(listenKey: string, opts?: { sockets?: ExpiryMode }): boolean;
  /** Destroys matching sockets' TCP connections without a close frame; returns the count. */
  dropSockets(filter?: SocketFilter): number;
  /** The server stops sending pings (so it also stops enforcing the pong timeout). */
  stopPings(): void;
  /** The server stops answering client pings. */
  stopPongs(): void;
  /**
   * Makes matching sockets silently dead: no events, no pings, no pongs, while the TCP
   * connection stays up. Returns the count.
   */
  silenceSockets(filter?: SocketFilter): number;
  /** Undoes {@link stopPings}, {@link stopPongs} and {@link silenceSockets}. */
  resume(): void;
  /**
   * Sends `{"e":"listenKeyExpired","E":"<ms as string>","listenKey":...}` to the key's
   * sockets, which then get nothing more for that key. They stay open, as on the exchange,
   * unless `close`; the key stays valid unless `invalidate`. Returns the count.
   */
  sendListenKeyExpired(listenKey: string, opts?: { invalidate?: boolean; close?: boolean }): number;
  /** Changes run-time options (see {@link MockTunables}); returns the options now in force. */
  setOptions(options: MockTunables): MockTunables;
  /** The run-time options in force. */
  options(): MockTunables;
  /**
   * Replaces a symbol's scripted order book (the liquidity orders trade against). Resting
   * orders that the new book crosses fill at once, as makers, with their events.
   */
  setBook(symbol: string, book: { bids?: BookSide; asks?: BookSide }): void;
  /** A symbol's scripted book as it is now (fills consume it). */
  book(symbol: string): { bids: BookSide; asks: BookSide } | undefined;
  /**
   * Makes every request with `apiKey` answer -2015 (HTTP 401), as when the key is deleted,
   * its IP whitelist changes or its permissions are cut while a client runs. Open sockets
   * stay up, as on the exchange. `restoreApiKey` undoes it.
   */
  revokeApiKey(apiKey: string): void;
  /** Lifts {@link MockControl.revokeApiKey}. */
  restoreApiKey(apiKey: string): void;
  /** Replaces fields of an account's `GET /api/v3/account` snapshot. */
  setAccount(account: string | MockTarget, snapshot: AccountSnapshotInput): void;
  /** Replaces an account's open orders (missing fields get realistic defaults). */
  setOpenOrders(account: string | MockTarget, orders: OpenOrderInput[]): void;
  /** The account id an API key maps to. */
  accountOf(apiKey: string): string;
  /** A deep copy of keys, sockets, the request log and counters. Never contains secrets. */
  state(): MockState;
  /** REST request counters by route and status. */
  readonly requests: RequestCounters;
  /**
   * Subscribes to `request`, `socketOpen`, `socketClose`, `keyCreated` or `keyEnded`;
   * returns the unsubscribe function. Listeners run synchronously inside the mock; one
   * that throws is logged and ignored.
   *
   * @example
   * const reconnected = new Promise((r) => { const off = mock.control.on("socketOpen", (s) => { off(); r(s); }); });
   */
  on<K extends keyof MockNotifications>(
    type: K,
    listener: (payload: MockNotifications[K]) => void,
  ): () => void;
}

/** Validates control input, throwing `MOCK_INVALID_CONTROL_INPUT` with "path: fix" text. */
export function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) {
    throw new BinanceUsMockError(
      MockErrorCode.INVALID_CONTROL_INPUT,
      `Invalid ${what}: ${describeZodError(r.error)}`,
    );
  }
  return r.data;
}

/** Builds the typed control surface over an exchange. */
export function createControl(ex: MockExchange): MockControl {
  return {
    pushEvent: (target, event) => {
      const t = parse(mockTargetSchema, target, "pushEvent target");
      const e = parse(z.record(z.string(), z.unknown()), event, "pushEvent event");
      return ex.pushEvent(t, e);
    },
    build: createEventBuilders(() => ex.clock.now()),
    injectError: (spec) => ex.injectError(parse(injectErrorSpecSchema, spec, "injectError spec")),
    clearErrors: () => ex.clearErrors(),
    expireKey: (listenKey, opts) => ex.expire(listenKey, opts?.sockets ?? ex.opts.onKeyExpiry),
    dropSockets: (filter) => {
      const f = parse(socketFilterSchema, filter ?? {}, "socket filter");
      const picked = ex.sockets.select(f);
      for (const s of picked) ex.sockets.drop(s);
      return picked.length;
    },
    stopPings: () => {
      ex.sockets.pingsOn = false;
    },
    stopPongs: () => {
      ex.sockets.pongsOn = false;
    },
    silenceSockets: (filter) =>
      ex.sockets.silence(parse(socketFilterSchema, filter ?? {}, "socket filter"), true),
    resume: () => ex.sockets.resume(),
    sendListenKeyExpired: (listenKey, opts) =>
      ex.sendListenKeyExpired(listenKey, opts?.invalidate ?? false, opts?.close ?? false),
    setOptions: (options) => {
      Object.assign(ex.opts, parse(mockTunablesSchema, options, "options"));
      return tunablesOf(ex.opts);
    },
    options: () => tunablesOf(ex.opts),
    setBook: (symbol, book) => {
      const s = parse(z.string().min(1), symbol, "setBook symbol");
      if (!ex.engine.book(s)) {
        throw new BinanceUsMockError(
          MockErrorCode.INVALID_CONTROL_INPUT,
          `Invalid setBook symbol: ${s} is not listed (GET /api/v3/exchangeInfo lists the symbols)`,
        );
      }
      ex.engine.setBook(s, parse(bookSchema, book, "book"));
    },
    book: (symbol) => ex.engine.book(symbol),
    revokeApiKey: (apiKey) =>
      ex.accounts.setRevoked(parse(z.string().min(1), apiKey, "revokeApiKey apiKey"), true),
    restoreApiKey: (apiKey) =>
      ex.accounts.setRevoked(parse(z.string().min(1), apiKey, "restoreApiKey apiKey"), false),
    setAccount: (account, snapshot) =>
      ex.setAccount(account, parse(accountSnapshotInputSchema, snapshot, "account snapshot")),
    setOpenOrders: (account, orders) =>
      ex.setOpenOrders(account, parse(z.array(openOrderInputSchema), orders, "open orders")),
    accountOf: (apiKey) => ex.accounts.accountOf(apiKey),
    state: () => ex.state(),
    get requests() {
      return ex.requestCounters();
    },
    on: (type, listener) => ex.on(type, listener),
  };
}

/** The run-time adjustable subset of the resolved options. */
function tunablesOf(o: ResolvedMockOptions): MockTunables {
  const keys = Object.keys(mockTunablesSchema.shape) as (keyof MockTunables)[];
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as MockTunables;
}
