/**
 * The timer seam every time-driven piece takes. Shaped like the global
 * `setTimeout`/`clearTimeout` so the real timers, `vi.useFakeTimers()` and a mock clock
 * all fit; handles are opaque.
 *
 * @example
 * ```ts
 * const scheduler: Scheduler = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
 * ```
 */
export interface Scheduler {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process timers, looked up at call time so fake timers installed later still apply. */
export const systemScheduler: Scheduler = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Backoff settings shared by reconnects and REST retries. */
export interface BackoffSettings {
  /** First step (attempt 0) upper bound, in ms. */
  baseMs: number;
  /** Cap of any single step, in ms. */
  maxMs: number;
}

/**
 * Capped exponential backoff with full jitter: a uniform draw in
 * `[0, min(maxMs, baseMs * 2^attempt))`. Full jitter spreads reconnect storms when many
 * clients lose the exchange at once.
 *
 * @example
 * ```ts
 * fullJitterBackoff(3, { baseMs: 500, maxMs: 30_000 }, Math.random); // 0..4000
 * ```
 */
export function fullJitterBackoff(
  attempt: number,
  settings: BackoffSettings,
  random: () => number,
): number {
  const ceiling = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
