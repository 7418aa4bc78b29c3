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
import { CommitBatch } from "./commit-batch.js";
import type { RedisConnection, Reply } from "./connection.js";
import { LocalRefusals } from "./local-refusals.js";
import { groupBySlot, type KeyLayout } from "./slots.js";
import { reserveSpread } from "./spread.js";

/** What the backend needs beyond its connection. */
export interface RedisBackendOptions {
  readonly name: string;
  /** Where keys live: one slot for the whole store, or one per scope value. */
  readonly layout: KeyLayout;
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
  readonly #commits: CommitBatch;
  #closed = false;
  #inflight = 0;

  constructor(o: RedisBackendOptions, conn: RedisConnection) {
    this.name = o.name;
    this.#o = o;
    this.#conn = conn;
    this.#local = new LocalRefusals(o.localRefusalMaxMs, o.tally);
    this.#commits = new CommitBatch(conn);
  }

  /** One script call; auto-pipelining batches concurrent calls, a lone call goes out at once. */
  #send(specs: readonly CounterSpec[], lone: boolean): Promise<Reply> {
    const scripts = this.#conn.scripts;
    const layout = this.#o.layout;
    const n = specs.length;
    if (n === 1) {
      const s = specs[0]!;
      const key = layout.counter("c:", s.key);
      // PX takes whole milliseconds.
      const ms = Math.ceil(s.windowMs);
      return lone
        ? scripts.toolgateReserveOneDirect(1, key, s.weight, s.max, ms)
        : scripts.toolgateReserveOne(1, key, s.weight, s.max, ms);
    }
    const args: Array<string | number> = new Array(n * 4);
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      args[i] = layout.counter("c:", s.key);
      args[n + 3 * i] = s.weight;
      args[n + 3 * i + 1] = s.max;
      args[n + 3 * i + 2] = Math.ceil(s.windowMs);
    }
    return lone ? scripts.toolgateReserveDirect(n, ...args) : scripts.toolgateReserve(n, ...args);
  }

  #admitted(specs: readonly CounterSpec[], reply: Reply, id: string): ReserveOutcome {
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
    return { admitted: true, reservation: { id, counters }, counters: states };
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
    return { admitted: false, blockedBy, retryAfterMs, counters: states };
  }

  /** Parses a SMOOTH_RESERVE_LUA reply (a call with sliding or token-bucket limits). */
  #smoothOutcome(specs: readonly CounterSpec[], reply: Reply, id: string): ReserveOutcome {
    const n = specs.length;
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
      return { admitted: true, reservation: { id, counters }, counters: states };
    }
    const blockedBy = Number(reply[1]);
    const retryAfterMs = Math.max(0, Number(reply[2]));
    const states = specs.map((s, i) => this.#state(s, reply[3 + 2 * i]!, reply[4 + 2 * i]!, t));
    return { admitted: false, blockedBy, retryAfterMs, counters: states };
  }

  /** SMOOTH_RESERVE_LUA for the specs of one slot. */
  #sendSmooth(specs: readonly CounterSpec[], id: string, lone: boolean): Promise<Reply> {
    const n = specs.length;
    const keys: string[] = new Array(n);
    const argv: Array<string | number> = [id];
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      keys[i] = this.#o.layout.counter(ns(s), s.key);
      argv.push(letter(s), s.weight, s.max, Math.ceil(s.windowMs), s.burst ?? s.max);
    }
    const scripts = this.#conn.scripts;
    if (n === 1 && specs[0]!.algorithm === "sliding") {
      // One sliding limit: the specialised script (same reply, fewer server calls).
      return lone
        ? scripts.toolgateSlidingOneDirect(1, keys[0]!, ...argv)
        : scripts.toolgateSlidingOne(1, keys[0]!, ...argv);
    }
    return lone
      ? scripts.toolgateSmoothReserveDirect(n, ...keys, ...argv)
      : scripts.toolgateSmoothReserve(n, ...keys, ...argv);
  }

  /** A counter state from a smooth script's `used, resetIn` pair. */
  #state(s: PeekSpec, u: string | number, r: string | number, t: number): CounterState {
    const max = s.algorithm === "token_bucket" ? (s.burst ?? s.max) : s.max;
    const resetIn = Number(r);
    return resetIn > 0
      ? counterState(s.key, Number(u), max, t + resetIn)
      : counterState(s.key, 0, max, isFixed(s) ? t + s.windowMs : t);
  }

  /**
   * One script for specs that share a slot (all of a call's, unless the layout spreads
   * them): all admitted or none. Rejects with `STORE_UNAVAILABLE` when Redis fails.
   */
  async #reserveSlot(
    specs: readonly CounterSpec[],
    smooth: boolean,
    t0: number,
    id: string,
  ): Promise<ReserveOutcome> {
    let reply: Reply;
    this.#inflight++;
    try {
      const wait = this.#conn.waitFirstReady();
      if (wait !== undefined) await wait;
      const lone = this.#inflight === 1;
      reply = await (smooth ? this.#sendSmooth(specs, id, lone) : this.#send(specs, lone));
    } catch (err) {
      throw this.#conn.unavailable(err);
    } finally {
      this.#inflight--;
    }
    if (smooth) return this.#smoothOutcome(specs, reply, id);
    return reply[0] === 1 ? this.#admitted(specs, reply, id) : this.#refused(specs, reply, t0);
  }

  readonly #reserveOneSlot = (specs: readonly CounterSpec[], id: string) =>
    this.#reserveSlot(specs, !specs.every(isFixed), this.#o.now(), id);
  readonly #release = (counters: CounterReservation["counters"], id: string) => {
    // The units go back: stop refusing these keys locally.
    for (const c of counters) this.#local.forget(c.key);
    return this.#rollbackSlot(counters, id);
  };

  async reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    if (this.#closed) throw storeClosedError(this.name);
    const bad = invalidSpec(specs, true);
    if (bad !== undefined) throw bad;
    const tally = this.#o.tally;
    tally.reservations++;
    let smooth = false;
    for (let i = 0; i < specs.length; i++) if (!isFixed(specs[i]!)) smooth = true;
    const t0 = this.#o.now();
    if (!smooth) {
      // Local refusals stay fixed-window only (a smooth refusal frees up continuously).
      const shortcut = this.#local.refusal(specs, t0);
      if (shortcut !== undefined) return shortcut;
    }
    if (specs.length === 0) {
      tally.admitted++;
      return { admitted: true, reservation: { id: this.#o.nextId(), counters: [] }, counters: [] };
    }
    let out: ReserveOutcome;
    const groups = this.#o.layout.sharded && specs.length > 1 ? this.#groups(specs) : undefined;
    if (groups !== undefined && groups.length > 1) {
      out = await reserveSpread(specs, groups, this.#o.nextId(), {
        reserve: this.#reserveOneSlot,
        release: this.#release,
      });
    } else {
      out = await this.#reserveSlot(specs, smooth, t0, this.#o.nextId());
    }
    if (out.admitted) tally.admitted++;
    else tally.refused++;
    return out;
  }

  /** Indexes of the keys grouped by slot (ascending slots: the same order everywhere). */
  #groups(items: ReadonlyArray<{ readonly key: string }>): number[][] {
    return groupBySlot(
      this.#o.layout,
      items.map((c) => c.key),
    );
  }

  async commit(reservation: CounterReservation): Promise<void> {
    if (this.#closed) throw storeClosedError(this.name);
    // Nothing was counted, so nothing can be given back later.
    if (reservation.counters.length === 0) return;
    const { layout } = this.#o;
    const expireAt = markerExpireAt(reservation);
    const counters = reservation.counters;
    // One slot: the marker joins this tick's batch (one command for all of them).
    if (!layout.sharded) return this.#commits.add(layout.marker("", reservation.id), expireAt);
    const firsts = this.#groups(counters).map((g) => g[0]!);
    try {
      // The marker makes a later rollback of this reservation, on any instance, a no-op;
      // a reservation spread over slots has one per slot.
      await Promise.all(
        firsts.map((i) =>
          this.#conn.client.set(
            layout.marker(counters[i]!.key, reservation.id),
            "committed",
            "PXAT",
            expireAt,
            "NX",
          ),
        ),
      );
    } catch (err) {
      this.#conn.recordError(err);
    }
  }

  async rollback(reservation: CounterReservation): Promise<void> {
    if (this.#closed) throw storeClosedError(this.name);
    const counters = reservation.counters;
    if (counters.length === 0) return;
    // Units given back may make room: stop refusing these keys locally.
    for (const c of counters) this.#local.forget(c.key);
    if (!this.#o.layout.sharded) return this.#rollbackSlot(counters, reservation.id);
    const groups = this.#groups(counters);
    await Promise.all(
      groups.map((g) =>
        this.#rollbackSlot(
          g.map((i) => counters[i]!),
          reservation.id,
        ),
      ),
    );
  }

  /** Gives back the units of counters that share a slot, once (settle marker in that slot). */
  async #rollbackSlot(counters: CounterReservation["counters"], id: string): Promise<void> {
    const layout = this.#o.layout;
    const marker = layout.marker(counters[0]!.key, id);
    const expireAt = markerExpireAt({ id, counters });
    if (counters.some((c) => !isFixed(c))) {
      const keys = [marker];
      const argv: Array<string | number> = [expireAt];
      for (const c of counters) {
        keys.push(layout.counter(ns(c), c.key));
        argv.push(letter(c), c.weight, c.resetAtMs, c.token ?? "", Math.ceil(c.windowMs));
      }
      try {
        await this.#conn.scripts.toolgateSmoothRollback(keys.length, ...keys, ...argv);
      } catch (err) {
        this.#conn.recordError(err);
      }
      return;
    }
    const args: Array<string | number> = [marker];
    for (const c of counters) args.push(layout.counter("c:", c.key));
    args.push(expireAt);
    for (const c of counters) args.push(c.weight, c.resetAtMs);
    try {
      await this.#conn.scripts.toolgateRollback(counters.length + 1, ...args);
    } catch (err) {
      // Losing a rollback only makes the limit stricter for the rest of the window.
      this.#conn.recordError(err);
    }
  }

  async peek(specs: readonly PeekSpec[]): Promise<CounterState[]> {
    if (this.#closed) throw storeClosedError(this.name);
    const bad = invalidSpec(specs, false);
    if (bad !== undefined) throw bad;
    const groups = this.#o.layout.sharded ? this.#groups(specs) : [specs.map((_, i) => i)];
    const out: CounterState[] = new Array(specs.length);
    const parts = await Promise.all(groups.map((g) => this.#peekSlot(g.map((i) => specs[i]!))));
    groups.forEach((g, gi) => {
      for (let j = 0; j < g.length; j++) out[g[j]!] = parts[gi]![j]!;
    });
    return out;
  }

  /** Peek of specs that share a slot: one script. */
  async #peekSlot(specs: readonly PeekSpec[]): Promise<CounterState[]> {
    const { conn, layout } = { conn: this.#conn, layout: this.#o.layout };
    const smooth = specs.some((s) => !isFixed(s));
    let reply: Reply;
    try {
      const wait = conn.waitFirstReady();
      if (wait !== undefined) await wait;
      reply = smooth
        ? await conn.scripts.toolgateSmoothPeek(
            specs.length,
            ...specs.map((s) => layout.counter(ns(s), s.key)),
            ...specs.flatMap((s) => [letter(s), s.max, Math.ceil(s.windowMs)]),
          )
        : await conn.scripts.toolgatePeek(
            specs.length,
            ...specs.map((s) => layout.counter("c:", s.key)),
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
    // Markers queued this tick go out before the connection is quit.
    await this.#commits.flush();
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
