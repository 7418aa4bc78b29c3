import { randomBytes } from "node:crypto";
import type {
  CounterReservation,
  CounterSpec,
  CounterState,
  ReserveOutcome,
  StoreHealth,
} from "@toolgate/policy-engine";
import { z } from "zod";
import { storeClosedError } from "./errors.js";
import {
  fnSchema,
  parseOptions,
  realScheduler,
  type Scheduler,
  schedulerSchema,
} from "./options.js";
import { counterState, invalidSpec } from "./specs.js";
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
 * Settle-state of 1024 consecutive reservations. Rollback must be idempotent, so the
 * store has to remember which reservations are still open; a bit per reservation in
 * chunks that disappear once all their reservations settled (or all their windows
 * ended) keeps that O(1) per call and as small as the calls in flight. A per-id Map
 * cost more than the rest of `reserve` together.
 */
interface Chunk {
  /** Bit set = settled (committed or rolled back). */
  readonly settled: Uint32Array;
  /** Reservations handed out from this chunk and not yet settled. */
  open: number;
  /** End of the latest window any of its reservations went into. */
  until: number;
}

const CHUNK_BITS = 10;
const CHUNK_SIZE = 1 << CHUNK_BITS;

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
  const idPrefix = opts.idPrefix ?? `m${randomBytes(8).toString("hex")}-`;
  const windows = new Map<string, Window>();
  const chunks = new Map<number, Chunk>();
  let seq = 0;
  let current: Chunk | undefined;
  const tally = new Tally();
  let closed = false;
  let sweepHandle: unknown;

  const sweep = (): void => {
    const t = now();
    for (const [key, w] of windows) if (w.resetAt <= t) windows.delete(key);
    // Reservations whose windows all ended can only roll back into nothing: forget them.
    for (const [n, c] of chunks) if (c.until <= t && c !== current) chunks.delete(n);
    schedule();
  };
  const schedule = (): void => {
    if (!closed && opts.sweepIntervalMs > 0) {
      sweepHandle = scheduler.setTimeout(sweep, opts.sweepIntervalMs);
    }
  };
  schedule();

  function reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    if (closed) return Promise.reject(storeClosedError(name));
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
        // A window opened under an older, longer policy window is cut to the current
        // one, so a refusal never lasts longer than the window the policy now names.
        if (live && w.resetAt - t > s.windowMs) w.resetAt = t + s.windowMs;
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
    let last: Window | undefined;
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
      last = w;
    }
    tally.admitted++;
    const n0 = seq++;
    if ((n0 & (CHUNK_SIZE - 1)) === 0 || current === undefined) {
      if (current !== undefined && current.open === 0) chunks.delete((n0 >>> CHUNK_BITS) - 1);
      current = { settled: new Uint32Array(CHUNK_SIZE / 32), open: 0, until: 0 };
      chunks.set(n0 >>> CHUNK_BITS, current);
    }
    current.open++;
    if (until > current.until) current.until = until;
    return Promise.resolve({
      admitted: true,
      reservation: { id: idPrefix + n0.toString(36), counters },
      // One spec (the common case) needs no second lookup; with several, a key may repeat
      // and every state must show its final count.
      counters:
        n === 1
          ? [counterState(specs[0]!.key, last!.used, specs[0]!.max, last!.resetAt)]
          : statesOf(specs, t),
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
      out[i] = live
        ? counterState(s.key, w.used, s.max, w.resetAt)
        : counterState(s.key, 0, s.max, t + s.windowMs);
    }
    return out;
  }

  /**
   * Marks a reservation settled. False when it was already settled, its chunk is gone
   * (all settled, or every window ended) or the id is not one of ours.
   */
  function settle(id: string): boolean {
    if (!id.startsWith(idPrefix)) return false;
    const n = Number.parseInt(id.slice(idPrefix.length), 36);
    if (!Number.isSafeInteger(n) || n < 0 || n >= seq) return false;
    const chunkNo = n >>> CHUNK_BITS;
    const chunk = chunks.get(chunkNo);
    if (chunk === undefined) return false;
    const bit = n & (CHUNK_SIZE - 1);
    const word = bit >>> 5;
    const mask = 1 << (bit & 31);
    if ((chunk.settled[word]! & mask) !== 0) return false;
    chunk.settled[word]! |= mask;
    if (--chunk.open === 0 && chunk !== current) chunks.delete(chunkNo);
    return true;
  }

  return {
    name,
    reserve,
    commit(reservation) {
      if (closed) return Promise.reject(storeClosedError(name));
      settle(reservation.id);
      return Promise.resolve();
    },
    rollback(reservation) {
      if (closed) return Promise.reject(storeClosedError(name));
      // Unknown ids (settled before, or from another store) give nothing back.
      if (!settle(reservation.id)) return Promise.resolve();
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
      if (closed) return Promise.reject(storeClosedError(name));
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
      chunks.clear();
      return Promise.resolve();
    },
    stats(): StoreStats {
      return tally.snapshot(name, windows.size);
    },
  };
}
