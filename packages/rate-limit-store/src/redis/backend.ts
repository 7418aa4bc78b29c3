import {
  type Clock,
  type CounterReservation,
  type CounterSpec,
  type CounterState,
  counterState,
  invalidSpec,
  type MeteredCounterStore,
  type ReserveOutcome,
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
export function createRedisBackend(
  o: RedisBackendOptions,
  conn: RedisConnection,
): MeteredCounterStore {
  const { name, keyBase, tally, now, nextId } = o;
  const scripts = conn.scripts;
  const local = new LocalRefusals(o.localRefusalMaxMs, tally);
  let closed = false;
  let inflight = 0;

  /** One script call; auto-pipelining batches concurrent calls, a lone call goes out at once. */
  function send(specs: readonly CounterSpec[], lone: boolean): Promise<Reply> {
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

  function admitted(specs: readonly CounterSpec[], reply: Reply): ReserveOutcome {
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
    tally.admitted++;
    return { admitted: true, reservation: { id: nextId(), counters }, counters: states };
  }

  function refused(specs: readonly CounterSpec[], reply: Reply, t0: number): ReserveOutcome {
    const t = now();
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
        local.remember(s.key, used, pttl, t0);
      }
    }
    tally.refused++;
    return { admitted: false, blockedBy, retryAfterMs, counters: states };
  }

  async function reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    if (closed) throw storeClosedError(name);
    const bad = invalidSpec(specs, true);
    if (bad !== undefined) throw bad;
    tally.reservations++;
    const t0 = now();
    const shortcut = local.refusal(specs, t0);
    if (shortcut !== undefined) return shortcut;
    if (specs.length === 0) {
      tally.admitted++;
      return { admitted: true, reservation: { id: nextId(), counters: [] }, counters: [] };
    }
    let reply: Reply;
    inflight++;
    try {
      const wait = conn.waitFirstReady();
      if (wait !== undefined) await wait;
      reply = await send(specs, inflight === 1);
    } catch (err) {
      throw conn.unavailable(err);
    } finally {
      inflight--;
    }
    return reply[0] === 1 ? admitted(specs, reply) : refused(specs, reply, t0);
  }

  return {
    name,
    reserve,
    async commit(reservation) {
      if (closed) throw storeClosedError(name);
      // Nothing was counted, so nothing can be given back later.
      if (reservation.counters.length === 0) return;
      try {
        // The marker makes a later rollback of this reservation, on any instance, a no-op.
        await conn.client.set(
          keyBase + "r:" + reservation.id,
          "committed",
          "PXAT",
          markerExpireAt(reservation),
          "NX",
        );
      } catch (err) {
        conn.recordError(err);
      }
    },
    async rollback(reservation) {
      if (closed) throw storeClosedError(name);
      if (reservation.counters.length === 0) return;
      // Units given back may make room: stop refusing these keys locally.
      for (const c of reservation.counters) local.forget(c.key);
      const args: Array<string | number> = [keyBase + "r:" + reservation.id];
      for (const c of reservation.counters) args.push(keyBase + "c:" + c.key);
      args.push(markerExpireAt(reservation));
      for (const c of reservation.counters) args.push(c.weight, c.resetAtMs);
      try {
        await scripts.toolgateRollback(reservation.counters.length + 1, ...args);
      } catch (err) {
        // Losing a rollback only makes the limit stricter for the rest of the window.
        conn.recordError(err);
      }
    },
    async peek(specs) {
      if (closed) throw storeClosedError(name);
      const bad = invalidSpec(specs, false);
      if (bad !== undefined) throw bad;
      let reply: Reply;
      try {
        const wait = conn.waitFirstReady();
        if (wait !== undefined) await wait;
        reply = await scripts.toolgatePeek(
          specs.length,
          ...specs.map((s) => keyBase + "c:" + s.key),
        );
      } catch (err) {
        conn.recordError(err);
        throw new RateLimitStoreError(
          RateLimitStoreErrorCode.STORE_UNAVAILABLE,
          `limit store unavailable: ${conn.describe(err)}`,
          { store: name },
        );
      }
      const t = now();
      return specs.map((s, i) => {
        const used = Number(reply[2 * i]);
        const pttl = Number(reply[2 * i + 1]);
        return pttl > 0
          ? counterState(s.key, used, s.max, t + pttl)
          : counterState(s.key, 0, s.max, t + s.windowMs);
      });
    },
    async ready() {
      if (closed) return { ok: false, store: name, detail: "closed" };
      return conn.ready();
    },
    async close() {
      if (closed) return;
      closed = true;
      local.clear();
      await conn.close();
    },
    stats(): StoreStats {
      return tally.snapshot(name, local.size);
    },
  };
}
