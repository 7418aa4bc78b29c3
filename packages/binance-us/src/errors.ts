/**
 * Stable error codes of `@toolgate/binance-us`, one table for the whole package.
 *
 * Each entry says which exchange code or HTTP status produces it and how a caller should
 * react: `fatal` errors (bad or rejected API key) must never be retried, `transient` ones
 * may be retried with backoff (after `retryAfterMs` when present).
 *
 * @example
 * ```ts
 * if (err instanceof BinanceUsError && BINANCE_US_ERRORS[err.code].fatal) stop();
 * ```
 */
export const BINANCE_US_ERRORS = {
  LISTEN_KEY_NOT_FOUND: { binanceCode: -1125, httpStatus: 400, fatal: false, transient: false },
  MANDATORY_PARAM_MISSING: { binanceCode: -1102, httpStatus: 400, fatal: false, transient: false },
  API_KEY_FORMAT_INVALID: { binanceCode: -2014, httpStatus: 401, fatal: true, transient: false },
  API_KEY_REJECTED: { binanceCode: -2015, httpStatus: 401, fatal: true, transient: false },
  RATE_LIMITED: { binanceCode: -1003, httpStatus: 429, fatal: false, transient: true },
  IP_BANNED: { binanceCode: undefined, httpStatus: 418, fatal: false, transient: true },
  WAF_BLOCKED: { binanceCode: undefined, httpStatus: 403, fatal: false, transient: true },
  SERVER_ERROR_OUTCOME_UNKNOWN: {
    binanceCode: undefined,
    httpStatus: 500,
    fatal: false,
    transient: true,
  },
  BINANCE_API_ERROR: { binanceCode: undefined, httpStatus: 400, fatal: false, transient: false },
  NETWORK_ERROR: { binanceCode: undefined, httpStatus: undefined, fatal: false, transient: true },
  TIMEOUT: { binanceCode: undefined, httpStatus: undefined, fatal: false, transient: true },
  INVALID_RESPONSE: {
    binanceCode: undefined,
    httpStatus: undefined,
    fatal: false,
    transient: true,
  },
  SECRET_REQUIRED: {
    binanceCode: undefined,
    httpStatus: undefined,
    fatal: false,
    transient: false,
  },
  OPTIONS_INVALID: { binanceCode: undefined, httpStatus: undefined, fatal: true, transient: false },
  CLOSED: { binanceCode: undefined, httpStatus: undefined, fatal: false, transient: false },
} as const;

/** One of the stable string codes in {@link BINANCE_US_ERRORS}. */
export type BinanceUsErrorCode = keyof typeof BINANCE_US_ERRORS;

/** Extra, secret-free facts attached to a {@link BinanceUsError}. */
export interface BinanceUsErrorData {
  /** HTTP status of the response, when there was one. */
  status?: number;
  /** The exchange's numeric error code (`-1125`, ...), when it sent one. */
  binanceCode?: number;
  /** How long to wait before the next request, from `Retry-After` (429/418). */
  retryAfterMs?: number;
  /** `X-MBX-USED-WEIGHT-1M` of the failing response, when present. */
  usedWeight1m?: number;
}

/**
 * The only error type this package throws. `code` is stable and safe to branch on; the
 * message never contains an API key, secret or full listen key.
 *
 * @example
 * ```ts
 * try { await rest.keepaliveListenKey(key); }
 * catch (e) { if (e instanceof BinanceUsError && e.code === "LISTEN_KEY_NOT_FOUND") recreate(); }
 * ```
 */
export class BinanceUsError extends Error {
  override readonly name = "BinanceUsError";
  readonly code: BinanceUsErrorCode;
  readonly data: BinanceUsErrorData;

  constructor(
    code: BinanceUsErrorCode,
    message: string,
    data: BinanceUsErrorData = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.data = data;
  }

  /** True for -2014/-2015: retrying cannot help, a person must fix the key. */
  get fatal(): boolean {
    return BINANCE_US_ERRORS[this.code].fatal;
  }

  /** True when retrying later (with backoff) may succeed. */
  get transient(): boolean {
    return BINANCE_US_ERRORS[this.code].transient;
  }

  /** Milliseconds to wait before the next request, from `Retry-After`. */
  get retryAfterMs(): number | undefined {
    return this.data.retryAfterMs;
  }

  /** A plain, log-safe view. */
  toJSON(): { name: string; code: BinanceUsErrorCode; message: string } & BinanceUsErrorData {
    return { name: this.name, code: this.code, message: this.message, ...this.data };
  }
}

/** Narrowing helper that also works across duplicated module copies. */
export function isBinanceUsError(value: unknown): value is BinanceUsError {
  return (
    value instanceof BinanceUsError ||
    (typeof value === "object" &&
      value !== null &&
      (value as { name?: unknown }).name === "BinanceUsError" &&
      typeof (value as { code?: unknown }).code === "string")
  );
}

/**
 * Anything caught at an internal boundary as a {@link BinanceUsError}: typed errors pass
 * through; anything else (a socket or runtime failure) becomes `NETWORK_ERROR`, so callers
 * can always branch on `code`, `fatal` and `transient`.
 */
export function toTypedError(error: unknown): BinanceUsError {
  if (isBinanceUsError(error)) return error;
  return new BinanceUsError(
    "NETWORK_ERROR",
    `unexpected failure: ${error instanceof Error ? error.message : String(error)}`,
  );
}
