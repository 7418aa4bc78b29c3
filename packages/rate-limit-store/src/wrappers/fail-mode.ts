import {
  addStats,
  type CounterReservation,
  type CounterSpec,
  type CounterState,
  type CounterStore,
  clockSchema,
  counterState,
  createMemoryStore,
  fnSchema,
  type MeteredCounterStore,
  type PeekSpec,
  type ReserveOutcome,
  type StoreDegradation,
  type StoreHealth,
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

type FailModeConfig = z.output<typeof FailModeOptionsSchema>;

/** The wrapper behind {@link withFailMode}. */
class FailModeStore implements MeteredCounterStore {
  readonly name: string;
  readonly #backend: MeteredCounterStore;
  readonly #opts: FailModeConfig;
  readonly #now: () => number;
  readonly #nextId: () => string;
  readonly #tally = new Tally();
  readonly #insurance: CounterStore | undefined;
  readonly #ownsInsurance: boolean;
  #closed = false;

  constructor(backend: MeteredCounterStore, opts: FailModeConfig) {
    this.name = backend.name;
    this.#backend = backend;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#nextId = opts.ids ?? sequentialIds("o");
    this.#ownsInsurance = opts.insurance === true;
    this.#insurance =
      opts.insurance === true
        ? createMemoryStore({ name: `${this.name}-insurance`, now: this.#now, sweepIntervalMs: 0 })
        : opts.insurance === false
          ? undefined
          : opts.insurance;
  }

  reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    return this.#backend
      .reserve(specs)
      .then(undefined, (err: unknown) => this.#degrade(specs, err));
  }

  #degrade(specs: readonly CounterSpec[], err: unknown): Promise<ReserveOutcome> {
    if (!isOutage(err)) return Promise.reject(err);
    if (this.#opts.fail === "closed") return Promise.resolve(this.#failClosed(err.message));
    this.#tally.failOpen++;
    if (this.#insurance !== undefined) return this.#insured(this.#insurance, specs, err.message);
    return Promise.resolve(this.#openAdmit(specs, err.message));
  }

  #failClosed(reason: string): ReserveOutcome {
    this.#tally.failClosed++;
    const degraded: StoreDegradation = { mode: "fail_closed", store: this.name, reason };
    return {
      admitted: false,
      blockedBy: 0,
      retryAfterMs: this.#opts.failClosedRetryAfterMs,
      counters: [],
      degraded,
    };
  }

  async #insured(
    ins: CounterStore,
    specs: readonly CounterSpec[],
    reason: string,
  ): Promise<ReserveOutcome> {
    const tally = this.#tally;
    tally.insurance++;
    const degraded: StoreDegradation = {
      mode: "fail_open",
      store: this.name,
      reason,
      insurance: true,
    };
    const out = await ins.reserve(specs);
    if (!out.admitted) {
      tally.refused++;
      return { ...out, degraded };
    }
    tally.admitted++;
    const reservation = { ...out.reservation, id: INSURANCE_PREFIX + out.reservation.id };
    return { ...out, reservation, degraded };
  }

  #openAdmit(specs: readonly CounterSpec[], reason: string): ReserveOutcome {
    this.#tally.admitted++;
    const t = this.#now();
    const degraded: StoreDegradation = { mode: "fail_open", store: this.name, reason };
    return {
      admitted: true,
      reservation: {
        id: OPEN_PREFIX + this.#nextId(),
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

  /**
   * Where a settle goes: reservations made while the backend was down are handled here
   * (fail-open ones counted nothing, insurance ones settle in the insurance store);
   * the rest go straight to the backend, without an async frame on the way.
   */
  #settle(reservation: CounterReservation, op: "commit" | "rollback"): Promise<void> {
    if (this.#closed) return Promise.reject(storeClosedError(this.name));
    const id = reservation.id;
    if (id.startsWith(OPEN_PREFIX)) return Promise.resolve();
    if (!id.startsWith(INSURANCE_PREFIX)) return this.#backend[op](reservation);
    const ins = this.#insurance;
    if (ins === undefined) return Promise.resolve();
    return ins[op]({ ...reservation, id: id.slice(INSURANCE_PREFIX.length) });
  }

  commit(reservation: CounterReservation): Promise<void> {
    return this.#settle(reservation, "commit");
  }

  rollback(reservation: CounterReservation): Promise<void> {
    return this.#settle(reservation, "rollback");
  }

  peek(specs: readonly PeekSpec[]): Promise<CounterState[]> {
    return this.#backend.peek(specs);
  }

  ready(): Promise<StoreHealth> {
    return this.#backend.ready();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsInsurance) await this.#insurance?.close();
    await this.#backend.close();
  }

  stats(): StoreStats {
    return addStats(this.#backend.stats(), this.#tally);
  }
}

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
  return new FailModeStore(
    backend,
    parseOptions(FailModeOptionsSchema, options, "fail mode options"),
  );
}
