import { randomBytes } from "node:crypto";
import { z } from "zod";
import type {
  CounterReservation,
  CounterSpec,
  CounterState,
  PeekSpec,
  ReserveOutcome,
  StoreHealth,
} from "../contracts.js";
import {
  type Clock,
  clockSchema,
  realScheduler,
  type Scheduler,
  schedulerSchema,
} from "../seams/clock.js";
import { parseOptions } from "../seams/options.js";
import { ReservationLedger } from "./ledger.js";
import { bucketSize, expireLog, isFixed, MAX_LOG_ENTRIES, slidingRetry } from "./smooth.js";
import { SmoothCounters } from "./smooth-counters.js";
import { counterState, invalidSpec, storeClosedError } from "./specs.js";
import { type MeteredCounterStore, type StoreStats, Tally } from "./stats.js";

/** Options of {@link createMemoryStore}; every field is optional. */
export const MemoryStoreOptionsSchema = z
  .object({
    /** Store name used in reasons and metrics. Default `memory`. */
    name: z.string().min(1).default("memory"),
    /** Clock in epoch ms. Default `Date.now`. */
    now: clockSchema.optional(),
    /** Timers for the background sweep. Default: real, unref'd timers. */
    scheduler: schedulerSchema.optional(),
    /**
     * How often expired windows are dropped from memory. Expiry itself is lazy (a
     * window ends exactly at its reset time whether or not the sweep ran); the sweep
     * only bounds memory. Default 60 000; 0 disables it.
     */
    sweepIntervalMs: z.number().int().min(0).default(60_000),
    /**
     * Reservation ids are this prefix plus a base-36 sequence number. Default: `m`, 16
     * random hex digits and `-`. Set it for deterministic ids in tests.
     */
    idPrefix: z.string().min(1).optional(),
  })
  .strict();

/** Input type of {@link MemoryStoreOptionsSchema}. */
export type MemoryStoreOptions = z.input<typeof MemoryStoreOptionsSchema>;

interface Window {
  used: number;
  resetAt: number;
}

/**
 * Besides the timer, expired windows are swept as the store is used: after at least
 * this many reservations and at least as many as there are windows, so each reserve
 * pays O(1) amortised and a store without a timer still stays bounded.
 */
const SWEEP_EVERY = 4096;

/** The one in-memory store; a class so the engine can recognise it (see {@link syncReserver}). */
class MemoryCounterStore implements MeteredCounterStore {
  readonly name: string;
  readonly #now: Clock;
  readonly #scheduler: Scheduler;
  readonly #sweepIntervalMs: number;
  readonly #windows = new Map<string, Window>();
  /** Sliding logs and GCRA buckets; separate maps so algorithms never share a key's state. */
  readonly #smoothCounters = new SmoothCounters();
  #smooth = false;
  readonly #ledger: ReservationLedger;
  readonly #tally = new Tally();
  #opsSinceSweep = 0;
  #closed = false;
  #sweepHandle: unknown;

  constructor(opts: z.output<typeof MemoryStoreOptionsSchema>) {
    this.name = opts.name;
    this.#now = opts.now ?? Date.now;
    this.#scheduler = opts.scheduler ?? realScheduler;
    this.#sweepIntervalMs = opts.sweepIntervalMs;
    this.#ledger = new ReservationLedger(opts.idPrefix ?? `m${randomBytes(8).toString("hex")}-`);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#sweepIntervalMs <= 0) return;
    this.#sweepHandle = this.#scheduler.setTimeout(() => this.#sweep(), this.#sweepIntervalMs);
  }

  #sweep(): void {
    this.#sweepNow(this.#now());
    this.#schedule();
  }

  #sweepNow(t: number): void {
    this.#opsSinceSweep = 0;
    for (const [key, w] of this.#windows) if (w.resetAt <= t) this.#windows.delete(key);
    this.#smoothCounters.sweep(t);
    this.#ledger.sweep(t);
  }

  reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    try {
      return Promise.resolve(this.reserveNow(specs));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * `reserve` without the promise, for the engine's hot path. Throws (instead of
   * rejecting) for a closed store or malformed specs.
   */
  reserveNow(specs: readonly CounterSpec[]): ReserveOutcome {
    if (this.#closed) throw storeClosedError(this.name);
    const bad = invalidSpec(specs, true);
    if (bad !== undefined) throw bad;
    this.#tally.reservations++;
    const t = this.#now();
    if (++this.#opsSinceSweep >= SWEEP_EVERY && this.#opsSinceSweep >= this.#windows.size) {
      this.#sweepNow(t);
    }
    for (let i = 0; i < specs.length; i++) {
      if (!isFixed(specs[i]!)) return this.#reserveSmooth(specs, t);
    }
    const refused = this.#check(specs, t);
    if (refused !== undefined) return refused;
    return this.#consume(specs, t);
  }

  /**
   * A call with at least one sliding or token-bucket limit. Same two phases as the fixed
   * path (check every spec, then consume all), in the order of operations the Redis
   * script uses, so both stores reach the same doubles.
   */
  #reserveSmooth(specs: readonly CounterSpec[], t: number): ReserveOutcome {
    this.#smooth = true;
    const n = specs.length;
    // Per key, the count (fixed, sliding) or tat (bucket) including earlier specs of this call.
    const cur = new Map<string, number>();
    const planned: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      const w = s.weight;
      const ck = `${s.algorithm ?? "fixed"}\u0000${s.key}`;
      let retry: number | undefined;
      if (s.algorithm === "sliding") {
        const log = this.#smoothCounters.logs.get(s.key);
        if (log !== undefined && !cur.has(ck)) expireLog(log, s.windowMs, t);
        const used = cur.get(ck) ?? log?.sum ?? 0;
        if (log !== undefined && w > 0 && log.entries.length - log.head >= MAX_LOG_ENTRIES)
          retry = log.entries[log.head]!.t + s.windowMs - t;
        else if (used + w <= s.max) planned[i] = used + w;
        else retry = slidingRetry(log, used, w, s.max, s.windowMs, t);
      } else if (s.algorithm === "token_bucket") {
        const b = this.#smoothCounters.buckets.get(s.key);
        const per = s.windowMs / s.max;
        const from = cur.get(ck) ?? (b !== undefined && b.tat > t ? b.tat : t);
        const next = from + w * per;
        const tau = bucketSize(s) * per;
        if (next - t <= tau) planned[i] = next;
        else retry = w > bucketSize(s) ? s.windowMs : next - tau - t;
      } else {
        const win = this.#windows.get(s.key);
        const used = cur.get(ck) ?? (win !== undefined && win.resetAt > t ? win.used : 0);
        if (used + w <= s.max) planned[i] = used + w;
        else {
          if (win !== undefined && win.resetAt > t && win.resetAt - t > s.windowMs)
            win.resetAt = t + s.windowMs;
          retry = win !== undefined && win.resetAt > t ? win.resetAt - t : s.windowMs;
        }
      }
      if (retry !== undefined) {
        this.#tally.refused++;
        return {
          admitted: false,
          blockedBy: i,
          retryAfterMs: retry,
          counters: this.#statesOf(specs, t),
        };
      }
      cur.set(ck, planned[i]!);
    }
    const seq = this.#ledger.next;
    const { counters, until } = this.#applySmooth(
      specs,
      planned,
      t,
      this.#ledger.idPrefix + seq.toString(36),
    );
    this.#tally.admitted++;
    this.#ledger.open(until);
    return {
      admitted: true,
      reservation: this.#ledger.issue(seq, counters),
      counters: this.#statesOf(specs, t),
    };
  }

  /** Phase 2 of a smooth call: consume what phase 1 planned; `ref` names log entries. */
  #applySmooth(
    specs: readonly CounterSpec[],
    planned: readonly number[],
    t: number,
    ref: string,
  ): { counters: CounterReservation["counters"][number][]; until: number } {
    const n = specs.length;
    const counters: CounterReservation["counters"][number][] = new Array(n);
    let until = 0;
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      let resetAtMs: number;
      let token: string | undefined;
      if (s.algorithm === "sliding" && s.weight === 0) {
        // Nothing to count, so nothing to keep (and nothing to roll back).
        resetAtMs = t;
      } else if (s.algorithm === "sliding") {
        token = `${ref}.${i}`;
        this.#smoothCounters.log(s, t, token);
        resetAtMs = t + s.windowMs;
      } else if (s.algorithm === "token_bucket") {
        resetAtMs = planned[i]!;
        token = this.#smoothCounters.bucket(s.key, resetAtMs);
      } else {
        let win = this.#windows.get(s.key);
        if (win === undefined || win.resetAt <= t) {
          win = { used: 0, resetAt: t + s.windowMs };
          this.#windows.set(s.key, win);
        }
        win.used += s.weight;
        resetAtMs = win.resetAt;
      }
      counters[i] = {
        key: s.key,
        weight: s.weight,
        resetAtMs,
        windowMs: s.windowMs,
        ...(s.algorithm !== undefined && s.algorithm !== "fixed" && { algorithm: s.algorithm }),
        ...(token !== undefined && { token }),
      };
      if (resetAtMs > until) until = resetAtMs;
    }
    return { counters, until };
  }

  /**
   * Phase 1: every spec against its live window. Units of earlier specs with the same
   * key count too, so a key listed twice cannot overshoot its max.
   */
  #check(specs: readonly CounterSpec[], t: number): ReserveOutcome | undefined {
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      const w = this.#windows.get(s.key);
      const live = w !== undefined && w.resetAt > t;
      let used = live ? w.used : 0;
      for (let j = 0; j < i; j++) if (specs[j]!.key === s.key) used += specs[j]!.weight;
      if (used + s.weight <= s.max) continue;
      // A window opened under an older, longer policy window is cut to the current
      // one, so a refusal never lasts longer than the window the policy now names.
      if (live && w.resetAt - t > s.windowMs) w.resetAt = t + s.windowMs;
      this.#tally.refused++;
      return {
        admitted: false,
        blockedBy: i,
        retryAfterMs: live ? w.resetAt - t : s.windowMs,
        counters: this.#statesOf(specs, t),
      };
    }
    return undefined;
  }

  /** Phase 2: consume. Nothing can interleave: this runs synchronously after the check. */
  #consume(specs: readonly CounterSpec[], t: number): ReserveOutcome {
    const n = specs.length;
    const counters: CounterReservation["counters"][number][] = new Array(n);
    let until = 0;
    let last: Window | undefined;
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      let w = this.#windows.get(s.key);
      if (w === undefined || w.resetAt <= t) {
        w = { used: 0, resetAt: t + s.windowMs };
        this.#windows.set(s.key, w);
      }
      w.used += s.weight;
      counters[i] = { key: s.key, weight: s.weight, resetAtMs: w.resetAt, windowMs: s.windowMs };
      if (w.resetAt > until) until = w.resetAt;
      last = w;
    }
    this.#tally.admitted++;
    const seq = this.#ledger.open(until);
    return {
      admitted: true,
      reservation: this.#ledger.issue(seq, counters),
      // One spec (the common case) needs no second lookup; with several, a key may repeat
      // and every state must show its final count.
      counters:
        n === 1
          ? [counterState(specs[0]!.key, last!.used, specs[0]!.max, last!.resetAt)]
          : this.#statesOf(specs, t),
    };
  }

  #statesOf(specs: readonly PeekSpec[], t: number): CounterState[] {
    const out: CounterState[] = new Array(specs.length);
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      if (this.#smooth && !isFixed(s)) {
        out[i] = this.#smoothCounters.state(s, t);
        continue;
      }
      const w = this.#windows.get(s.key);
      out[i] =
        w !== undefined && w.resetAt > t
          ? counterState(s.key, w.used, s.max, w.resetAt)
          : counterState(s.key, 0, s.max, t + s.windowMs);
    }
    return out;
  }

  commit(reservation: CounterReservation): Promise<void> {
    if (this.#closed) return Promise.reject(storeClosedError(this.name));
    this.#ledger.settle(reservation);
    return Promise.resolve();
  }

  rollback(reservation: CounterReservation): Promise<void> {
    if (this.#closed) return Promise.reject(storeClosedError(this.name));
    // Unknown ids (settled before, or from another store) give nothing back.
    if (!this.#ledger.settle(reservation)) return Promise.resolve();
    const t = this.#now();
    const cs = reservation.counters;
    // Backwards, so a bucket listed twice in one call unwinds in the order it was wound.
    for (let i = cs.length - 1; i >= 0; i--) {
      const c = cs[i]!;
      if (this.#smoothCounters.rollback(c, t)) continue;
      const w = this.#windows.get(c.key);
      // Only the window the units went into gets them back; a newer window never does.
      if (w !== undefined && w.resetAt === c.resetAtMs && w.resetAt > t) {
        w.used = Math.max(0, w.used - c.weight);
      }
    }
    return Promise.resolve();
  }

  peek(specs: readonly PeekSpec[]): Promise<CounterState[]> {
    if (this.#closed) return Promise.reject(storeClosedError(this.name));
    const bad = invalidSpec(specs, false);
    if (bad !== undefined) return Promise.reject(bad);
    return Promise.resolve(this.#statesOf(specs, this.#now()));
  }

  ready(): Promise<StoreHealth> {
    return Promise.resolve(
      this.#closed
        ? { ok: false, store: this.name, detail: "closed" }
        : { ok: true, store: this.name },
    );
  }

  close(): Promise<void> {
    this.#closed = true;
    if (this.#sweepHandle !== undefined) this.#scheduler.clearTimeout(this.#sweepHandle);
    this.#windows.clear();
    this.#smoothCounters.clear();
    this.#ledger.clear();
    return Promise.resolve();
  }

  stats(): StoreStats {
    return this.#tally.snapshot(this.name, this.#windows.size + this.#smoothCounters.size);
  }
}

/**
 * Creates the embedded, exact, in-process `CounterStore`: the engine's default, the
 * single-gateway store of `@toolgate/rate-limit-store`, its insurance limiter, and the
 * reference the Redis store's semantics are tested against (it runs under the store
 * contract tests there).
 *
 * Semantics (shared with every store): a fixed window opens at the first reservation
 * on a key and lasts `windowMs`; all specs of one `reserve` are admitted together or
 * none is consumed (a refused reserve opens no window); `retryAfterMs` is the time left
 * in the refusing key's window; `rollback` returns units only to the window they went
 * into, never below 0; `commit`/`rollback` are idempotent per reservation id and
 * ignore ids this store did not issue. An unsettled reservation is held at most until
 * its longest window ends.
 *
 * @throws ToolgateError `OPTIONS_INVALID` naming the bad option.
 * @example
 * const store = createMemoryStore({ now: () => clock.now, sweepIntervalMs: 0 });
 * const out = await store.reserve([{ key: "rate|grant|demo", counter: "rate",
 *   windowMs: 60_000, max: 10, weight: 1, ruleId: "tools.x.limits[0]" }]);
 * if (out.admitted) await store.commit(out.reservation);
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MeteredCounterStore {
  return new MemoryCounterStore(
    parseOptions(MemoryStoreOptionsSchema, options, "memory store options"),
  );
}

/**
 * The synchronous reserve of a memory store, or `undefined` for any other store.
 * Internal (not exported from the package): the engine uses it to settle a decision
 * with limits in one resolved promise instead of chaining on the store's, which is
 * most of the per-call overhead when counting happens in process.
 */
export function syncReserver(
  store: unknown,
): ((specs: readonly CounterSpec[]) => ReserveOutcome) | undefined {
  return store instanceof MemoryCounterStore ? (specs) => store.reserveNow(specs) : undefined;
}

/** Options of {@link createInProcessCounterStore}. @deprecated Use {@link MemoryStoreOptions}. */
export interface InProcessCounterStoreOptions {
  /** Clock in epoch milliseconds. Default `Date.now`. */
  readonly now?: Clock;
}

/**
 * The engine's former in-process store, now the one memory store without a sweep timer.
 *
 * @deprecated Use {@link createMemoryStore}; kept so existing embedders keep compiling.
 * @example const store = createInProcessCounterStore({ now: () => clock.now });
 */
export function createInProcessCounterStore(
  opts: InProcessCounterStoreOptions = {},
): MeteredCounterStore {
  return createMemoryStore({
    ...(opts.now !== undefined && { now: opts.now }),
    sweepIntervalMs: 0,
  });
}
