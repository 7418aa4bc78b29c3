import type {
  CounterReservation,
  CounterSpec,
  CounterState,
  CounterStore,
  ReserveOutcome,
  StoreHealth,
} from "./contracts.js";

interface Window {
  used: number;
  resetAtMs: number;
  /** Set while the reserve that created this window is still deciding. */
  opened?: boolean;
}

/** Options of {@link createInProcessCounterStore}. */
export interface InProcessCounterStoreOptions {
  /** Clock in epoch milliseconds. Default `Date.now`. Inject a fake clock in tests. */
  readonly now?: () => number;
}

/**
 * The reservation handed out by this store. Its own `settled` flag makes commit and
 * rollback idempotent without a registry of pending ids (which would cost a map insert
 * and delete per call and need sweeping); an unsettled reservation is simply
 * garbage-collected.
 */
class InProcessReservation implements CounterReservation {
  settled = false;
  constructor(
    readonly id: string,
    readonly counters: CounterReservation["counters"],
  ) {}
}

/**
 * Sweeping expired windows is amortised: after at least this many operations and at
 * least as many operations as there are entries, so each operation pays O(1).
 */
const SWEEP_EVERY = 4096;

class InProcessCounterStore implements CounterStore {
  readonly name = "in-process";
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();
  #seq = 0;
  #opsSinceSweep = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  #live(key: string, now: number): Window | undefined {
    const w = this.#windows.get(key);
    if (w === undefined) return undefined;
    if (now >= w.resetAtMs) {
      this.#windows.delete(key);
      return undefined;
    }
    return w;
  }

  #state(key: string, w: Window | undefined, max: number, windowMs: number, now: number) {
    const used = w === undefined ? 0 : w.used;
    return {
      key,
      used,
      max,
      remaining: used >= max ? 0 : max - used,
      resetAtMs: w === undefined ? now + windowMs : w.resetAtMs,
    };
  }

  #maybeSweep(now: number): void {
    if (++this.#opsSinceSweep < SWEEP_EVERY) return;
    if (this.#opsSinceSweep < this.#windows.size) return;
    this.#opsSinceSweep = 0;
    for (const [k, w] of this.#windows) if (now >= w.resetAtMs) this.#windows.delete(k);
  }

  reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    return Promise.resolve(this.reserveNow(specs));
  }

  /** `reserve` without the promise, for the engine's hot path (see {@link syncReserver}). */
  reserveNow(specs: readonly CounterSpec[]): ReserveOutcome {
    const now = this.#now();
    this.#maybeSweep(now);
    const n = specs.length;
    // Apply one by one and undo on refusal: atomic because nothing awaits in between,
    // and correct when one call names the same key twice.
    const applied: Window[] = [];
    for (let i = 0; i < n; i++) {
      const s = specs[i] as CounterSpec;
      let w = this.#live(s.key, now);
      const used = w === undefined ? 0 : w.used;
      if (used + s.weight > s.max) {
        for (let j = 0; j < applied.length; j++) {
          const aw = applied[j] as Window;
          aw.used -= (specs[j] as CounterSpec).weight;
          // A window this refused call opened must not exist: the next admitted call opens it.
          if (aw.used === 0 && aw.opened) this.#windows.delete((specs[j] as CounterSpec).key);
        }
        // A window opened under an older, longer policy window (a reload shortened it)
        // is cut to the current one: a refusal never lasts longer than the policy's window.
        if (w !== undefined && w.resetAtMs - now > s.windowMs) w.resetAtMs = now + s.windowMs;
        const counters: CounterState[] = new Array(n);
        for (let j = 0; j < n; j++) {
          const sj = specs[j] as CounterSpec;
          counters[j] = this.#state(sj.key, this.#live(sj.key, now), sj.max, sj.windowMs, now);
        }
        const retryAfterMs =
          w === undefined || s.weight > s.max ? s.windowMs : Math.max(1, w.resetAtMs - now);
        return { admitted: false, blockedBy: i, retryAfterMs, counters };
      }
      if (w === undefined) {
        w = { used: 0, resetAtMs: now + s.windowMs, opened: true };
        this.#windows.set(s.key, w);
      }
      w.used += s.weight;
      applied.push(w);
    }
    const counters: CounterState[] = new Array(n);
    const reserved: CounterReservation["counters"][number][] = new Array(n);
    for (let i = 0; i < n; i++) {
      const s = specs[i] as CounterSpec;
      const w = applied[i] as Window;
      w.opened = false;
      counters[i] = this.#state(s.key, w, s.max, s.windowMs, now);
      reserved[i] = { key: s.key, weight: s.weight, resetAtMs: w.resetAtMs, windowMs: s.windowMs };
    }
    const reservation = new InProcessReservation(`r${++this.#seq}`, reserved);
    return { admitted: true, reservation, counters };
  }

  commit(reservation: CounterReservation): Promise<void> {
    if (reservation instanceof InProcessReservation) reservation.settled = true;
    return Promise.resolve();
  }

  rollback(reservation: CounterReservation): Promise<void> {
    // Only reservations this store issued and nobody settled yet give units back.
    if (reservation instanceof InProcessReservation && !reservation.settled) {
      reservation.settled = true;
      const now = this.#now();
      for (const c of reservation.counters) {
        const w = this.#live(c.key, now);
        // Only the window the units went into gets them back.
        if (w !== undefined && w.resetAtMs === c.resetAtMs) w.used = Math.max(0, w.used - c.weight);
      }
    }
    return Promise.resolve();
  }

  peek(specs: readonly Pick<CounterSpec, "key" | "windowMs" | "max">[]): Promise<CounterState[]> {
    const now = this.#now();
    return Promise.resolve(
      specs.map((s) => this.#state(s.key, this.#live(s.key, now), s.max, s.windowMs, now)),
    );
  }

  ready(): Promise<StoreHealth> {
    return Promise.resolve({ ok: true, store: this.name });
  }

  close(): Promise<void> {
    this.#windows.clear();
    return Promise.resolve();
  }
}

/**
 * An exact, fast, single-process {@link CounterStore} with fixed windows (a window
 * opens at the first reservation on a key and lasts `windowMs`). For the engine's
 * own tests, the policy test runner and embedded single-process use; use
 * `@toolgate/rate-limit-store` for Redis-backed counters shared by several processes.
 * Holds no timers: expired windows are dropped lazily. `commit`/`rollback` accept only
 * reservations this store returned (others are ignored).
 *
 * @example
 * const store = createInProcessCounterStore({ now: () => clock.now });
 */
export function createInProcessCounterStore(opts: InProcessCounterStoreOptions = {}): CounterStore {
  return new InProcessCounterStore(opts.now ?? Date.now);
}

/**
 * The synchronous reserve of an in-process store, or `undefined` for any other store.
 * Internal (not exported from the package): the engine uses it to settle a decision
 * with limits in one resolved promise instead of chaining on the store's, which is
 * most of the per-call overhead when counting happens in process.
 */
export function syncReserver(
  store: CounterStore,
): ((specs: readonly CounterSpec[]) => ReserveOutcome) | undefined {
  return store instanceof InProcessCounterStore ? (specs) => store.reserveNow(specs) : undefined;
}
