import { createHmac } from "node:crypto";
import { z } from "zod";
import { BinanceUsError, type BinanceUsErrorCode } from "./errors.js";
import { type Logger, silentLogger } from "./logger.js";
import { stripUndefined } from "./strip-undefined.js";

/** The `fetch` shape the client needs; the global `fetch` fits. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

const functionSchema = <T>(name: string) =>
  z.custom<T>((v) => typeof v === "function", { message: `${name} must be a function` });

/**
 * Options of {@link BinanceUsRestClient}, validated with zod when the client is created.
 * The client never reads the environment; the MCP tool layer falls back to
 * `BINANCE_US_API_KEY` / `BINANCE_US_API_SECRET`.
 */
export const RestClientOptionsSchema = z.object({
  apiKey: z
    .string({ message: "apiKey is required: pass your Binance.US API key" })
    .min(1, "apiKey must not be empty: pass your Binance.US API key"),
  apiSecret: z.string().min(1, "apiSecret must not be empty: omit it instead").optional(),
  restBaseUrl: z
    .url("restBaseUrl must be an absolute URL like https://api.binance.us")
    .default("https://api.binance.us"),
  requestTimeoutMs: z.number().int().positive().default(10_000),
  recvWindowMs: z.number().int().positive().max(60_000).default(5_000),
  now: functionSchema<() => number>("now").optional(),
  fetch: functionSchema<FetchLike>("fetch").optional(),
  logger: z.custom<Logger>().optional(),
});

/** Input accepted by {@link BinanceUsRestClient}. */
export type RestClientOptions = z.input<typeof RestClientOptionsSchema>;

/** Every successful call returns its data plus the IP's used request weight. */
export interface RestResult<T> {
  data: T;
  /** `X-MBX-USED-WEIGHT-1M` of the response (undefined if the header was absent). */
  usedWeight1m: number | undefined;
}

const ListenKeyResponse = z.looseObject({ listenKey: z.string().min(1) });
const EmptyResponse = z.looseObject({});
const ErrorBody = z.looseObject({ code: z.number(), msg: z.string().optional() });

/** Balances snapshot of `GET /api/v3/account`; amounts stay decimal strings. */
export const AccountSnapshotSchema = z.looseObject({
  updateTime: z.number().optional(),
  balances: z.array(z.looseObject({ asset: z.string(), free: z.string(), locked: z.string() })),
});
/** A parsed `GET /api/v3/account` body. */
export type AccountSnapshot = z.infer<typeof AccountSnapshotSchema>;

/** `GET /api/v3/openOrders`: kept loose, only the ids the connector relies on are checked. */
export const OpenOrdersSchema = z.array(
  z.looseObject({ symbol: z.string(), orderId: z.number(), clientOrderId: z.string() }),
);
/** A parsed `GET /api/v3/openOrders` body. */
export type OpenOrder = z.infer<typeof OpenOrdersSchema>[number];

/** Exchange error codes with a typed error of their own; the rest are `BINANCE_API_ERROR`. */
export const CODE_BY_BINANCE: Record<number, BinanceUsErrorCode> = {
  [-1125]: "LISTEN_KEY_NOT_FOUND",
  [-1102]: "MANDATORY_PARAM_MISSING",
  [-2014]: "API_KEY_FORMAT_INVALID",
  [-2015]: "API_KEY_REJECTED",
  [-1003]: "RATE_LIMITED",
};

/**
 * REST client for the Binance.US listen-key endpoints (`POST/PUT/DELETE
 * /api/v3/userDataStream`, security type USER_STREAM: API key header, no signature) and
 * the two signed snapshot endpoints used for resync.
 *
 * - Errors become {@link BinanceUsError} with stable codes; 5xx is
 *   `SERVER_ERROR_OUTCOME_UNKNOWN` because the request may have taken effect.
 * - After a 429/418 the client refuses to send anything until `Retry-After` has passed
 *   (it fails fast with the same code), so no caller can ignore it and earn an IP ban.
 * - The listen key travels in a form body rather than the URL, so it stays out of
 *   access logs along the way.
 *
 * @example
 * ```ts
 * const rest = new BinanceUsRestClient({ apiKey: process.env.BINANCE_US_API_KEY! });
 * const { data } = await rest.createListenKey();
 * await rest.keepaliveListenKey(data.listenKey);
 * ```
 */
export class BinanceUsRestClient {
  readonly #apiKey: string;
  readonly #apiSecret: string | undefined;
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #recvWindowMs: number;
  readonly #now: () => number;
  readonly #fetch: FetchLike;
  readonly #logger: Logger;
  #blockedUntil = 0;
  #blockedCode: BinanceUsErrorCode = "RATE_LIMITED";
  #lastUsedWeight: number | undefined;

  constructor(options: RestClientOptions) {
    const parsed = RestClientOptionsSchema.safeParse(options);
    if (!parsed.success) throw optionsError(parsed.error);
    const o = parsed.data;
    this.#apiKey = o.apiKey;
    this.#apiSecret = o.apiSecret;
    this.#base = o.restBaseUrl.replace(/\/+$/, "");
    this.#timeoutMs = o.requestTimeoutMs;
    this.#recvWindowMs = o.recvWindowMs;
    this.#now = o.now ?? Date.now;
    this.#fetch = o.fetch ?? (globalThis.fetch as unknown as FetchLike);
    this.#logger = o.logger ?? silentLogger;
  }

  /** Whether a secret is configured (signed resync endpoints available). */
  get canSign(): boolean {
    return this.#apiSecret !== undefined;
  }

  /** Last `X-MBX-USED-WEIGHT-1M` seen on any response. */
  get usedWeight1m(): number | undefined {
    return this.#lastUsedWeight;
  }

  /** Epoch ms until which requests are refused because of `Retry-After` (0 if none). */
  get blockedUntil(): number {
    return this.#blockedUntil;
  }

  /** `POST /api/v3/userDataStream`: get-or-extend the account's single listen key. */
  async createListenKey(): Promise<RestResult<{ listenKey: string }>> {
    const res = await this.#request("POST", "/api/v3/userDataStream", {}, false);
    return { data: parseBody(ListenKeyResponse, res.body), usedWeight1m: res.usedWeight1m };
  }

  /** `PUT /api/v3/userDataStream`: extend the key's validity by 60 minutes. */
  async keepaliveListenKey(listenKey: string): Promise<RestResult<Record<string, never>>> {
    const res = await this.#request("PUT", "/api/v3/userDataStream", { listenKey }, false);
    parseBody(EmptyResponse, res.body);
    return { data: {}, usedWeight1m: res.usedWeight1m };
  }

  /** `DELETE /api/v3/userDataStream`: close the stream for every process on the account. */
  async closeListenKey(listenKey: string): Promise<RestResult<Record<string, never>>> {
    const res = await this.#request("DELETE", "/api/v3/userDataStream", { listenKey }, false);
    parseBody(EmptyResponse, res.body);
    return { data: {}, usedWeight1m: res.usedWeight1m };
  }

  /** Signed `GET /api/v3/account` (weight 10); requires `apiSecret`. */
  async getAccount(): Promise<RestResult<AccountSnapshot>> {
    const res = await this.#request("GET", "/api/v3/account", {}, true);
    return { data: parseBody(AccountSnapshotSchema, res.body), usedWeight1m: res.usedWeight1m };
  }

  /** Signed `GET /api/v3/openOrders`; requires `apiSecret`. */
  async getOpenOrders(): Promise<RestResult<OpenOrder[]>> {
    const res = await this.#request("GET", "/api/v3/openOrders", {}, true);
    return { data: parseBody(OpenOrdersSchema, res.body), usedWeight1m: res.usedWeight1m };
  }

  async #request(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    params: Record<string, string>,
    signed: boolean,
  ): Promise<{ body: unknown; usedWeight1m: number | undefined }> {
    const now = this.#now();
    if (now < this.#blockedUntil) {
      const retryAfterMs = this.#blockedUntil - now;
      throw new BinanceUsError(
        this.#blockedCode,
        `${method} ${path} not sent: Retry-After still running for ${Math.ceil(retryAfterMs / 1000)} s`,
        { retryAfterMs },
      );
    }
    const headers: Record<string, string> = { "X-MBX-APIKEY": this.#apiKey };
    let url = this.#base + path;
    let body: string | undefined;
    if (signed) {
      if (this.#apiSecret === undefined) {
        throw new BinanceUsError(
          "SECRET_REQUIRED",
          `${path} is a signed endpoint: configure apiSecret (or BINANCE_US_API_SECRET) to use it`,
        );
      }
      const query = new URLSearchParams({
        ...params,
        recvWindow: String(this.#recvWindowMs),
        timestamp: String(now),
      }).toString();
      const signature = createHmac("sha256", this.#apiSecret).update(query).digest("hex");
      url += `?${query}&signature=${signature}`;
    } else if (Object.keys(params).length > 0) {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(params).toString();
    }

    // The request timeout measures real network time, so it runs on a real timer even when
    // the clock and scheduler are fake: a test moving fake time by an hour must not abort a
    // request that is still legitimately in flight. The timer is cleared as soon as the
    // response is read (AbortSignal.timeout would keep a handle alive for the full period
    // after every request, so close() would leave timers behind).
    const controller = new AbortController();
    const { signal } = controller;
    const timeout = globalThis.setTimeout(() => controller.abort(), this.#timeoutMs);
    timeout.unref?.();
    let status: number;
    let text: string;
    let usedWeight1m: number | undefined;
    try {
      const init: Parameters<FetchLike>[1] = { method, headers, signal };
      if (body !== undefined) init.body = body;
      const res = await this.#fetch(url, init);
      status = res.status;
      usedWeight1m = parseWeight(res.headers.get("x-mbx-used-weight-1m"));
      if (usedWeight1m !== undefined) this.#lastUsedWeight = usedWeight1m;
      const retryAfter = res.headers.get("retry-after");
      text = await res.text();
      if (status === 429 || status === 418) {
        throw this.#throttled(method, path, status, retryAfter, usedWeight1m);
      }
    } catch (err) {
      if (err instanceof BinanceUsError) throw err;
      const timedOut = signal.aborted;
      throw new BinanceUsError(
        timedOut ? "TIMEOUT" : "NETWORK_ERROR",
        timedOut
          ? `${method} ${path} timed out after ${this.#timeoutMs} ms; the outcome is unknown`
          : `${method} ${path} failed before a response: ${this.#scrub(errorMessage(err))}`,
      );
    } finally {
      globalThis.clearTimeout(timeout);
    }

    const json = safeJson(text);
    if (status >= 200 && status < 300) return { body: json, usedWeight1m };
    throw this.#responseError(`${method} ${path}`, status, json, usedWeight1m);
  }

  /** A 429/418: closes the gate until `Retry-After` has passed and returns the error. */
  #throttled(
    method: string,
    path: string,
    status: number,
    retryAfter: string | null,
    usedWeight1m: number | undefined,
  ): BinanceUsError {
    const retryAfterMs = parseRetryAfter(retryAfter, status);
    this.#blockedUntil = this.#now() + retryAfterMs;
    this.#blockedCode = status === 418 ? "IP_BANNED" : "RATE_LIMITED";
    this.#logger.warn("binance-us request throttled", {
      method,
      path,
      status,
      retryAfterMs,
      usedWeight1m,
    });
    return new BinanceUsError(
      this.#blockedCode,
      `${method} ${path} ${status === 418 ? "refused: IP banned" : "rate limited"}; retry after ${Math.ceil(retryAfterMs / 1000)} s`,
      stripUndefined({ status, retryAfterMs, usedWeight1m }),
    );
  }

  /** A non-2xx answer as the typed error for it (5xx, WAF 403, or the exchange's code). */
  #responseError(
    what: string,
    status: number,
    json: unknown,
    usedWeight1m: number | undefined,
  ): BinanceUsError {
    if (status >= 500) {
      return new BinanceUsError(
        "SERVER_ERROR_OUTCOME_UNKNOWN",
        `${what} returned HTTP ${status}; the request may or may not have taken effect`,
        stripUndefined({ status, usedWeight1m }),
      );
    }
    if (status === 403) {
      return new BinanceUsError(
        "WAF_BLOCKED",
        `${what} blocked by the exchange's web application firewall (HTTP 403)`,
        stripUndefined({ status, usedWeight1m }),
      );
    }
    const err = ErrorBody.safeParse(json);
    const binanceCode = err.success ? err.data.code : undefined;
    const code = (binanceCode !== undefined && CODE_BY_BINANCE[binanceCode]) || "BINANCE_API_ERROR";
    const msg = err.success && err.data.msg ? this.#scrub(err.data.msg) : `HTTP ${status}`;
    return new BinanceUsError(
      code,
      `${what} failed: ${binanceCode ?? status} ${msg}`,
      stripUndefined({ status, binanceCode, usedWeight1m }),
    );
  }

  #scrub(text: string): string {
    let out = text.split(this.#apiKey).join("[redacted]");
    if (this.#apiSecret) out = out.split(this.#apiSecret).join("[redacted]");
    return out;
  }
}

function parseWeight(value: string | null): number | undefined {
  if (value === null) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** `Retry-After` is seconds on Binance; when absent assume a minute (one weight window). */
function parseRetryAfter(value: string | null, status: number): number {
  const seconds = value === null ? Number.NaN : Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  return status === 418 ? 120_000 : 60_000;
}

function safeJson(text: string): unknown {
  try {
    return text.length === 0 ? {} : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new BinanceUsError(
      "INVALID_RESPONSE",
      `unexpected response body: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Turns a zod error on options into a typed error naming each path and the fix. */
export function optionsError(error: z.ZodError): BinanceUsError {
  const detail = error.issues
    .map((i) => `${i.path.join(".") || "(options)"}: ${i.message}`)
    .join("; ");
  return new BinanceUsError("OPTIONS_INVALID", `invalid options: ${detail}`);
}
