/**
 * The two smooth limit algorithms as in-memory state, shared by the memory store and
 * mirrored operation for operation by the Redis store's Lua (so both compute the same
 * doubles and admit the same calls at the boundary).
 *
 * `sliding` is an exact sliding log: every admitted call is an entry `(t, weight)`
 * that counts until `t + windowMs`. Exact means: in every half-open interval of
 * `windowMs`, anywhere in time, the admitted (not rolled back) units are at most `max`.
 * A refusal's retry time is when enough of the oldest entries leave the window for the
 * call to fit.
 *
 * `token_bucket` is GCRA (the generic cell rate algorithm): the state is one number,
 * the theoretical arrival time `tat`. Each unit costs `T = windowMs / max` ms; a call of
 * weight `w` passes when `max(tat, now) + w*T - now <= burst*T`. Exact means: over every
 * interval of length `L`, admitted units are at most `burst + L * max / windowMs`, and
 * the retry time is the precise instant the call would pass.
 */
import type { CounterSpec } from "../contracts.js";

/** One admitted call's units in a sliding log. */
export interface LogEntry {
  readonly t: number;
  readonly w: number;
  readonly id: string;
}

/** A sliding log: live entries from `head` on, oldest first, and their running sum. */
export interface SlidingLog {
  /** The window of the latest spec that wrote it (for sweeping and rollback). */
  windowMs: number;
  entries: LogEntry[];
  head: number;
  sum: number;
}

/** A GCRA bucket: the theoretical arrival time (epoch ms). */
export interface Bucket {
  tat: number;
}

/**
 * Most live entries one sliding log holds. Weights come from arguments
 * (`increment_from`), so without a cap a caller sending tiny weights could grow one key
 * without bound; at the cap the log refuses until its oldest entry expires (stricter,
 * never looser). Zero-weight calls add no entry at all. The Redis script uses the same cap.
 */
export const MAX_LOG_ENTRIES = 100_000;

/** Whether `s` counts with a fixed window (the default). */
export function isFixed(s: Pick<CounterSpec, "algorithm">): boolean {
  return s.algorithm === undefined || s.algorithm === "fixed";
}

/** The bucket size of a token-bucket spec: `burst`, else `max`. */
export function bucketSize(s: Pick<CounterSpec, "max" | "burst">): number {
  return s.burst ?? s.max;
}

/**
 * Drops entries whose time left the window at `t`. The sum is decreased entry by entry,
 * oldest first, and reset to exactly 0 once the log is empty, as the Lua does.
 */
export function expireLog(log: SlidingLog, windowMs: number, t: number): void {
  const e = log.entries;
  while (log.head < e.length && e[log.head]!.t + windowMs <= t) {
    log.sum = log.sum - e[log.head]!.w;
    log.head++;
  }
  if (log.head === e.length) {
    log.entries = [];
    log.head = 0;
    log.sum = 0;
  } else if (log.head > 64 && log.head * 2 > e.length) {
    log.entries = e.slice(log.head);
    log.head = 0;
  }
}

/**
 * When a refused sliding call (`cur` units already in the window incl. earlier specs of
 * the same call, `w` wanted) fits: the first oldest-first entry whose expiry frees
 * enough. `windowMs` when no expiry ever makes room (weight above max).
 */
export function slidingRetry(
  log: SlidingLog | undefined,
  cur: number,
  w: number,
  max: number,
  windowMs: number,
  t: number,
): number {
  if (log !== undefined) {
    let freed = 0;
    for (let i = log.head; i < log.entries.length; i++) {
      const e = log.entries[i]!;
      freed = freed + e.w;
      if (cur - freed + w <= max) return e.t + windowMs - t;
    }
  }
  return windowMs;
}

/** Removes the entry `id` (a rollback); false when it already left the window or is unknown. */
export function removeLogEntry(log: SlidingLog, id: string): boolean {
  const e = log.entries;
  for (let i = log.head; i < e.length; i++) {
    if (e[i]!.id !== id) continue;
    const w = e[i]!.w;
    e.splice(i, 1);
    log.sum = log.sum - w;
    if (log.sum < 0) log.sum = 0;
    if (log.head === e.length) {
      log.entries = [];
      log.head = 0;
      log.sum = 0;
    }
    return true;
  }
  return false;
}

/** Units a bucket holds at `t` (0 when full of room), as `(tat - t) / T`. */
export function bucketUsed(
  tat: number | undefined,
  max: number,
  windowMs: number,
  t: number,
): number {
  if (tat === undefined || tat <= t) return 0;
  return (tat - t) / (windowMs / max);
}

/**
 * A bucket token records the state before and after one reservation, `before|after`,
 * with `before` empty for a bucket that did not exist. Rollback restores `before` only
 * while the bucket still holds `after`: nobody reserved since, so the restored state is
 * exactly the one without the call. After a later reservation the units stay (GCRA's
 * state is order-dependent; subtracting could admit more than the bound).
 */
export function bucketToken(before: number | undefined, after: number): string {
  return `${before === undefined ? "" : String(before)}|${String(after)}`;
}

/** Parses a {@link bucketToken}; `undefined` for a malformed one. */
export function parseBucketToken(
  token: string | undefined,
): { before: number | undefined; after: number } | undefined {
  if (typeof token !== "string") return undefined;
  const bar = token.indexOf("|");
  if (bar < 0) return undefined;
  const b = token.slice(0, bar);
  const after = Number(token.slice(bar + 1));
  const before = b === "" ? undefined : Number(b);
  if (!Number.isFinite(after) || (before !== undefined && !Number.isFinite(before)))
    return undefined;
  return { before, after };
}
