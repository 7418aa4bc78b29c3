import {
  type Clock,
  type CounterReservation,
  type CounterSpec,
  type CounterState,
  counterState,
  invalidSpec,
  isFixed,
  type MeteredCounterStore,
  type PeekSpec,
  type ReserveOutcome,
  type StoreHealth,
  type StoreStats,
  storeClosedError,
  type Tally,
} from "@toolgate/policy-engine";
import { RateLimitStoreError, RateLimitStoreErrorCode } from "../errors.js";
import type { RedisConnection, Reply } from "./connection.js";
import { LocalRefusals } from "./local-refusals.js";

/** What the backend needs beyond its connection. */
export interface RedisBackendOptions {
  readonly name: string;
  /** `<prefix>{<hashTag>}:`: every key of the store shares one Cluster slot. */
  readonly keyBase: string;
  readonly localRefusalMaxMs: number;
  readonly now: Clock;
  readonly nextId: () => string;
  readonly tally: Tally;
}

/** Key namespace per algorithm, so limits of different algorithms never share state. */
function ns(s: Pick<CounterSpec, "algorithm">): string {
  return s.algorithm === "sliding" ? "s:" : s.algorithm === "token_bucket" ? "b:" : "c:";
}

/** The algorithm's letter in the smooth scripts' ARGV. */
function letter(s: Pick<CounterSpec, "algorithm">): string {
  return s.algorithm === "sliding" ? "s" : s.algorithm === "token_bucket" ? "b" : "f";
}

/**
 * The marker's absolute expiry on the Redis clock: the reservation's resetAtMs values
 * are Redis PEXPIRETIMEs, so a gateway whose clock runs ahead cannot expire a commit
 * marker before its window ends (which would let a late rollback give units back).
 * A little past the last window, so a late duplicate stays a no-op.
 */
function markerExpireAt(reservation: CounterReservation): number {
  let until = 0;
  for (const c of reservation.counters) if (c.resetAtMs > until) until = c.resetAtMs;
  return Math.ceil(until) + 1000;
}

/**
 * The Redis backend without a failure mode: `reserve` rejects with `STORE_UNAVAILABLE`
 * when Redis fails (the fail-mode wrapper decides what that means). One EVALSHA per
 * `reserve`; keys Redis refused are refused locally until their window ends or
 * `localRefusalMaxMs` passes, which never admits anything Redis would refuse.
 */
class RedisBackend implements MeteredCounterStore {
  readonly name: string;
  readonly #o: RedisBackendOptions;
  readonly #conn: RedisConnection;
  readonly #local: LocalRefusals;
  #closed = false;
  #inflight = 0;

  constructor(o: RedisBackendOptions, conn: RedisConnection) {
    this.name = o.name;
    this.#o = o;
    this.#conn = conn;
    this.#local = new LocalRefusals(o.localRefusalMaxMs, o.tally);
  }

  /** One script call; auto-pipelining batches concurrent calls, a lone call goes out at once. */
  #send(specs: readonly CounterSpec[], lone: boolean): Promise<Reply> {
    const scripts = this.#conn.scripts;
    const keyBase = this.#o.keyBase;
    const n = specs.length;
    if (n === 1) {
      const s = specs[0]!;
      const key = keyBase + "c:" + s.key;
      // PX takes whole milliseconds.
      const ms = Math.ceil(s.windowMs);
      return lone
        ? scripts.toolgateReserveOneDirect(1, key, s.weight, s.max, ms)
        : scripts.toolgateReserveOne(1, key, s.weight, s.max, ms);
    }
    const args: Array<string | number> = new Array(n * 4);
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      args[i] = keyBase + "c:" + s.key;
      args[n + 3 * i] = s.weight;
      args[n + 3 * i + 1] = s.max;
      args[n + 3 * i + 2] = Math.ceil(s.windowMs);
    }
    return lone ? scripts.toolgateReserveDirect(n, ...args) : scripts.toolgateReserve(n, ...args);
  }

  #admitted(specs: readonly CounterSpec[], reply: Reply): ReserveOutcome {
    const n = specs.length;
    const counters: CounterReservation["counters"][number][] = new Array(n);
    const states: CounterState[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      const used = Number(reply[1 + 2 * i]);
      const resetAtMs = Number(reply[2 + 2 * i]);
      counters[i] = { key: s.key, weight: s.weight, resetAtMs, windowMs: s.windowMs };
      states[i] = counterState(s.key, used, s.max, resetAtMs);
    }
    this.#o.tally.admitted++;
    return { admitted: true, reservation: { id: this.#o.nextId(), counters }, counters: states };
  }

  #refused(specs: readonly CounterSpec[], reply: Reply, t0: number): ReserveOutcome {
    const t = this.#o.now();
    const blockedBy = Number(reply[1]);
    const states: CounterState[] = new Array(specs.length);
    let retryAfterMs = 0;
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      const used = Number(reply[2 + 2 * i]);
      const pttl = Number(reply[3 + 2 * i]);
      states[i] = counterState(s.key, used, s.max, pttl > 0 ? t + pttl : t + s.windowMs);
      if (i === blockedBy) {
        // A weight larger than max never fits; report the window length as a hint.
        retryAfterMs = pttl > 0 ? pttl : s.windowMs;
        // Counted from when the call was sent, not when the reply came back: Redis read
        // the PTTL somewhere in between, so the mark ends no later than the window does.
        this.#local.remember(s.key, used, pttl, t0);
      }
    }
    this.#o.tally.refused++;
    return { admitted: false, blockedBy, retryAfterMs, counters: states };
  }

  /** A call with sliding or token-bucket limits: one SMOOTH_RESERVE_LUA call. */
  async #reserveSmooth(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    const n = specs.length;
    const id = this.#o.nextId();
    const keys: string[] = new Array(n);
    const argv: Array<string | number> = [id];
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      keys[i] = this.#o.keyBase + ns(s) + s.key;
      argv.push(letter(s), s.weight, s.max, Math.ceil(s.windowMs), s.burst ?? s.max);
    }
    let reply: Reply;
    try {
      const wait = this.#conn.waitFirstReady();
      if (wait !== undefined) await wait;
      const scripts = this.#conn.scripts;
      reply = await (this.#inflight === 1
        ? scripts.toolgateSmoothReserveDirect(n, ...keys, ...argv)
        : scripts.toolgateSmoothReserve(n, ...keys, ...argv));
    } catch (err) {
      throw this.#conn.unavailable(err);
    }
    const t = this.#o.now();
    if (reply[0] === 1) {
      const counters: CounterReservation["counters"][number][] = new Array(n);
      const states: CounterState[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const s = specs[i]!;
        const used = Number(reply[1 + 3 * i]);
        const resetAtMs = Number(reply[2 + 3 * i]);
        const token = String(reply[3 + 3 * i]);
        counters[i] = {
          key: s.key,
          weight: s.weight,
          resetAtMs,
          windowMs: s.windowMs,
          ...(!isFixed(s) && { algorithm: s.algorithm, token }),
        };
        // resetAt is on the Redis clock; states report it on ours.
        const max = s.algorithm === "token_bucket" ? (s.burst ?? s.max) : s.max;
        states[i] = counterState(s.key, used, max, resetAtMs);
      }
      this.#o.tally.admitted++;
      return { admitted: true, reservation: { id, counters }, counters: states };
    }
    const blockedBy = Number(reply[1]);
    const retryAfterMs = Math.max(0, Number(reply[2]));
    const states = specs.map((s, i) => this.#state(s, reply[3 + 2 * i]!, reply[4 + 2 * i]!, t));
    this.#o.tally.refused++;
    return { admitted: false, blockedBy, retryAfterMs, counters: states };
  }

  /** A counter state from a smooth script's `used, resetIn` pair. */
  #state(s: PeekSpec, u: string | number, r: string | number, t: number): CounterState {
    const max = s.algorithm === "token_bucket" ? (s.burst ?? s.max) : s.max;
    const resetIn = Number(r);
    return resetIn > 0
      ? counterState(s.key, Number(u), max, t + resetIn)
      : counterState(s.key, 0, max, isFixed(s) ? t + s.windowMs : t);
  }

  async reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    if (this.#closed) throw storeClosedError(this.name);
    const bad = invalidSpec(specs, true);
    if (bad !== undefined) throw bad;
    for (let i = 0; i < specs.length; i++) {
      if (!isFixed(specs[i]!)) {
        this.#o.tally.reservations++;
        this.#inflight++;
        try {
          return await this.#reserveSmooth(specs);
        } finally {
          this.#inflight--;
        }
      }
    }
    const tally = this.#o.tally;
    tally.reservations++;
    const t0 = this.#o.now();
    const shortcut = this.#local.refusal(specs, t0);
    if (shortcut !== undefined) return shortcut;
    if (specs.length === 0) {
      tally.admitted++;
      return { admitted: true, reservation: { id: this.#o.nextId(), counters: [] }, counters: [] };
    }
    let reply: Reply;
    this.#inflight++;
    try {
      const wait = this.#conn.waitFirstReady();
      if (wait !== undefined) await wait;
      reply = await this.#send(specs, this.#inflight === 1);
    } catch (err) {
      throw this.#conn.unavailable(err);
    } finally {
      this.#inflight--;
    }
    return reply[0] === 1 ? this.#admitted(specs, reply) : this.#refused(specs, reply, t0);
  }

  async commit(reservation: CounterReservation): Promise<void> {
    if (this.#closed) throw storeClosedError(this.name);
    // Nothing was counted, so nothing can be given back later.
    if (reservation.counters.length === 0) return;
    try {
      // The marker makes a later rollback of this reservation, on any instance, a no-op.
      await this.#conn.client.set(
        this.#o.keyBase + "r:" + reservation.id,
        "committed",
        "PXAT",
        markerExpireAt(reservation),
        "NX",
      );
    } catch (err) {
      this.#conn.recordError(err);
    }
  }

  async rollback(reservation: CounterReservation): Promise<void> {
    if (this.#closed) throw storeClosedError(this.name);
    if (reservation.counters.length === 0) return;
    const keyBase = this.#o.keyBase;
    // Units given back may make room: stop refusing these keys locally.
    for (const c of reservation.counters) this.#local.forget(c.key);
    if (reservation.counters.some((c) => !isFixed(c))) {
      const keys = [keyBase + "r:" + reservation.id];
      const argv: Array<string | number> = [markerExpireAt(reservation)];
      for (const c of reservation.counters) {
        keys.push(keyBase + ns(c) + c.key);
        argv.push(letter(c), c.weight, c.resetAtMs, c.token ?? "", Math.ceil(c.windowMs));
      }
      try {
        await this.#conn.scripts.toolgateSmoothRollback(keys.length, ...keys, ...argv);
      } catch (err) {
        this.#conn.recordError(err);
      }
      return;
    }
    const args: Array<string | number> = [keyBase + "r:" + reservation.id];
    for (const c of reservation.counters) args.push(keyBase + "c:" + c.key);
    args.push(markerExpireAt(reservation));
    for (const c of reservation.counters) args.push(c.weight, c.resetAtMs);
    try {
      await this.#conn.scripts.toolgateRollback(reservation.counters.length + 1, ...args);
    } catch (err) {
      // Losing a rollback only makes the limit stricter for the rest of the window.
      this.#conn.recordError(err);
    }
  }

  async peek(specs: readonly PeekSpec[]): Promise<CounterState[]> {
    if (this.#closed) throw storeClosedError(this.name);
    const bad = invalidSpec(specs, false);
    if (bad !== undefined) throw bad;
    const conn = this.#conn;
    const smooth = specs.some((s) => !isFixed(s));
    let reply: Reply;
    try {
      const wait = conn.waitFirstReady();
      if (wait !== undefined) await wait;
      reply = smooth
        ? await conn.scripts.toolgateSmoothPeek(
            specs.length,
            ...specs.map((s) => this.#o.keyBase + ns(s) + s.key),
            ...specs.flatMap((s) => [letter(s), s.max, Math.ceil(s.windowMs)]),
          )
        : await conn.scripts.toolgatePeek(
            specs.length,
            ...specs.map((s) => this.#o.keyBase + "c:" + s.key),
          );
    } catch (err) {
      conn.recordError(err);
      throw new RateLimitStoreError(
        RateLimitStoreErrorCode.STORE_UNAVAILABLE,
        `limit store unavailable: ${conn.describe(err)}`,
        { store: this.name },
      );
    }
    const t = this.#o.now();
    if (smooth) return specs.map((s, i) => this.#state(s, reply[2 * i]!, reply[2 * i + 1]!, t));
    return specs.map((s, i) => {
      const used = Number(reply[2 * i]);
      const pttl = Number(reply[2 * i + 1]);
      return pttl > 0
        ? counterState(s.key, used, s.max, t + pttl)
        : counterState(s.key, 0, s.max, t + s.windowMs);
    });
  }

  async ready(): Promise<StoreHealth> {
    if (this.#closed) return { ok: false, store: this.name, detail: "closed" };
    return this.#conn.ready();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#local.clear();
    await this.#conn.close();
  }

  stats(): StoreStats {
    return this.#o.tally.snapshot(this.name, this.#local.size);
  }
}

/** Creates the Redis backend over an open {@link RedisConnection}. */
export function createRedisBackend(
  o: RedisBackendOptions,
  conn: RedisConnection,
): MeteredCounterStore {
  return new RedisBackend(o, conn);
}
