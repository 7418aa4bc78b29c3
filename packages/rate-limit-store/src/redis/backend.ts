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
import {
  fixedAdmitted,
  fixedRefused,
  slidingOneAdmitted,
  slidingSuffix,
  smoothOutcome,
  smoothState,
} from "./replies.js";
import { SCRIPTS, scriptBySha } from "./scripts.js";
import { isNoScript, type LuaScript } from "./sender.js";
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

  constructor(o: RedisBackendOptions, conn: RedisConnection) {
    this.name = o.name;
    this.#o = o;
    this.#conn = conn;
    this.#local = new LocalRefusals(o.localRefusalMaxMs, o.tally);
    this.#commits = new CommitBatch(conn);
  }

  /** EVALSHA arguments of a fixed-window reserve of specs that share a slot. */
  #fixedArgs(specs: readonly CounterSpec[]): Array<string | number> {
    const layout = this.#o.layout;
    const n = specs.length;
    if (n === 1) {
      const s = specs[0]!;
      // PX takes whole milliseconds.
      const ms = Math.ceil(s.windowMs);
      return [SCRIPTS.reserveOne.sha, 1, layout.counter("c:", s.key), s.weight, s.max, ms];
    }
    const args: Array<string | number> = new Array(2 + n * 4);
    args[0] = SCRIPTS.reserve.sha;
    args[1] = n;
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      args[2 + i] = layout.counter("c:", s.key);
      args[2 + n + 3 * i] = s.weight;
      args[2 + n + 3 * i + 1] = s.max;
      args[2 + n + 3 * i + 2] = Math.ceil(s.windowMs);
    }
    return args;
  }

  /** EVALSHA arguments of a reserve with smooth limits (specs of one slot). */
  #smoothArgs(specs: readonly CounterSpec[], id: string): Array<string | number> {
    const n = specs.length;
    const one = n === 1 ? specs[0]! : undefined;
    if (one?.algorithm === "sliding") {
      // The one-sliding-limit script: the log entry is Redis's time plus this suffix.
      const ws = String(one.weight);
      return [
        SCRIPTS.slidingOne.sha,
        1,
        this.#o.layout.counter("s:", one.key),
        slidingSuffix(ws, id),
        ws,
        one.max,
        Math.ceil(one.windowMs),
      ];
    }
    // One bucket: the specialised script (same reply, less work).
    const script = one?.algorithm === "token_bucket" ? SCRIPTS.bucketOne : SCRIPTS.smoothReserve;
    const args: Array<string | number> = new Array(3 + n);
    args[0] = script.sha;
    args[1] = n;
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      args[2 + i] = this.#o.layout.counter(ns(s), s.key);
    }
    args[2 + n] = id;
    for (const s of specs) {
      args.push(letter(s), s.weight, s.max, Math.ceil(s.windowMs), s.burst ?? s.max);
    }
    return args;
  }

  /**
   * One script for specs that share a slot (all of a call's, unless the layout spreads
   * them): all admitted or none. Rejects with `STORE_UNAVAILABLE` when Redis fails.
   * A plain promise chain (one EVALSHA, one `then`): no async frames or extra hops on
   * the answer path, and no named closures per call (a dev runtime such as tsx names
   * each one with a defineProperty call). `count` tallies the outcome (the whole call
   * is this one slot).
   */
  #reserveSlot(
    specs: readonly CounterSpec[],
    smooth: boolean,
    t0: number,
    id: string,
    count = false,
  ): Promise<ReserveOutcome> {
    const args = smooth ? this.#smoothArgs(specs, id) : this.#fixedArgs(specs);
    const conn = this.#conn;
    // Looked up before sending: a NOSCRIPT retry replaces args[0] with the script's text.
    const script = scriptBySha(args[0]);
    const wait = conn.waitFirstReady();
    let sent: Promise<Reply>;
    if (wait !== undefined) sent = wait.then(() => conn.send.evalsha(args));
    else {
      // Queued commit markers ride in the same write (see CommitBatch).
      this.#commits.ride();
      sent = conn.send.evalsha(args);
    }
    return sent.then(
      (reply) => this.#outcome(reply, specs, script, t0, id, count),
      (err: unknown) =>
        // The script did not run (a restarted or flushed Redis): send its text once.
        isNoScript(err)
          ? conn.send
              .retry(script, args)
              .then(
                (reply) => this.#outcome(reply, specs, script, t0, id, count),
                this.#unavailable,
              )
          : this.#unavailable(err),
    );
  }

  /** A reserve script's reply as an outcome (tallied when `count`). */
  #outcome(
    reply: Reply,
    specs: readonly CounterSpec[],
    script: LuaScript,
    t0: number,
    id: string,
    count: boolean,
  ): ReserveOutcome {
    const out =
      script === SCRIPTS.reserveOne || script === SCRIPTS.reserve
        ? reply[0] === 1
          ? fixedAdmitted(specs, reply, id)
          : fixedRefused(specs, reply, this.#o.now(), t0, this.#local)
        : script === SCRIPTS.slidingOne && reply[0] === 1
          ? slidingOneAdmitted(specs[0]!, reply, id)
          : smoothOutcome(specs, reply, id, this.#o.now());
    // Its commit or rollback is coming: until then, markers may wait for a ride.
    if (out.admitted && out.reservation.counters.length > 0 && !this.#o.layout.sharded)
      this.#commits.opened();
    if (count) {
      if (out.admitted) this.#o.tally.admitted++;
      else this.#o.tally.refused++;
    }
    return out;
  }

  readonly #unavailable = (err: unknown): never => {
    throw this.#conn.unavailable(err);
  };
  readonly #reserveOneSlot = (specs: readonly CounterSpec[], id: string) =>
    this.#reserveSlot(specs, !specs.every(isFixed), this.#o.now(), id);
  readonly #release = (counters: CounterReservation["counters"], id: string) => {
    // The units go back: stop refusing these keys locally.
    for (const c of counters) this.#local.forget(c.key);
    return this.#rollbackSlot(counters, id);
  };

  reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    if (this.#closed) return Promise.reject(storeClosedError(this.name));
    const bad = invalidSpec(specs, true);
    if (bad !== undefined) return Promise.reject(bad);
    const tally = this.#o.tally;
    tally.reservations++;
    let smooth = false;
    for (let i = 0; i < specs.length; i++) if (!isFixed(specs[i]!)) smooth = true;
    const t0 = this.#o.now();
    if (!smooth) {
      // Local refusals stay fixed-window only (a smooth refusal frees up continuously).
      const shortcut = this.#local.refusal(specs, t0);
      if (shortcut !== undefined) return Promise.resolve(shortcut);
    }
    if (specs.length === 0) {
      tally.admitted++;
      const reservation = { id: this.#o.nextId(), counters: [] };
      return Promise.resolve({ admitted: true, reservation, counters: [] });
    }
    const groups = this.#o.layout.sharded && specs.length > 1 ? this.#groups(specs) : undefined;
    if (groups === undefined || groups.length <= 1) {
      return this.#reserveSlot(specs, smooth, t0, this.#o.nextId(), true);
    }
    const spread = reserveSpread(specs, groups, this.#o.nextId(), {
      reserve: this.#reserveOneSlot,
      release: this.#release,
    });
    return spread.then((out) => {
      if (out.admitted) tally.admitted++;
      else tally.refused++;
      return out;
    });
  }

  /** Indexes of the keys grouped by slot (ascending slots: the same order everywhere). */
  #groups(items: ReadonlyArray<{ readonly key: string }>): number[][] {
    return groupBySlot(
      this.#o.layout,
      items.map((c) => c.key),
    );
  }

  commit(reservation: CounterReservation): Promise<void> {
    if (this.#closed) return Promise.reject(storeClosedError(this.name));
    // Nothing was counted, so nothing can be given back later.
    if (reservation.counters.length === 0) return Promise.resolve();
    const { layout } = this.#o;
    const expireAt = markerExpireAt(reservation);
    // One slot: the marker joins the batch that rides with the next reservation.
    if (!layout.sharded) return this.#commits.add(layout.marker("", reservation.id), expireAt);
    return this.#commitSpread(reservation, expireAt);
  }

  /** Commit markers of a reservation whose counters may span slots: one per slot. */
  async #commitSpread(reservation: CounterReservation, expireAt: number): Promise<void> {
    const layout = this.#o.layout;
    const counters = reservation.counters;
    const firsts = this.#groups(counters).map((g) => g[0]!);
    try {
      // The marker makes a later rollback of this reservation, on any instance, a no-op;
      // a reservation spread over slots has one per slot.
      await Promise.all(
        firsts.map((i) =>
          this.#conn.send.call("set", [
            layout.marker(counters[i]!.key, reservation.id),
            "committed",
            "PXAT",
            expireAt,
            "NX",
          ]),
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
    if (!this.#o.layout.sharded) {
      this.#commits.closed();
      return this.#rollbackSlot(counters, reservation.id);
    }
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
    const send = this.#conn.send;
    if (counters.some((c) => !isFixed(c))) {
      const args: Array<string | number> = ["", counters.length + 1, marker];
      for (const c of counters) args.push(layout.counter(ns(c), c.key));
      args.push(expireAt);
      for (const c of counters) {
        args.push(letter(c), c.weight, c.resetAtMs, c.token ?? "", Math.ceil(c.windowMs));
      }
      try {
        await send.run(SCRIPTS.smoothRollback, args);
      } catch (err) {
        this.#conn.recordError(err);
      }
      return;
    }
    const args: Array<string | number> = ["", counters.length + 1, marker];
    for (const c of counters) args.push(layout.counter("c:", c.key));
    args.push(expireAt);
    for (const c of counters) args.push(c.weight, c.resetAtMs);
    try {
      await send.run(SCRIPTS.rollback, args);
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
      const keys = specs.map((s) => layout.counter(smooth ? ns(s) : "c:", s.key));
      reply = smooth
        ? await conn.send.run(SCRIPTS.smoothPeek, [
            "",
            specs.length,
            ...keys,
            ...specs.flatMap((s) => [letter(s), s.max, Math.ceil(s.windowMs)]),
          ])
        : await conn.send.run(SCRIPTS.peek, ["", specs.length, ...keys]);
    } catch (err) {
      conn.recordError(err);
      throw new RateLimitStoreError(
        RateLimitStoreErrorCode.STORE_UNAVAILABLE,
        `limit store unavailable: ${conn.describe(err)}`,
        { store: this.name },
      );
    }
    const t = this.#o.now();
    if (smooth) return specs.map((s, i) => smoothState(s, reply[2 * i]!, reply[2 * i + 1]!, t));
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
