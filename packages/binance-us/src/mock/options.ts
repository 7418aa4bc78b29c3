import { z } from "zod";
import type { Clock } from "./clock.js";
import { BinanceUsMockError, MockErrorCode } from "./errors.js";

/**
 * Structured logger the mock writes to. Pino-compatible (`logger.info(fields, msg)`), so a
 * pino instance can be passed directly. API keys and secrets are masked before logging.
 */
export interface MockLogger {
  info(fields: Record<string, unknown>, msg?: string): void;
  warn(fields: Record<string, unknown>, msg?: string): void;
  debug?(fields: Record<string, unknown>, msg?: string): void;
}

const DECIMAL_FIX = 'must be a decimal string such as "1.00000000" (never a number)';
const decimal = z.string({ error: DECIMAL_FIX }).regex(/^-?\d+(\.\d+)?$/, DECIMAL_FIX);

const clockSchema = z.custom<Clock>(
  (v) =>
    typeof v === "object" &&
    v !== null &&
    typeof (v as Clock).now === "function" &&
    typeof (v as Clock).setTimeout === "function" &&
    typeof (v as Clock).clearTimeout === "function",
  "must be a clock with now(), setTimeout() and clearTimeout(); use createMockClock() or omit it for real time",
);

const loggerSchema = z.custom<MockLogger>(
  (v) =>
    typeof v === "object" &&
    v !== null &&
    typeof (v as MockLogger).info === "function" &&
    typeof (v as MockLogger).warn === "function",
  "must have info(fields, msg) and warn(fields, msg) (a pino logger works)",
);

const positiveMs = z.number().int().positive();

const EXPIRY_MODES = ["event", "event-close", "close", "keep"] as const;

/**
 * The options that can also be changed while the mock runs (`control.setOptions`,
 * `PUT /__mock/options`, and the bin's flags). New values apply to what happens next:
 * a timer already armed (a key's expiry, a socket's ping or 24 h cut) keeps its length.
 */
export const mockTunablesSchema = z
  .object({
    keyValidityMs: positiveMs,
    pingIntervalMs: positiveMs,
    pongTimeoutMs: positiveMs,
    connectionMaxAgeMs: positiveMs,
    weightLimitPerMinute: z.number().int().positive(),
    banAfterEarlyRetries: z.number().int().positive(),
    banDurationSec: z.number().int().positive(),
    maxIncomingMessagesPerSec: z.number().int().positive(),
    onIncomingLimit: z.enum(["disconnect", "count"]),
    unknownKeyOnConnect: z.enum(["reject", "close", "silent"]),
    onKeyExpiry: z.enum(EXPIRY_MODES),
    requestLogLimit: z.number().int().positive(),
  })
  .partial()
  .strict();

/** Input of `control.setOptions`: any subset of the run-time adjustable options. */
export type MockTunables = z.infer<typeof mockTunablesSchema>;

/** Zod schema of {@link BinanceUsMockOptions}; errors name the option and the fix. */
const binanceUsMockOptionsSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65_535).default(0),
    clock: clockSchema.optional(),
    apiKeys: z
      .record(
        z.string().min(1, "an API key must not be empty"),
        z
          .object({
            secret: z.string().min(1).optional(),
            account: z.string().min(1).optional(),
          })
          .strict(),
      )
      .optional(),
    apiKeyPattern: z.instanceof(RegExp).default(/^[A-Za-z0-9]{64}$/),
    keyValidityMs: positiveMs.default(60 * 60_000),
    pingIntervalMs: positiveMs.default(3 * 60_000),
    pongTimeoutMs: positiveMs.default(10 * 60_000),
    connectionMaxAgeMs: positiveMs.default(24 * 60 * 60_000),
    weightLimitPerMinute: z.number().int().positive().default(1200),
    banAfterEarlyRetries: z.number().int().positive().default(3),
    banDurationSec: z.number().int().positive().default(120),
    maxIncomingMessagesPerSec: z.number().int().positive().default(5),
    onIncomingLimit: z.enum(["disconnect", "count"]).default("disconnect"),
    unknownKeyOnConnect: z.enum(["reject", "close", "silent"]).default("reject"),
    onKeyExpiry: z.enum(EXPIRY_MODES).default("event"),
    requestLogLimit: z.number().int().positive().default(1000),
    logger: loggerSchema.optional(),
    generateListenKey: z
      .custom<() => string>((v) => typeof v === "function", "must be a function returning a string")
      .optional(),
  })
  .strict();

/**
 * Options of {@link startBinanceUsMock}. Every field is optional; defaults are the real
 * exchange's numbers.
 *
 * - `host` 127.0.0.1, `port` 0 (a free port).
 * - `clock`: real time by default; pass {@link createMockClock} for tests.
 * - `apiKeys`: accepted keys, each with an optional `secret` (needed for signed endpoints)
 *   and `account` (keys naming one account share its listen key). Unset: any key matching
 *   `apiKeyPattern` (64 letters/digits) is accepted and is its own account. Listed keys are
 *   always accepted; an unlisted key answers 401 -2014 when malformed, else 401 -2015.
 * - `keyValidityMs` 60 min, `pingIntervalMs` 3 min, `pongTimeoutMs` 10 min,
 *   `connectionMaxAgeMs` 24 h.
 * - `weightLimitPerMinute` 1200 (per IP); `banAfterEarlyRetries` 3 calls inside a 429's
 *   `Retry-After` earn a 418 ban of `banDurationSec` 120 s, doubling per repeat up to 3 days.
 * - `maxIncomingMessagesPerSec` 5 per connection; `onIncomingLimit` "disconnect" (or
 *   "count" only).
 * - `unknownKeyOnConnect` "reject" (HTTP 400 with the -1125 body on the upgrade), "close"
 *   (accept, then close 1008) or "silent" (accept and never send anything).
 * - `onKeyExpiry` "event" (send `listenKeyExpired`; the socket stays open and silent, as on
 *   the exchange), "event-close" (the event, then a close frame), "close" (plain close) or
 *   "keep" (no event; the socket stays open and delivers nothing).
 */
export type BinanceUsMockOptions = z.input<typeof binanceUsMockOptionsSchema>;

/** Options after defaults were applied. */
export type ResolvedMockOptions = z.output<typeof binanceUsMockOptionsSchema>;

/** Formats a zod error as "path: problem" lines so the caller sees what to fix. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`)
    .join("; ");
}

/** Validates options, throwing {@link BinanceUsMockError} `MOCK_INVALID_OPTIONS`. */
export function parseMockOptions(input: unknown): ResolvedMockOptions {
  const parsed = binanceUsMockOptionsSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new BinanceUsMockError(
      MockErrorCode.INVALID_OPTIONS,
      `Invalid Binance.US mock options: ${describeZodError(parsed.error)}`,
      {
        problems: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      },
    );
  }
  return parsed.data;
}

/** Where an event or account change goes: a listen key, an API key's account, or an account. */
export const mockTargetSchema = z.union([
  z.object({ listenKey: z.string().min(1) }).strict(),
  z.object({ apiKey: z.string().min(1) }).strict(),
  z.object({ account: z.string().min(1) }).strict(),
]);

/** A {@link mockTargetSchema} value. */
export type MockTarget = z.infer<typeof mockTargetSchema>;

/** One balance line of an account snapshot (amounts are decimal strings). */
const mockBalanceSchema = z
  .object({ asset: z.string().min(1), free: decimal, locked: decimal })
  .strict();

/** Fields a test may set on an account snapshot; the rest keep realistic defaults. */
export const accountSnapshotInputSchema = z
  .object({
    balances: z.array(mockBalanceSchema).optional(),
    updateTime: z.number().int().nonnegative().optional(),
    canTrade: z.boolean().optional(),
    canWithdraw: z.boolean().optional(),
    canDeposit: z.boolean().optional(),
    permissions: z.array(z.string()).optional(),
  })
  .strict();

/** Input of {@link MockControl.setAccount}. */
export type AccountSnapshotInput = z.infer<typeof accountSnapshotInputSchema>;

/** An open order as `GET /api/v3/openOrders` returns it; unspecified fields get defaults. */
export const openOrderInputSchema = z
  .object({
    symbol: z.string().min(1).optional(),
    orderId: z.number().int().optional(),
    clientOrderId: z.string().optional(),
    price: decimal.optional(),
    origQty: decimal.optional(),
    executedQty: decimal.optional(),
    status: z.string().optional(),
    timeInForce: z.string().optional(),
    type: z.string().optional(),
    side: z.enum(["BUY", "SELL"]).optional(),
    time: z.number().int().optional(),
  })
  .passthrough();

/** Input of {@link MockControl.setOpenOrders}. */
export type OpenOrderInput = z.infer<typeof openOrderInputSchema>;

/**
 * An error to inject into the next matching REST call(s).
 *
 * - `method`/`path`: match only these (default: any `/api/...` call).
 * - `status`: 429, 418, 403 or 5xx. `code`/`msg` default to the documented body for it.
 * - `retryAfterSec`: sent as `Retry-After`. With `sticky`, the IP also stays limited for
 *   that long, as the real exchange does (early calls get 429 again, then 418). A 429/418
 *   without it still carries `Retry-After`, as the exchange's always do: the rest of the
 *   weight minute for 429, `banDurationSec` for 418.
 * - `times`: how many calls it hits (default 1).
 * - `applied`: for 5xx, perform the request (e.g. create/extend the key) and still report
 *   failure — the "outcome unknown" case.
 * - `transport`: match only REST or only WebSocket API calls (WebSocket API methods match
 *   their REST twins: `userDataStream.start` is `POST /api/v3/userDataStream`, `.ping` PUT,
 *   `.stop` DELETE, `time` and `ping` the GET routes).
 * - `body`: `json` (a Binance `{code,msg}` body), `html` (a WAF page, `text/html`) or
 *   `empty`, for clients that must survive a non-JSON error.
 * - `delayMs`: answer this much later on the mock's clock; `hang`: never answer (the
 *   connection ends when the mock closes). Without `status` the real answer is delayed.
 */
export const injectErrorSpecSchema = z
  .object({
    method: z
      .string()
      .transform((m) => m.toUpperCase())
      .pipe(z.enum(["GET", "POST", "PUT", "DELETE"]))
      .optional(),
    path: z.string().startsWith("/", "must be a path such as /api/v3/userDataStream").optional(),
    transport: z.enum(["rest", "ws-api"]).optional(),
    status: z
      .number()
      .int()
      .refine(
        (s) => s === 429 || s === 418 || s === 403 || (s >= 500 && s <= 599),
        "must be 429, 418, 403 or 500-599",
      )
      .optional(),
    code: z.number().int().optional(),
    msg: z.string().optional(),
    body: z.enum(["json", "html", "empty"]).default("json"),
    retryAfterSec: z.number().int().nonnegative().optional(),
    delayMs: z.number().int().positive().optional(),
    hang: z.boolean().default(false),
    times: z.number().int().positive().default(1),
    applied: z.boolean().default(false),
    sticky: z.boolean().default(false),
  })
  .strict()
  .refine((s) => s.status !== undefined || s.delayMs !== undefined || s.hang, {
    message: "give a status (429, 418, 403, 5xx), or delayMs / hang for a slow or hanging answer",
  });

/** Input of {@link MockControl.injectError}. */
export type InjectErrorSpec = z.input<typeof injectErrorSpecSchema>;
/** {@link InjectErrorSpec} after validation and defaults, as the exchange core takes it. */
export type InjectErrorSpecParsed = z.output<typeof injectErrorSpecSchema>;

/** Selects sockets for `dropSockets` / `silenceSockets`; empty selects every socket. */
export const socketFilterSchema = z
  .object({
    listenKey: z.string().optional(),
    apiKey: z.string().optional(),
    account: z.string().optional(),
    socketId: z.number().int().optional(),
  })
  .strict();

/** Input of {@link MockControl.dropSockets}. */
export type SocketFilter = z.infer<typeof socketFilterSchema>;
