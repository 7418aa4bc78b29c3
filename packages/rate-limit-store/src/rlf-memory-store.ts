import type {
  CounterReservation,
  CounterSpec,
  CounterState,
  ReserveOutcome,
} from "@toolgate/policy-engine";
import { RateLimiterMemory, type RateLimiterRes } from "rate-limiter-flexible";
import { z } from "zod";
import { storeClosedError } from "./errors.js";
import { fnSchema, parseOptions, sequentialIds } from "./options.js";
import { counterState, invalidSpec } from "./specs.js";
import { type MeteredCounterStore, Tally } from "./stats.js";

const SCALE = 1_000_000;

/** Options of {@link createRlfMemoryStore}. */
export const RlfMemoryStoreOptionsSchema = z
  .object({
    /** Store name used in reasons and metrics. Default `insurance`. */
    name: z.string().min(1).default("insurance"),
    /** Reservation id source. Default: a random prefix plus a sequence number. */
    ids: fnSchema<() => string>("returning a unique reservation id").optional(),
  })
  .strict();

/** Input type of {@link RlfMemoryStoreOptionsSchema}. */
export type RlfMemoryStoreOptions = z.input<typeof RlfMemoryStoreOptionsSchema>;

/**
 * A `CounterStore` on rate-limiter-flexible's `RateLimiterMemory`: the default
 * insurance limiter of the Redis store (`insurance: true`), counting per process while
 * Redis is down.
 *
 * Same window shape as the other stores (fixed window opened by the first reservation,
 * `retryAfterMs` = time left in it, never more than `max` per window), with documented
 * approximations that only matter during an outage:
 * - it reads the real clock (`Date.now`, which Vitest fake timers also control), not an
 *   injected one;
 * - it counts fractional weights in millionths (RateLimiterMemory stores integers);
 * - a refused call first increments and then gives its units back, so for one microtask a
 *   concurrent call may be refused conservatively, and a refused call on a key without a
 *   window opens that key's window (with 0 units) a little earlier than the memory store.
 *
 * @example
 * ```ts
 * const redis = createRedisStore({ url, fail: "open", insurance: createRlfMemoryStore() });
 * ```
 */
export function createRlfMemoryStore(options: RlfMemoryStoreOptions = {}): MeteredCounterStore {
  const opts = parseOptions(RlfMemoryStoreOptionsSchema, options, "insurance store options");
  const name = opts.name;
  const nextId = opts.ids ?? sequentialIds("i");
  // One limiter serves every window length: the duration travels per call as
  // `customDuration`, and limits are compared here, so `points` is never consulted.
  const limiter = new RateLimiterMemory({ points: Number.MAX_SAFE_INTEGER, duration: 1 });
  const open = new Map<string, number>();
  const tally = new Tally();
  let closed = false;

  const seconds = (ms: number) => ({ customDuration: ms / 1000 });
  // RateLimiterMemory stores integers only, so fractional `increment_from` weights are
  // counted in millionths of a unit.
  const units = (n: number) => Math.round(n * SCALE);

  /** Gives units back without ever leaving a negative counter or moving its expiry. */
  async function giveBack(key: string, weight: number, windowMs: number): Promise<void> {
    const res = await limiter.reward(key, weight, seconds(windowMs));
    if (res.consumedPoints < 0) await limiter.penalty(key, -res.consumedPoints, seconds(windowMs));
  }

  function stateOf(
    s: Pick<CounterSpec, "key" | "max" | "windowMs">,
    r: RateLimiterRes | null,
    t: number,
  ): CounterState {
    return r !== null && r.msBeforeNext > 0
      ? counterState(s.key, Math.max(0, r.consumedPoints) / SCALE, s.max, t + r.msBeforeNext)
      : counterState(s.key, 0, s.max, t + s.windowMs);
  }

  async function reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    if (closed) throw storeClosedError(name);
    const bad = invalidSpec(specs, true);
    if (bad !== undefined) throw bad;
    // Forget reservations nobody settled once their windows ended (rollback is a no-op then).
    if ((++tally.reservations & 1023) === 0) {
      const t0 = Date.now();
      for (const [id, until] of open) if (until <= t0) open.delete(id);
    }
    // RateLimiterMemory applies each increment synchronously when called, so issuing
    // all of them before the first await keeps the check-and-consume atomic.
    const pending = specs.map((s) => limiter.penalty(s.key, units(s.weight), seconds(s.windowMs)));
    const results = await Promise.all(pending);
    const t = Date.now();
    const blockedBy = specs.findIndex((s, i) => results[i]!.consumedPoints > units(s.max));
    if (blockedBy >= 0) {
      await Promise.all(specs.map((s) => giveBack(s.key, units(s.weight), s.windowMs)));
      tally.refused++;
      const blocked = specs[blockedBy]!;
      let retryAfterMs = Math.max(0, results[blockedBy]!.msBeforeNext);
      if (retryAfterMs > blocked.windowMs) {
        // A window opened under an older, longer policy window is cut to the current
        // one, so a refusal never lasts longer than the window the policy now names.
        const r = await limiter.get(blocked.key);
        if (r !== null) {
          await limiter.set(blocked.key, Math.max(0, r.consumedPoints), blocked.windowMs / 1000);
        }
        retryAfterMs = blocked.windowMs;
      }
      const states = await Promise.all(specs.map((s) => limiter.get(s.key)));
      return {
        admitted: false,
        blockedBy,
        retryAfterMs,
        counters: specs.map((s, i) => stateOf(s, states[i] ?? null, t)),
      };
    }
    const counters = specs.map((s, i) => ({
      key: s.key,
      weight: s.weight,
      resetAtMs: t + results[i]!.msBeforeNext,
      windowMs: s.windowMs,
    }));
    const id = nextId();
    open.set(id, Math.max(...counters.map((c) => c.resetAtMs)));
    tally.admitted++;
    // The last result per key carries the key's final count.
    return {
      admitted: true,
      reservation: { id, counters },
      counters: specs.map((s) => {
        let last = 0;
        specs.forEach((o, j) => {
          if (o.key === s.key) last = j;
        });
        return stateOf(s, results[last]!, t);
      }),
    };
  }

  async function rollback(reservation: CounterReservation): Promise<void> {
    if (closed) throw storeClosedError(name);
    if (!open.delete(reservation.id)) return;
    for (const c of reservation.counters) {
      const r = await limiter.get(c.key);
      if (r === null || r.msBeforeNext <= 0) continue;
      // RLF does not expose a window id; windows of one key are at least windowMs apart,
      // so an end time within half a window is the same window.
      if (Math.abs(Date.now() + r.msBeforeNext - c.resetAtMs) > c.windowMs / 2) continue;
      await giveBack(c.key, Math.min(units(c.weight), r.consumedPoints), c.windowMs);
    }
  }

  return {
    name,
    reserve,
    async commit(reservation) {
      if (closed) throw storeClosedError(name);
      open.delete(reservation.id);
    },
    rollback,
    async peek(specs) {
      if (closed) throw storeClosedError(name);
      const bad = invalidSpec(specs, false);
      if (bad !== undefined) throw bad;
      const states = await Promise.all(specs.map((s) => limiter.get(s.key)));
      const t = Date.now();
      return specs.map((s, i) => stateOf(s, states[i] ?? null, t));
    },
    async ready() {
      return closed ? { ok: false, store: name, detail: "closed" } : { ok: true, store: name };
    },
    async close() {
      closed = true;
      open.clear();
    },
    stats() {
      return tally.snapshot(name, open.size);
    },
  };
}
