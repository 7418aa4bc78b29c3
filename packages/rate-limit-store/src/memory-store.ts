import type {
  CounterReservation,
  CounterSpec,
  CounterState,
  ReserveOutcome,
  StoreHealth,
} from "@toolgate/policy-engine";
import { z } from "zod";
import { RateLimitStoreError, RateLimitStoreErrorCode } from "./errors.js";
import {
  fnSchema,
  parseOptions,
  realScheduler,
  type Scheduler,
  schedulerSchema,
  sequentialIds,
} from "./options.js";
import { invalidSpec } from "./specs.js";
import { type MeteredCounterStore, type StoreStats, Tally } from "./stats.js";

/** Options of {@link createMemoryStore}; every field is optional. */
export const MemoryStoreOptionsSchema = z
  .object({
    /** Store name used in reasons and metrics. Default `memory`. */
    name: z.string().min(1).default("memory"),
    /** Clock in epoch ms. Default `Date.now`. */
    now: fnSchema<() => number>("a clock returning epoch ms").optional(),
    /** Timers for the background sweep. Default: real, unref'd timers. */
    scheduler: schedulerSchema.optional(),
    /**
     * How often expired windows are dropped from memory. Expiry itself is lazy (a
     * window ends exactly at its reset time whether or not the sweep ran); the sweep
     * only bounds memory. Default 60 000; 0 disables it.
     */
    sweepIntervalMs: z.number().int().min(0).default(60_000),
    /** Reservation id source. Default: a random prefix plus a sequence number. */
    ids: fnSchema<() => string>("returning a unique reservation id").optional(),
  })
  .strict();

/** Input type of {@link MemoryStoreOptionsSchema}. */
export type MemoryStoreOptions = z.input<typeof MemoryStoreOptionsSchema>;

interface Window {
  used: number;
  resetAt: number;
}

/**
 * Creates the embedded, exact, in-process `CounterStore`: the default for a single
 * gateway, and the reference the Redis store's semantics are tested against.
 *
 * Semantics (shared with the Redis store): a fixed window opens at the first
 * reservation on a key and lasts `windowMs`; all specs of one `reserve` are admitted
 * together or none is consumed; `retryAfterMs` is the time left in the refusing key's
 * window; `rollback` returns units only to the window they went into, never below 0;
 * `commit`/`rollback` are idempotent per reservation id.
 *
 * @example
 * ```ts
 * const store = createMemoryStore();
 * const out = await store.reserve([{ key: "rate|grant|demo", counter: "rate",
 *   windowMs: 60_000, max: 10, weight: 1, ruleId: "tools.x.limits[0]" }]);
 * if (out.admitted) await store.commit(out.reservation);
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MeteredCounterStore {
  const opts = parseOptions(MemoryStoreOptionsSchema, options, "memory store options");
  const name = opts.name;
  const now = opts.now ?? Date.now;
  const scheduler: Scheduler = opts.scheduler ?? realScheduler;
  const nextId = opts.ids ?? sequentialIds("m");
  const windows = new Map<string, Window>();
  // Reservations not yet committed or rolled back -> end of their last window. Tracking
  // the open ones (not the settled ones) keeps this map as small as the calls in flight,
  // and makes commit/rollback idempotent even when the caller copies the reservation.
  const open = new Map<string, number>();
  const tally = new Tally();
  let closed = false;
  let sweepHandle: unknown;

  const sweep = (): void => {
    const t = now();
    for (const [key, w] of windows) if (w.resetAt <= t) windows.delete(key);
    // A reservation whose windows all ended can only roll back into nothing: forget it.
    for (const [id, until] of open) if (until <= t) open.delete(id);
    schedule();
  };
  const schedule = (): void => {
    if (!closed && opts.sweepIntervalMs > 0) {
      sweepHandle = scheduler.setTimeout(sweep, opts.sweepIntervalMs);
    }
  };
  schedule();

  const closedError = () =>
    new RateLimitStoreError(RateLimitStoreErrorCode.STORE_CLOSED, `${name} store is closed`);

  function reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    if (closed) return Promise.reject(closedError());
    const bad = invalidSpec(specs, true);
    if (bad !== undefined) return Promise.reject(bad);
    tally.reservations++;
    const t = now();
    const n = specs.length;
    // Phase 1: check every spec against its live window. Units of earlier specs with
    // the same key count too, so a key listed twice cannot overshoot its max.
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      const w = windows.get(s.key);
      const live = w !== undefined && w.resetAt > t;
      let used = live ? w.used : 0;
      for (let j = 0; j < i; j++) if (specs[j]!.key === s.key) used += specs[j]!.weight;
      if (used + s.weight > s.max) {
        tally.refused++;
        return Promise.resolve({
          admitted: false,
          blockedBy: i,
          retryAfterMs: live ? w.resetAt - t : s.windowMs,
          counters: statesOf(specs, t),
        });
      }
    }
    // Phase 2: consume. Nothing can interleave: this function is synchronous.
    const counters: CounterReservation["counters"][number][] = new Array(n);
    let until = 0;
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      let w = windows.get(s.key);
      if (w === undefined || w.resetAt <= t) {
        w = { used: 0, resetAt: t + s.windowMs };
        windows.set(s.key, w);
      }
      w.used += s.weight;
      counters[i] = { key: s.key, weight: s.weight, resetAtMs: w.resetAt, windowMs: s.windowMs };
      if (w.resetAt > until) until = w.resetAt;
    }
    tally.admitted++;
    const id = nextId();
    open.set(id, until);
    return Promise.resolve({
      admitted: true,
      reservation: { id, counters },
      counters: statesOf(specs, t),
    });
  }

  function statesOf(
    specs: readonly Pick<CounterSpec, "key" | "windowMs" | "max">[],
    t: number,
  ): CounterState[] {
    const out: CounterState[] = new Array(specs.length);
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      const w = windows.get(s.key);
      const live = w !== undefined && w.resetAt > t;
      const used = live ? w.used : 0;
      out[i] = {
        key: s.key,
        used,
        max: s.max,
        remaining: Math.max(0, s.max - used),
        resetAtMs: live ? w.resetAt : t + s.windowMs,
      };
    }
    return out;
  }

  return {
    name,
    reserve,
    commit(reservation) {
      if (closed) return Promise.reject(closedError());
      open.delete(reservation.id);
      return Promise.resolve();
    },
    rollback(reservation) {
      if (closed) return Promise.reject(closedError());
      // Unknown ids (settled before, or from another store) give nothing back.
      if (!open.delete(reservation.id)) return Promise.resolve();
      const t = now();
      for (const c of reservation.counters) {
        const w = windows.get(c.key);
        // Only the window the units went into gets them back; a newer window never does.
        if (w !== undefined && w.resetAt === c.resetAtMs && w.resetAt > t) {
          w.used = Math.max(0, w.used - c.weight);
        }
      }
      return Promise.resolve();
    },
    peek(specs) {
      if (closed) return Promise.reject(closedError());
      const bad = invalidSpec(specs, false);
      if (bad !== undefined) return Promise.reject(bad);
      return Promise.resolve(statesOf(specs, now()));
    },
    ready(): Promise<StoreHealth> {
      return Promise.resolve(
        closed ? { ok: false, store: name, detail: "closed" } : { ok: true, store: name },
      );
    },
    close() {
      closed = true;
      if (sweepHandle !== undefined) scheduler.clearTimeout(sweepHandle);
      windows.clear();
      open.clear();
      return Promise.resolve();
    },
    stats(): StoreStats {
      return tally.snapshot(name, windows.size);
    },
  };
}
