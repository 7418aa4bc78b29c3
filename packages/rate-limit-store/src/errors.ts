import { ToolgateError } from "@toolgate/policy-engine";

/**
 * Every error this package throws carries one of these stable codes, so callers can
 * branch on `err.code` instead of parsing messages. `SPEC_INVALID` and `STORE_CLOSED`
 * have the same values as the policy engine's codes for the memory store, so a caller
 * handles every store alike.
 *
 * @example
 * ```ts
 * try { await store.peek(specs); } catch (err) {
 *   if (err instanceof ToolgateError && err.code === RateLimitStoreErrorCode.STORE_UNAVAILABLE) { ... }
 * }
 * ```
 */
export const RateLimitStoreErrorCode = {
  /** A store configuration (URL or options object) failed validation. */
  CONFIG_INVALID: "CONFIG_INVALID",
  /** A `CounterSpec` passed to `reserve`/`peek` is malformed (a programming error upstream). */
  SPEC_INVALID: "SPEC_INVALID",
  /**
   * The backend could not be reached. `peek` rejects with it; a backend's `reserve`
   * rejects with it and the fail-mode wrapper turns it into a degraded outcome.
   */
  STORE_UNAVAILABLE: "STORE_UNAVAILABLE",
  /** The store was used after `close()`. */
  STORE_CLOSED: "STORE_CLOSED",
} as const;

/** Union of the string codes in {@link RateLimitStoreErrorCode}. */
export type RateLimitStoreErrorCode =
  (typeof RateLimitStoreErrorCode)[keyof typeof RateLimitStoreErrorCode];

/**
 * The error class of this package, a {@link ToolgateError}. `data` holds structured
 * details (paths, keys); it never contains secrets such as Redis passwords.
 */
export class RateLimitStoreError extends ToolgateError<RateLimitStoreErrorCode> {
  override readonly data: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: RateLimitStoreErrorCode,
    message: string,
    data?: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(code, message, { data, cause: options?.cause });
    this.name = "RateLimitStoreError";
    this.data = data;
  }
}

/** True for the error a backend rejects `reserve` with when it cannot count (an outage). */
export function isOutage(err: unknown): err is RateLimitStoreError {
  return (
    err instanceof RateLimitStoreError && err.code === RateLimitStoreErrorCode.STORE_UNAVAILABLE
  );
}
