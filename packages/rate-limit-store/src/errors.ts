/**
 * Every error this package throws carries one of these stable codes, so callers can
 * branch on `err.code` instead of parsing messages.
 *
 * @example
 * ```ts
 * try { await store.peek(specs); } catch (err) {
 *   if (err instanceof RateLimitStoreError && err.code === RateLimitStoreErrorCode.STORE_UNAVAILABLE) { ... }
 * }
 * ```
 */
export const RateLimitStoreErrorCode = {
  /** A store configuration (URL or options object) failed validation. */
  CONFIG_INVALID: "CONFIG_INVALID",
  /** A `CounterSpec` passed to `reserve`/`peek` is malformed (a programming error upstream). */
  SPEC_INVALID: "SPEC_INVALID",
  /** The backend could not be reached for an operation that has no failure mode (`peek`). */
  STORE_UNAVAILABLE: "STORE_UNAVAILABLE",
  /** The store was used after `close()`. */
  STORE_CLOSED: "STORE_CLOSED",
} as const;

/** Union of the string codes in {@link RateLimitStoreErrorCode}. */
export type RateLimitStoreErrorCode =
  (typeof RateLimitStoreErrorCode)[keyof typeof RateLimitStoreErrorCode];

/**
 * The one error class of this package. `data` holds structured details (paths, keys);
 * it never contains secrets such as Redis passwords.
 */
export class RateLimitStoreError extends Error {
  override readonly name = "RateLimitStoreError";
  readonly code: RateLimitStoreErrorCode;
  readonly data: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: RateLimitStoreErrorCode,
    message: string,
    data?: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.data = data;
  }
}

/** The error every store of this package throws when used after `close()`. */
export function storeClosedError(store: string): RateLimitStoreError {
  return new RateLimitStoreError(RateLimitStoreErrorCode.STORE_CLOSED, `${store} store is closed`);
}
