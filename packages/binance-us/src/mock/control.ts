import { z } from "zod";
import type { Clock, MockClock } from "./clock.js";
import { BinanceUsMockError, MockErrorCode } from "./errors.js";
import { createEventBuilders, type MockEvent, type MockEventBuilders } from "./events.js";
import type { MockExchange, MockNotifications, MockState, RequestCounters } from "./exchange.js";
import {
  type AccountSnapshotInput,
  accountSnapshotInputSchema,
  describeZodError,
  type InjectErrorSpec,
  injectErrorSpecSchema,
  type MockTarget,
  mockTargetSchema,
  type OpenOrderInput,
  openOrderInputSchema,
  type SocketFilter,
  socketFilterSchema,
} from "./options.js";

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
   * Ends a listen key early (PUT then answers -1125). Its sockets get `listenKeyExpired`
   * then a close ("event", the default), a plain close ("close"), or stay open and silent
   * ("keep"). Returns false when the key was not active.
   */
  expireKey(listenKey: string, opts?: { sockets?: "event" | "close" | "keep" }): boolean;
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
   * Sends `{"e":"listenKeyExpired","E":"<ms as string>","listenKey":...}` to the key's sockets
   * and closes them. The key stays valid unless `invalidate` is true. Returns the count.
   */
  sendListenKeyExpired(listenKey: string, opts?: { invalidate?: boolean }): number;
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

function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
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
    expireKey: (listenKey, opts) => ex.expire(listenKey, opts?.sockets ?? "event"),
    dropSockets: (filter) => {
      const f = parse(socketFilterSchema, filter ?? {}, "socket filter");
      const picked = ex.selectSockets(f);
      for (const s of picked) ex.dropSocket(s);
      return picked.length;
    },
    stopPings: () => ex.setPings(false),
    stopPongs: () => ex.setPongs(false),
    silenceSockets: (filter) =>
      ex.silence(parse(socketFilterSchema, filter ?? {}, "socket filter"), true),
    resume: () => ex.resume(),
    sendListenKeyExpired: (listenKey, opts) =>
      ex.sendListenKeyExpired(listenKey, opts?.invalidate ?? false),
    revokeApiKey: (apiKey) =>
      ex.setApiKeyRevoked(parse(z.string().min(1), apiKey, "revokeApiKey apiKey"), true),
    restoreApiKey: (apiKey) =>
      ex.setApiKeyRevoked(parse(z.string().min(1), apiKey, "restoreApiKey apiKey"), false),
    setAccount: (account, snapshot) =>
      ex.setAccount(account, parse(accountSnapshotInputSchema, snapshot, "account snapshot")),
    setOpenOrders: (account, orders) =>
      ex.setOpenOrders(account, parse(z.array(openOrderInputSchema), orders, "open orders")),
    accountOf: (apiKey) => ex.accountOf(apiKey),
    state: () => ex.state(),
    get requests() {
      return ex.requestCounters();
    },
    on: (type, listener) => ex.on(type, listener),
  };
}

function isMockClock(clock: Clock): clock is MockClock {
  return typeof (clock as MockClock).advance === "function";
}

const accountRef = z.union([
  z.object({ account: z.string().min(1) }).strict(),
  z.object({ apiKey: z.string().min(1) }).strict(),
]);

const bodies = {
  apiKey: z.object({ apiKey: z.string().min(1, "apiKey is required: the key to revoke/restore") }),
  events: z
    .object({
      target: mockTargetSchema,
      event: z.record(z.string(), z.unknown()).optional(),
      type: z
        .enum([
          "executionReport",
          "executionReportFill",
          "outboundAccountPosition",
          "balanceUpdate",
          "listStatus",
        ])
        .optional(),
      fields: z.record(z.string(), z.unknown()).optional(),
    })
    .strict()
    .refine((b) => (b.event === undefined) !== (b.type === undefined), {
      message: "give either `event` (a full object) or `type` (+ optional `fields`), not both",
    }),
  expire: z
    .object({
      listenKey: z.string().min(1),
      sockets: z.enum(["event", "close", "keep"]).optional(),
    })
    .strict(),
  listenKeyExpired: z
    .object({ listenKey: z.string().min(1), invalidate: z.boolean().optional() })
    .strict(),
  filter: z.object({ filter: socketFilterSchema.optional() }).strict(),
  account: z.object({ target: accountRef, snapshot: accountSnapshotInputSchema }).strict(),
  openOrders: z.object({ target: accountRef, orders: z.array(openOrderInputSchema) }).strict(),
  advance: z.object({ ms: z.number().int().nonnegative() }).strict(),
};

/** Routes of the HTTP control API, listed by `GET /__mock`. */
export const CONTROL_ROUTES = [
  "GET  /__mock/state",
  "GET  /__mock/requests",
  "POST /__mock/events            {target:{listenKey}|{apiKey}|{account}, event} or {target, type, fields}",
  "POST /__mock/errors            {status, method?, path?, code?, msg?, retryAfterSec?, times?, applied?, sticky?}",
  "DELETE /__mock/errors",
  "POST /__mock/expire            {listenKey, sockets?: event|close|keep}",
  "POST /__mock/listen-key-expired {listenKey, invalidate?}",
  "POST /__mock/drop              {filter?: {listenKey?, apiKey?, account?, socketId?}}",
  "POST /__mock/silence           {filter?}",
  "POST /__mock/api-keys/revoke   {apiKey}   (answers -2015 until restored)",
  "POST /__mock/api-keys/restore  {apiKey}",
  "POST /__mock/pings/stop",
  "POST /__mock/pongs/stop",
  "POST /__mock/resume",
  "PUT  /__mock/account           {target:{account}|{apiKey}, snapshot:{balances?, updateTime?, ...}}",
  "PUT  /__mock/open-orders       {target, orders:[...]}",
  "POST /__mock/clock/advance     {ms}   (fake clock only)",
] as const;

/** Result of one control HTTP call. */
export interface ControlHttpResult {
  status: number;
  body: unknown;
}

/**
 * Serves `/__mock/...`: JSON in, JSON out. Errors answer 400 with
 * `{error:{code,message}}` naming the field to fix; unknown routes answer 404.
 */
export async function handleControlHttp(
  control: MockControl,
  clock: Clock,
  method: string,
  path: string,
  rawBody: string,
): Promise<ControlHttpResult> {
  let body: unknown = {};
  if (rawBody.trim() !== "") {
    try {
      body = JSON.parse(rawBody);
    } catch {
      return {
        status: 400,
        body: {
          error: {
            code: MockErrorCode.INVALID_CONTROL_INPUT,
            message: "Body must be JSON (Content-Type: application/json)",
          },
        },
      };
    }
  }
  try {
    const route = `${method} ${path}`;
    switch (route) {
      case "GET /__mock":
        return { status: 200, body: { routes: CONTROL_ROUTES } };
      case "GET /__mock/state":
        return { status: 200, body: control.state() };
      case "GET /__mock/requests":
        return { status: 200, body: control.requests };
      case "POST /__mock/events": {
        const b = parse(bodies.events, body, "POST /__mock/events body");
        const event = b.event ?? control.build[b.type!](b.fields ?? {});
        return { status: 200, body: { delivered: control.pushEvent(b.target, event), event } };
      }
      case "POST /__mock/errors":
        control.injectError(parse(injectErrorSpecSchema, body, "POST /__mock/errors body"));
        return { status: 200, body: { ok: true } };
      case "DELETE /__mock/errors":
        control.clearErrors();
        return { status: 200, body: { ok: true } };
      case "POST /__mock/expire": {
        const b = parse(bodies.expire, body, "POST /__mock/expire body");
        const opts = b.sockets === undefined ? undefined : { sockets: b.sockets };
        return { status: 200, body: { expired: control.expireKey(b.listenKey, opts) } };
      }
      case "POST /__mock/listen-key-expired": {
        const b = parse(bodies.listenKeyExpired, body, "POST /__mock/listen-key-expired body");
        const opts = b.invalidate === undefined ? undefined : { invalidate: b.invalidate };
        return { status: 200, body: { sockets: control.sendListenKeyExpired(b.listenKey, opts) } };
      }
      case "POST /__mock/drop": {
        const b = parse(bodies.filter, body, "POST /__mock/drop body");
        return { status: 200, body: { dropped: control.dropSockets(b.filter) } };
      }
      case "POST /__mock/silence": {
        const b = parse(bodies.filter, body, "POST /__mock/silence body");
        return { status: 200, body: { silenced: control.silenceSockets(b.filter) } };
      }
      case "POST /__mock/api-keys/revoke":
      case "POST /__mock/api-keys/restore": {
        const b = parse(bodies.apiKey, body, `${route} body`);
        if (route.endsWith("revoke")) control.revokeApiKey(b.apiKey);
        else control.restoreApiKey(b.apiKey);
        return { status: 200, body: { ok: true } };
      }
      case "POST /__mock/pings/stop":
        control.stopPings();
        return { status: 200, body: { ok: true } };
      case "POST /__mock/pongs/stop":
        control.stopPongs();
        return { status: 200, body: { ok: true } };
      case "POST /__mock/resume":
        control.resume();
        return { status: 200, body: { ok: true } };
      case "PUT /__mock/account": {
        const b = parse(bodies.account, body, "PUT /__mock/account body");
        control.setAccount(b.target, b.snapshot);
        return { status: 200, body: { ok: true } };
      }
      case "PUT /__mock/open-orders": {
        const b = parse(bodies.openOrders, body, "PUT /__mock/open-orders body");
        control.setOpenOrders(b.target, b.orders);
        return { status: 200, body: { ok: true } };
      }
      case "POST /__mock/clock/advance": {
        const b = parse(bodies.advance, body, "POST /__mock/clock/advance body");
        if (!isMockClock(clock)) {
          throw new BinanceUsMockError(
            MockErrorCode.NOT_A_FAKE_CLOCK,
            "The mock runs on real time; start it with a fake clock (createMockClock()) to advance time",
          );
        }
        await clock.advance(b.ms);
        return { status: 200, body: { now: clock.now() } };
      }
      default:
        return {
          status: 404,
          body: {
            error: {
              code: MockErrorCode.UNKNOWN_ROUTE,
              message: `No control route ${route}; GET /__mock lists them`,
            },
          },
        };
    }
  } catch (err) {
    if (err instanceof BinanceUsMockError) {
      return { status: 400, body: { error: { code: err.code, message: err.message } } };
    }
    if (err instanceof z.ZodError) {
      return {
        status: 400,
        body: {
          error: { code: MockErrorCode.INVALID_CONTROL_INPUT, message: describeZodError(err) },
        },
      };
    }
    throw err;
  }
}
