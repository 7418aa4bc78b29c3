import type { CounterReservation, CounterSpec, CounterState, PeekSpec } from "../contracts.js";
import {
  type Bucket,
  bucketSize,
  bucketToken,
  bucketUsed,
  expireLog,
  parseBucketToken,
  removeLogEntry,
  type SlidingLog,
} from "./smooth.js";
import { counterState } from "./specs.js";

/**
 * The memory store's sliding logs and GCRA buckets (the fixed windows, its hot path,
 * stay in the store). Separate maps, so algorithms never share a key's state; the math
 * is in smooth.ts, shared with what the Redis store's script mirrors.
 */
export class SmoothCounters {
  /** Sliding logs by key. */
  readonly logs = new Map<string, SlidingLog>();
  /** GCRA buckets by key. */
  readonly buckets = new Map<string, Bucket>();

  /** Keys held. */
  get size(): number {
    return this.logs.size + this.buckets.size;
  }

  /** Appends an admitted call's units to the sliding log of `s.key`. */
  log(s: CounterSpec, t: number, token: string): void {
    let log = this.logs.get(s.key);
    if (log === undefined) {
      log = { entries: [], head: 0, sum: 0, windowMs: s.windowMs };
      this.logs.set(s.key, log);
    }
    log.windowMs = s.windowMs;
    log.entries.push({ t, w: s.weight, id: token });
    log.sum = log.sum + s.weight;
  }

  /** Moves the bucket of `key` to `after`; returns the token that undoes exactly that. */
  bucket(key: string, after: number): string {
    const b = this.buckets.get(key);
    const token = bucketToken(b?.tat, after);
    if (b === undefined) this.buckets.set(key, { tat: after });
    else b.tat = after;
    return token;
  }

  /** Gives a reserved counter's units back; false when `c` is a fixed window. */
  rollback(c: CounterReservation["counters"][number], t: number): boolean {
    if (c.algorithm === "sliding") {
      const log = this.logs.get(c.key);
      if (log !== undefined && c.token !== undefined) {
        expireLog(log, log.windowMs, t);
        removeLogEntry(log, c.token);
      }
      return true;
    }
    if (c.algorithm === "token_bucket") {
      const b = this.buckets.get(c.key);
      const tok = parseBucketToken(c.token);
      if (b !== undefined && tok !== undefined && b.tat === tok.after) {
        if (tok.before === undefined) this.buckets.delete(c.key);
        else b.tat = tok.before;
      }
      return true;
    }
    return false;
  }

  /** State of a sliding or bucket counter: units in use now, and when all of them are free. */
  state(s: PeekSpec, t: number): CounterState {
    if (s.algorithm === "sliding") {
      const log = this.logs.get(s.key);
      let used = 0;
      let last = t;
      // Nothing expired yet: the running sum is the count (O(1) on the reserve path,
      // which just expired the log). Otherwise sum the live entries, as the Lua does.
      const head = log?.entries[log.head];
      if (log !== undefined && head !== undefined && head.t + s.windowMs > t) {
        return counterState(
          s.key,
          log.sum,
          s.max,
          log.entries[log.entries.length - 1]!.t + s.windowMs,
        );
      }
      if (log !== undefined) {
        for (let i = log.head; i < log.entries.length; i++) {
          const e = log.entries[i]!;
          if (e.t + s.windowMs <= t) continue;
          used = used + e.w;
          last = e.t + s.windowMs;
        }
      }
      return counterState(s.key, used, s.max, last);
    }
    const b = this.buckets.get(s.key);
    const tat = b !== undefined && b.tat > t ? b.tat : undefined;
    return counterState(s.key, bucketUsed(tat, s.max, s.windowMs, t), bucketSize(s), tat ?? t);
  }

  /** Drops logs with no live entry and buckets already drained. */
  sweep(t: number): void {
    for (const [key, log] of this.logs) {
      const last = log.entries[log.entries.length - 1];
      if (last === undefined || last.t + log.windowMs <= t) this.logs.delete(key);
    }
    for (const [key, b] of this.buckets) if (b.tat <= t) this.buckets.delete(key);
  }

  /** Forgets everything (the store closed). */
  clear(): void {
    this.logs.clear();
    this.buckets.clear();
  }
}
