import { z } from "zod";
import type { Clock, MockClock } from "./clock.js";
import { bookSchema, type MockControl, parse } from "./control.js";
import { BinanceUsMockError, MockErrorCode } from "./errors.js";
import {
  accountSnapshotInputSchema,
  describeZodError,
  injectErrorSpecSchema,
  mockTargetSchema,
  mockTunablesSchema,
  openOrderInputSchema,
  socketFilterSchema,
} from "./options.js";

function isMockClock(clock: Clock): clock is MockClock {
  return typeof (clock as MockClock).advance === "function";
}

const accountRef = z.union([
  z.object({ account: z.string().min(1) }).strict(),
  z.object({ apiKey: z.string().min(1) }).strict(),
]);

const EVENT_TYPES = [
  "executionReport",
  "executionReportFill",
  "executionReportPartialFill",
  "executionReportCanceled",
  "executionReportExpired",
  "executionReportTrailing",
  "executionReportPrevented",
  "outboundAccountPosition",
  "balanceUpdate",
  "listStatus",
] as const;

const bodies = {
  apiKey: z.object({ apiKey: z.string().min(1, "apiKey is required: the key to revoke/restore") }),
  events: z
    .object({
      target: mockTargetSchema,
      event: z.record(z.string(), z.unknown()).optional(),
      type: z.enum(EVENT_TYPES).optional(),
      fields: z.record(z.string(), z.unknown()).optional(),
    })
    .strict()
    .refine((b) => (b.event === undefined) !== (b.type === undefined), {
      message: "give either `event` (a full object) or `type` (+ optional `fields`), not both",
    }),
  expire: z
    .object({
      listenKey: z.string().min(1),
      sockets: z.enum(["event", "event-close", "close", "keep"]).optional(),
    })
    .strict(),
  listenKeyExpired: z
    .object({
      listenKey: z.string().min(1),
      invalidate: z.boolean().optional(),
      close: z.boolean().optional(),
    })
    .strict(),
  filter: z.object({ filter: socketFilterSchema.optional() }).strict(),
  account: z.object({ target: accountRef, snapshot: accountSnapshotInputSchema }).strict(),
  openOrders: z.object({ target: accountRef, orders: z.array(openOrderInputSchema) }).strict(),
  advance: z.object({ ms: z.number().int().nonnegative() }).strict(),
  book: z
    .object({ symbol: z.string().min(1), bids: bookSchema.shape.bids, asks: bookSchema.shape.asks })
    .strict(),
};

/** Routes of the HTTP control API, listed by `GET /__mock`. */
export const CONTROL_ROUTES = [
  "GET  /__mock/state",
  "GET  /__mock/requests",
  "GET  /__mock/options",
  "PUT  /__mock/options           {keyValidityMs?, pingIntervalMs?, pongTimeoutMs?, connectionMaxAgeMs?, weightLimitPerMinute?, banAfterEarlyRetries?, banDurationSec?, maxIncomingMessagesPerSec?, onIncomingLimit?, unknownKeyOnConnect?, onKeyExpiry?, requestLogLimit?}",
  "POST /__mock/events            {target:{listenKey}|{apiKey}|{account}, event} or {target, type, fields}",
  "POST /__mock/errors            {status?, method?, path?, transport?, code?, msg?, body?: json|html|empty, retryAfterSec?, delayMs?, hang?, times?, applied?, sticky?}",
  "DELETE /__mock/errors",
  "POST /__mock/expire            {listenKey, sockets?: event|event-close|close|keep}",
  "POST /__mock/listen-key-expired {listenKey, invalidate?, close?}",
  "POST /__mock/drop              {filter?: {listenKey?, apiKey?, account?, socketId?}}",
  "POST /__mock/silence           {filter?}",
  "POST /__mock/api-keys/revoke   {apiKey}   (answers -2015 until restored)",
  "POST /__mock/api-keys/restore  {apiKey}",
  "POST /__mock/pings/stop",
  "POST /__mock/pongs/stop",
  "POST /__mock/resume",
  "PUT  /__mock/account           {target:{account}|{apiKey}, snapshot:{balances?, updateTime?, ...}}",
  "PUT  /__mock/open-orders       {target, orders:[...]}",
  "PUT  /__mock/book              {symbol, bids:[[price,qty]...], asks:[[price,qty]...]}",
  "GET  /__mock/book?symbol=BTCUSD",
  "POST /__mock/clock/advance     {ms}   (fake clock only)",
] as const;

/** Result of one control HTTP call. */
export interface ControlHttpResult {
  status: number;
  body: unknown;
}

type Handler = (c: MockControl, body: unknown, query: URLSearchParams, clock: Clock) => unknown;
const OK = { ok: true };

const ROUTES: Record<string, Handler> = {
  "GET /__mock": () => ({ routes: CONTROL_ROUTES }),
  "GET /__mock/state": (c) => c.state(),
  "GET /__mock/requests": (c) => c.requests,
  "GET /__mock/options": (c) => c.options(),
  "PUT /__mock/options": (c, body) =>
    c.setOptions(parse(mockTunablesSchema, body, "PUT /__mock/options body")),
  "POST /__mock/events": (c, body) => {
    const b = parse(bodies.events, body, "POST /__mock/events body");
    const event = b.event ?? c.build[b.type!](b.fields ?? {});
    return { delivered: c.pushEvent(b.target, event), event };
  },
  "POST /__mock/errors": (c, body) => {
    c.injectError(parse(injectErrorSpecSchema, body, "POST /__mock/errors body"));
    return OK;
  },
  "DELETE /__mock/errors": (c) => {
    c.clearErrors();
    return OK;
  },
  "POST /__mock/expire": (c, body) => {
    const b = parse(bodies.expire, body, "POST /__mock/expire body");
    return {
      expired: c.expireKey(b.listenKey, b.sockets === undefined ? {} : { sockets: b.sockets }),
    };
  },
  "POST /__mock/listen-key-expired": (c, body) => {
    const b = parse(bodies.listenKeyExpired, body, "POST /__mock/listen-key-expired body");
    const { listenKey, ...opts } = b;
    return { sockets: c.sendListenKeyExpired(listenKey, opts) };
  },
  "POST /__mock/drop": (c, body) => ({
    dropped: c.dropSockets(parse(bodies.filter, body, "POST /__mock/drop body").filter),
  }),
  "POST /__mock/silence": (c, body) => ({
    silenced: c.silenceSockets(parse(bodies.filter, body, "POST /__mock/silence body").filter),
  }),
  "POST /__mock/api-keys/revoke": (c, body) => {
    c.revokeApiKey(parse(bodies.apiKey, body, "POST /__mock/api-keys/revoke body").apiKey);
    return OK;
  },
  "POST /__mock/api-keys/restore": (c, body) => {
    c.restoreApiKey(parse(bodies.apiKey, body, "POST /__mock/api-keys/restore body").apiKey);
    return OK;
  },
  "POST /__mock/pings/stop": (c) => {
    c.stopPings();
    return OK;
  },
  "POST /__mock/pongs/stop": (c) => {
    c.stopPongs();
    return OK;
  },
  "POST /__mock/resume": (c) => {
    c.resume();
    return OK;
  },
  "PUT /__mock/account": (c, body) => {
    const b = parse(bodies.account, body, "PUT /__mock/account body");
    c.setAccount(b.target, b.snapshot);
    return OK;
  },
  "PUT /__mock/open-orders": (c, body) => {
    const b = parse(bodies.openOrders, body, "PUT /__mock/open-orders body");
    c.setOpenOrders(b.target, b.orders);
    return OK;
  },
  "PUT /__mock/book": (c, body) => {
    const { symbol, ...book } = parse(bodies.book, body, "PUT /__mock/book body");
    c.setBook(symbol, book);
    return { book: c.book(symbol) };
  },
  "GET /__mock/book": (c, _body, query) => {
    const symbol = query.get("symbol") ?? "BTCUSD";
    const book = c.book(symbol);
    if (!book) {
      throw new BinanceUsMockError(
        MockErrorCode.INVALID_CONTROL_INPUT,
        `symbol: ${symbol} is not listed (GET /api/v3/exchangeInfo lists the symbols)`,
      );
    }
    return { symbol, ...book };
  },
  "POST /__mock/clock/advance": async (_c, body, _q, clock) => {
    const b = parse(bodies.advance, body, "POST /__mock/clock/advance body");
    if (!isMockClock(clock)) {
      throw new BinanceUsMockError(
        MockErrorCode.NOT_A_FAKE_CLOCK,
        "The mock runs on real time; start it with a fake clock (createMockClock()) to advance time",
      );
    }
    await clock.advance(b.ms);
    return { now: clock.now() };
  },
};

function failure(code: string, message: string, status = 400): ControlHttpResult {
  return { status, body: { error: { code, message } } };
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
  query: URLSearchParams = new URLSearchParams(),
): Promise<ControlHttpResult> {
  let body: unknown = {};
  if (rawBody.trim() !== "") {
    try {
      body = JSON.parse(rawBody);
    } catch {
      return failure(
        MockErrorCode.INVALID_CONTROL_INPUT,
        "Body must be JSON (Content-Type: application/json)",
      );
    }
  }
  const route = `${method} ${path}`;
  const handler = ROUTES[route];
  if (!handler) {
    return failure(
      MockErrorCode.UNKNOWN_ROUTE,
      `No control route ${route}; GET /__mock lists them`,
      404,
    );
  }
  try {
    return { status: 200, body: await handler(control, body, query, clock) };
  } catch (err) {
    if (err instanceof BinanceUsMockError) return failure(err.code, err.message);
    if (err instanceof z.ZodError) {
      return failure(MockErrorCode.INVALID_CONTROL_INPUT, describeZodError(err));
    }
    throw err;
  }
}
