import {
  addStats,
  type CounterReservation,
  type CounterSpec,
  type CounterStore,
  clockSchema,
  counterState,
  createMemoryStore,
  fnSchema,
  type MeteredCounterStore,
  type ReserveOutcome,
  type StoreDegradation,
  type StoreStats,
  storeClosedError,
  Tally,
} from "@toolgate/policy-engine";
import { z } from "zod";
import { isOutage } from "../errors.js";
import { parseOptions, sequentialIds } from "../options.js";

const isStore = (v: unknown): v is CounterStore =>
  typeof v === "object" && v !== null && typeof (v as CounterStore).reserve === "function";

/** The fail-mode fields every backend's options may carry (see {@link FailModeOptionsSchema}). */
export const failModeFields = {
  /** What `reserve` does when the backend fails: `closed` denies (default), `open` admits. */
  fail: z.enum(["closed", "open"]).default("closed"),
  /**
   * With `fail: "open"`, count in process memory instead of admitting blindly: `true`
   * uses a memory store (`createMemoryStore`), or pass any CounterStore. Limits then
   * hold per instance, not across instances. Default false.
   */
  insurance: z
    .union([
      z.boolean(),
      z.custom<CounterStore>(isStore, { message: "must be true, false or a CounterStore" }),
    ])
    .default(false),
  /** `retryAfterMs` reported by a fail-closed denial. Default 1000. */
  failClosedRetryAfterMs: z.number().int().min(0).default(1000),
};

/** Options of {@link withFailMode}. */
export const FailModeOptionsSchema = z
  .object({
    ...failModeFields,
    /** Clock in epoch ms (fail-open windows, the insurance store). Default `Date.now`. */
    now: clockSchema.optional(),
    /** Id source of fail-open reservations. Default: a random prefix plus a sequence. */
    ids: fnSchema<() => string>("returning a unique reservation id").optional(),
  })
  .strict();

/** Input type of {@link FailModeOptionsSchema}. */
export type FailModeOptions = z.input<typeof FailModeOptionsSchema>;

const INSURANCE_PREFIX = "ins:";
const OPEN_PREFIX = "open:";

/**
 * Gives any backend a failure mode. A backend's `reserve` rejects with a
 * `STORE_UNAVAILABLE` error when it cannot count (see `isOutage`); this wrapper turns
 * that into a decision instead: `fail: "closed"` refuses (`degraded.mode:
 * "fail_closed"`), `fail: "open"` admits, counting in the insurance store when one is
 * set. Any other rejection (malformed specs, a closed store) passes through. Commit and
 * rollback of reservations made while the backend was down never reach it: fail-open
 * ones counted nothing, insurance ones settle in the insurance store.
 *
 * @example
 * const store = withFailMode(myPostgresBackend, { fail: "open", insurance: true });
 */
export function withFailMode(
  backend: MeteredCounterStore,
  options: FailModeOptions = {},
): MeteredCounterStore {
  const opts = parseOptions(FailModeOptionsSchema, options, "fail mode options");
  const name = backend.name;
  const now = opts.now ?? Date.now;
  const nextId = opts.ids ?? sequentialIds("o");
  const tally = new Tally();
  let closed = false;
  let insurance: CounterStore | undefined;
  let ownsInsurance = false;
  if (opts.insurance === true) {
    insurance = createMemoryStore({ name: `${name}-insurance`, now, sweepIntervalMs: 0 });
    ownsInsurance = true;
  } else if (opts.insurance !== false) {
    insurance = opts.insurance;
  }

  function failClosed(reason: string): ReserveOutcome {
    tally.failClosed++;
    const degraded: StoreDegradation = { mode: "fail_closed", store: name, reason };
    return {
      admitted: false,
      blockedBy: 0,
      retryAfterMs: opts.failClosedRetryAfterMs,
      counters: [],
      degraded,
    };
  }

  async function insured(
    ins: CounterStore,
    specs: readonly CounterSpec[],
    reason: string,
  ): Promise<ReserveOutcome> {
    tally.insurance++;
    const degraded: StoreDegradation = { mode: "fail_open", store: name, reason, insurance: true };
    const out = await ins.reserve(specs);
    if (!out.admitted) {
      tally.refused++;
      return { ...out, degraded };
    }
    tally.admitted++;
    const reservation = { ...out.reservation, id: INSURANCE_PREFIX + out.reservation.id };
    return { ...out, reservation, degraded };
  }

  function openAdmit(specs: readonly CounterSpec[], reason: string): ReserveOutcome {
    tally.admitted++;
    const t = now();
    const degraded: StoreDegradation = { mode: "fail_open", store: name, reason };
    return {
      admitted: true,
      reservation: {
        id: OPEN_PREFIX + nextId(),
        counters: specs.map((s) => ({
          key: s.key,
          weight: s.weight,
          resetAtMs: t + s.windowMs,
          windowMs: s.windowMs,
        })),
      },
      counters: specs.map((s) => counterState(s.key, 0, s.max, t + s.windowMs)),
      degraded,
    };
  }

  function degrade(specs: readonly CounterSpec[], err: unknown): Promise<ReserveOutcome> {
    if (!isOutage(err)) return Promise.reject(err);
    if (opts.fail === "closed") return Promise.resolve(failClosed(err.message));
    tally.failOpen++;
    if (insurance !== undefined) return insured(insurance, specs, err.message);
    return Promise.resolve(openAdmit(specs, err.message));
  }

  /** True when the reservation was made while the backend was down (and is handled here). */
  async function settledElsewhere(
    reservation: CounterReservation,
    op: "commit" | "rollback",
  ): Promise<boolean> {
    if (closed) throw storeClosedError(name);
    if (reservation.id.startsWith(OPEN_PREFIX)) return true;
    if (!reservation.id.startsWith(INSURANCE_PREFIX)) return false;
    await insurance?.[op]({ ...reservation, id: reservation.id.slice(INSURANCE_PREFIX.length) });
    return true;
  }

  return {
    name,
    reserve(specs) {
      return backend.reserve(specs).then(undefined, (err: unknown) => degrade(specs, err));
    },
    async commit(reservation) {
      if (await settledElsewhere(reservation, "commit")) return;
      await backend.commit(reservation);
    },
    async rollback(reservation) {
      if (await settledElsewhere(reservation, "rollback")) return;
      await backend.rollback(reservation);
    },
    peek: (specs) => backend.peek(specs),
    ready: () => backend.ready(),
    async close() {
      if (closed) return;
      closed = true;
      if (ownsInsurance) await insurance?.close();
      await backend.close();
    },
    stats(): StoreStats {
      return addStats(backend.stats(), tally);
    },
  };
}
