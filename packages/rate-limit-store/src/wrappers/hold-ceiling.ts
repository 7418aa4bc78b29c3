import {
  addStats,
  type CounterReservation,
  clockSchema,
  type MeteredCounterStore,
  realScheduler,
  schedulerSchema,
  Tally,
} from "@toolgate/policy-engine";
import { z } from "zod";
import { parseOptions } from "../options.js";

/** Options of {@link withHoldCeiling}. */
export const HoldCeilingOptionsSchema = z
  .object({
    /**
     * Longest time a reservation may stay unsettled (neither committed nor rolled
     * back). After it (or when its longest window ends, whichever is first) the store
     * rolls it back itself. Set it above the longest upstream call plus approval wait.
     */
    holdTimeoutMs: z.number().int().positive(),
    /** How often held reservations are checked. Default: the smaller of 1000 and `holdTimeoutMs`. */
    checkIntervalMs: z.number().int().positive().optional(),
    /** Clock in epoch ms. Default `Date.now`. */
    now: clockSchema.optional(),
    /** Timers for the checks (only armed while something is held). Default: real, unref'd. */
    scheduler: schedulerSchema.optional(),
  })
  .strict();

/** Input type of {@link HoldCeilingOptionsSchema}. */
export type HoldCeilingOptions = z.input<typeof HoldCeilingOptionsSchema>;

interface Held {
  readonly reservation: CounterReservation;
  readonly deadline: number;
}

/**
 * Gives any store a hard ceiling on held reservations: a reservation nobody settles
 * within `holdTimeoutMs` is rolled back by the store, so a bug elsewhere (a hung
 * upstream nobody times out, a lost callback) cannot keep quota. Without this wrapper
 * the ceiling is the reservation's longest window, after which its units expire
 * anyway. A commit that arrives after the release is a no-op (the units stay given
 * back): commit and rollback are idempotent per reservation id in every store, so the
 * release and a late settle cannot both apply. Works for every backend because it
 * only uses the store's own `rollback`; on Redis the release is done by the instance
 * that made the reservation (if that instance dies, the window's end is the ceiling).
 *
 * @example
 * const store = withHoldCeiling(createMemoryStore(), { holdTimeoutMs: 120_000 });
 */
export function withHoldCeiling(
  store: MeteredCounterStore,
  options: HoldCeilingOptions,
): MeteredCounterStore {
  const opts = parseOptions(HoldCeilingOptionsSchema, options, "hold ceiling options");
  const now = opts.now ?? Date.now;
  const scheduler = opts.scheduler ?? realScheduler;
  const interval = opts.checkIntervalMs ?? Math.min(1000, opts.holdTimeoutMs);
  const held = new Map<string, Held>();
  const tally = new Tally();
  let timer: unknown;
  let closed = false;

  const arm = (): void => {
    if (timer === undefined && !closed && held.size > 0)
      timer = scheduler.setTimeout(check, interval);
  };

  function check(): void {
    timer = undefined;
    const t = now();
    for (const [id, h] of held) {
      if (h.deadline > t) continue;
      held.delete(id);
      tally.released++;
      // A failed release leaves the units to the window's end: the outer ceiling.
      store.rollback(h.reservation).catch(() => {});
    }
    arm();
  }

  return {
    name: store.name,
    async reserve(specs) {
      const out = await store.reserve(specs);
      if (out.admitted && out.reservation.counters.length > 0) {
        let windowEnd = 0;
        for (const c of out.reservation.counters)
          if (c.resetAtMs > windowEnd) windowEnd = c.resetAtMs;
        const deadline = Math.min(now() + opts.holdTimeoutMs, windowEnd);
        held.set(out.reservation.id, { reservation: out.reservation, deadline });
        arm();
      }
      return out;
    },
    commit(reservation) {
      held.delete(reservation.id);
      return store.commit(reservation);
    },
    rollback(reservation) {
      held.delete(reservation.id);
      return store.rollback(reservation);
    },
    peek: (specs) => store.peek(specs),
    ready: () => store.ready(),
    async close() {
      closed = true;
      if (timer !== undefined) scheduler.clearTimeout(timer);
      timer = undefined;
      held.clear();
      await store.close();
    },
    stats() {
      return addStats(store.stats(), tally);
    },
  };
}
