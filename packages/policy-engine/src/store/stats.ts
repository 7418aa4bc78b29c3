import type { CounterStore } from "../contracts.js";

/**
 * A point-in-time snapshot of a store's counters, meant to be exported as metrics
 * (the gateway maps each number to a Prometheus counter or gauge). All counts are
 * cumulative since the store was created.
 */
export interface StoreStats {
  /** Store name, e.g. `memory`, `redis`. */
  readonly store: string;
  /** `reserve` calls answered. */
  readonly reservations: number;
  /** Reservations admitted (including fail-open admissions). */
  readonly admitted: number;
  /** Reservations refused by a limit (including local short-circuits, excluding fail-closed). */
  readonly refused: number;
  /** Redis only: refusals answered from this process's memory without a round trip. */
  readonly localRefusals: number;
  /** Reservations denied because the backend failed and the mode is `closed`. */
  readonly failClosed: number;
  /** Reservations decided without the backend because the mode is `open`. */
  readonly failOpen: number;
  /** Of `failOpen`, how many the insurance limiter counted. */
  readonly insurance: number;
  /** Backend errors seen (failed commands and connection errors). */
  readonly errors: number;
  /** Memory: counter keys held (ended windows until the next sweep). Redis: keys marked full in local memory. */
  readonly keys: number;
  /** Reservations released by the hold ceiling because nobody settled them in time. */
  readonly released?: number;
  /** The latest backend error message, secrets removed; absent while none happened. */
  readonly lastError?: string | undefined;
}

/** A `CounterStore` that also reports {@link StoreStats}; every shipped store is one. */
export interface MeteredCounterStore extends CounterStore {
  /** Snapshot of the store's counters; cheap, safe to call on every metrics scrape. */
  stats(): StoreStats;
}

/**
 * Mutable tallies behind {@link StoreStats}, for store implementations (and wrappers,
 * which add theirs to the backend's with {@link addStats}).
 */
export class Tally {
  reservations = 0;
  admitted = 0;
  refused = 0;
  localRefusals = 0;
  failClosed = 0;
  failOpen = 0;
  insurance = 0;
  errors = 0;
  released = 0;
  lastError: string | undefined = undefined;

  /** The tallies as {@link StoreStats} of `store` holding `keys` keys. */
  snapshot(store: string, keys: number): StoreStats {
    return {
      store,
      reservations: this.reservations,
      admitted: this.admitted,
      refused: this.refused,
      localRefusals: this.localRefusals,
      failClosed: this.failClosed,
      failOpen: this.failOpen,
      insurance: this.insurance,
      errors: this.errors,
      keys,
      released: this.released,
      lastError: this.lastError,
    };
  }
}

/** `base` with a wrapper's own tallies added (the wrapper's last error wins when newer). */
export function addStats(base: StoreStats, extra: Tally): StoreStats {
  return {
    store: base.store,
    reservations: base.reservations + extra.reservations,
    admitted: base.admitted + extra.admitted,
    refused: base.refused + extra.refused,
    localRefusals: base.localRefusals + extra.localRefusals,
    failClosed: base.failClosed + extra.failClosed,
    failOpen: base.failOpen + extra.failOpen,
    insurance: base.insurance + extra.insurance,
    errors: base.errors + extra.errors,
    keys: base.keys,
    released: (base.released ?? 0) + extra.released,
    lastError: base.lastError,
  };
}
