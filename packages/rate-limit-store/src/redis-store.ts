import type {
  CounterReservation,
  CounterSpec,
  CounterState,
  CounterStore,
  ReserveOutcome,
  StoreDegradation,
  StoreHealth,
} from "@toolgate/policy-engine";
import { type Cluster, Redis } from "ioredis";
import { z } from "zod";
import { RateLimitStoreError, RateLimitStoreErrorCode, storeClosedError } from "./errors.js";
import { PEEK_LUA, RESERVE_LUA, RESERVE_ONE_LUA, ROLLBACK_LUA } from "./lua.js";
import {
  fnSchema,
  parseOptions,
  realScheduler,
  redisUrlSchema,
  type Scheduler,
  schedulerSchema,
  sequentialIds,
} from "./options.js";
import { createRlfMemoryStore } from "./rlf-memory-store.js";
import { counterState, invalidSpec } from "./specs.js";
import { type MeteredCounterStore, type StoreStats, Tally } from "./stats.js";

const noBraces = (what: string) =>
  z.string().refine((s) => !s.includes("{") && !s.includes("}"), {
    message: `must not contain { or } (the store adds the Redis Cluster hash tag itself; set ${what} without braces)`,
  });

const isClient = (v: unknown): v is Redis | Cluster =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as Redis).defineCommand === "function" &&
  typeof (v as Redis).on === "function";

const isStore = (v: unknown): v is CounterStore =>
  typeof v === "object" && v !== null && typeof (v as CounterStore).reserve === "function";

/** Options of {@link createRedisStore}. Give either `url` or `client`. */
export const RedisStoreOptionsSchema = z
  .object({
    /**
     * `redis://[user:password@]host:port/db` or `rediss://...` (TLS). The store owns
     * the connection it opens: fail-fast options, reconnect, `quit` on close.
     */
    url: redisUrlSchema.optional(),
    /**
     * An ioredis client (or Cluster) you own. The store never closes it. Configure it to
     * fail fast (`enableOfflineQueue: false`, `commandTimeout`) or an outage will make
     * reservations wait instead of applying the failure mode.
     */
    client: z
      .custom<Redis | Cluster>(isClient, {
        message: "must be an ioredis Redis or Cluster instance",
      })
      .optional(),
    /** Store name used in reasons and metrics. Default `redis`. */
    name: z.string().min(1).default("redis"),
    /** Prepended to every key. Default `toolgate:`. */
    prefix: noBraces("prefix").default("toolgate:"),
    /**
     * The Redis Cluster hash tag shared by every key of this store (see README: calls
     * mix grant, session and global counters, so only a store-wide tag keeps each
     * call's keys in one slot). Default `rl`.
     */
    hashTag: noBraces("hashTag").min(1).default("rl"),
    /** Per-command timeout; a slower Redis counts as unavailable. Default 500. */
    commandTimeoutMs: z.number().int().positive().default(500),
    /** Connect timeout for a store-owned connection. Default 2000. */
    connectTimeoutMs: z.number().int().positive().default(2000),
    /** Cap of the exponential reconnect backoff. Default 2000. */
    maxReconnectDelayMs: z.number().int().positive().default(2000),
    /** What `reserve` does when Redis fails: `closed` denies (default), `open` admits. */
    fail: z.enum(["closed", "open"]).default("closed"),
    /**
     * With `fail: "open"`, count in process memory instead of admitting blindly:
     * `true` uses rate-limiter-flexible's `RateLimiterMemory` (see createRlfMemoryStore),
     * or pass any CounterStore. Limits then hold per instance, not across instances.
     * Default false.
     */
    insurance: z
      .union([
        z.boolean(),
        z.custom<CounterStore>(isStore, { message: "must be true, false or a CounterStore" }),
      ])
      .default(false),
    /** `retryAfterMs` reported by a fail-closed denial. Default 1000. */
    failClosedRetryAfterMs: z.number().int().min(0).default(1000),
    /**
     * How long a key Redis refused is refused from local memory without a round trip
     * (capped by its window's end). Bounds how long a rollback on another instance goes
     * unseen here. 0 disables. Default 1000.
     */
    localRefusalMaxMs: z.number().int().min(0).default(1000),
    /** Clock in epoch ms. Default `Date.now`. */
    now: fnSchema<() => number>("a clock returning epoch ms").optional(),
    /** Timers for the start-up wait and probes. Default: real, unref'd timers. */
    scheduler: schedulerSchema.optional(),
    /** Reservation id source; ids must be unique across gateway instances. */
    ids: fnSchema<() => string>("returning a unique reservation id").optional(),
  })
  .strict()
  .refine((o) => (o.url === undefined) !== (o.client === undefined), {
    message:
      "give exactly one of url (e.g. redis://127.0.0.1:6379) or client (an ioredis instance)",
    path: ["url"],
  });

/** Input type of {@link RedisStoreOptionsSchema}. */
export type RedisStoreOptions = z.input<typeof RedisStoreOptionsSchema>;

type Reply = ReadonlyArray<string | number>;
interface ScriptClient {
  toolgateReserve(numKeys: number, ...args: Array<string | number>): Promise<Reply>;
  toolgateReserveDirect(numKeys: number, ...args: Array<string | number>): Promise<Reply>;
  toolgateReserveOne(
    numKeys: 1,
    key: string,
    weight: number,
    max: number,
    windowMs: number,
  ): Promise<Reply>;
  toolgateReserveOneDirect(
    numKeys: 1,
    key: string,
    weight: number,
    max: number,
    windowMs: number,
  ): Promise<Reply>;
  toolgateRollback(numKeys: number, ...args: Array<string | number>): Promise<number>;
  toolgatePeek(numKeys: number, ...args: string[]): Promise<Reply>;
}

interface LocalMark {
  /** Units Redis reported before the refused call: a lower bound until a rollback. */
  used: number;
  resetAt: number;
  /** Trust the mark until then (window end, capped by localRefusalMaxMs). */
  until: number;
}

const MAX_LOCAL_MARKS = 10_000;
const INSURANCE_PREFIX = "ins:";
const OPEN_PREFIX = "open:";

/** Removes credentials from anything that might echo a URL. */
function redact(message: string, secrets: readonly string[]): string {
  let out = message.replace(/(rediss?:\/\/)[^@\s/]*@/g, "$1***@");
  for (const s of secrets) if (s.length > 0) out = out.split(s).join("***");
  return out;
}

/**
 * Creates the shared `CounterStore` on Redis: several gateway instances pointing at one
 * Redis enforce each limit exactly across all of them.
 *
 * - One EVALSHA per `reserve`, all limits of the call admitted or none consumed.
 * - Keys Redis refused are refused locally (no round trip) until their window ends or
 *   `localRefusalMaxMs` passes; this never admits anything Redis would refuse.
 * - On a Redis failure (down, timeout, error) `reserve` resolves per `fail`, with
 *   `degraded` set; it never rejects for an outage. The connection reconnects by itself.
 *
 * @example
 * ```ts
 * const store = createRedisStore({ url: "redis://127.0.0.1:6379/0", fail: "open", insurance: true });
 * const health = await store.ready(); // { ok: true, store: "redis" }
 * ```
 */
export function createRedisStore(options: RedisStoreOptions): MeteredCounterStore {
  const opts = parseOptions(RedisStoreOptionsSchema, options, "redis store options");
  const name = opts.name;
  const now = opts.now ?? Date.now;
  const scheduler: Scheduler = opts.scheduler ?? realScheduler;
  const nextId = opts.ids ?? sequentialIds("r");
  const keyBase = `${opts.prefix}{${opts.hashTag}}:`;
  const tally = new Tally();
  const marks = new Map<string, LocalMark>();
  const secrets: string[] = [];
  let closed = false;
  let inflight = 0;

  const owned = opts.client === undefined;
  let client: Redis | Cluster;
  if (opts.client !== undefined) {
    client = opts.client;
  } else {
    const url = new URL(opts.url!);
    if (url.password) secrets.push(decodeURIComponent(url.password), url.password);
    client = new Redis(opts.url!, {
      // Fail fast instead of queueing: a queued increment replayed minutes later would
      // count against a window the caller was already told about. For the same reason
      // commands in flight when the connection drops fail at once (maxRetriesPerRequest
      // 0) and are not resent after the reconnect: their callers already got an answer.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      enableAutoPipelining: true,
      commandTimeout: opts.commandTimeoutMs,
      connectTimeout: opts.connectTimeoutMs,
      maxRetriesPerRequest: 0,
      // Sent at once when nothing else is in flight (see `inflight` below).
      autoPipeliningIgnoredCommands: ["toolgateReserveDirect", "toolgateReserveOneDirect"],
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), opts.maxReconnectDelayMs),
    });
  }
  const describe = (err: unknown): string =>
    redact(err instanceof Error ? err.message : String(err), secrets);

  let lastConnectionError: string | undefined;
  const onError = (err: unknown): void => {
    tally.errors++;
    tally.lastError = describe(err);
  };
  const onConnectionError = (err: unknown): void => {
    onError(err);
    lastConnectionError = tally.lastError;
  };
  // Without a listener ioredis reports connection errors as unhandled 'error' events.
  client.on("error", onConnectionError);
  const onReady = (): void => {
    lastConnectionError = undefined;
  };
  client.on("ready", onReady);

  for (const [cmd, lua] of [
    ["toolgateReserve", RESERVE_LUA],
    ["toolgateReserveDirect", RESERVE_LUA],
    ["toolgateReserveOne", RESERVE_ONE_LUA],
    ["toolgateReserveOneDirect", RESERVE_ONE_LUA],
    ["toolgateRollback", ROLLBACK_LUA],
    ["toolgatePeek", PEEK_LUA],
  ] as const) {
    if (typeof (client as unknown as Record<string, unknown>)[cmd] !== "function") {
      client.defineCommand(cmd, { lua });
    }
  }
  const scripts = client as unknown as ScriptClient;

  let insurance: CounterStore | undefined;
  let ownsInsurance = false;
  if (opts.insurance === true) {
    insurance = createRlfMemoryStore({ name: `${name}-insurance` });
    ownsInsurance = true;
  } else if (opts.insurance !== false) {
    insurance = opts.insurance;
  }

  // Right after creation the connection is still being made. Calls in that start-up
  // period (at most connectTimeoutMs) wait for it instead of failing; afterwards an
  // unreachable Redis fails fast.
  let startupDone = client.status === "ready";
  let startupHandle: unknown;
  const startup: Promise<void> | undefined = startupDone
    ? undefined
    : new Promise<void>((resolve) => {
        const finish = () => {
          startupDone = true;
          client.off("ready", finish);
          if (startupHandle !== undefined) scheduler.clearTimeout(startupHandle);
          resolve();
        };
        client.once("ready", finish);
        startupHandle = scheduler.setTimeout(finish, opts.connectTimeoutMs);
      });
  const waitFirstReady = (): Promise<void> | undefined => (startupDone ? undefined : startup);

  function localRefusal(specs: readonly CounterSpec[], t: number): ReserveOutcome | undefined {
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      const m = marks.get(s.key);
      if (m === undefined) continue;
      if (m.until <= t) {
        marks.delete(s.key);
        continue;
      }
      if (m.used + s.weight > s.max) {
        tally.refused++;
        tally.localRefusals++;
        return {
          admitted: false,
          blockedBy: i,
          retryAfterMs: Math.max(0, m.resetAt - t),
          // Only the refusing counter is known without asking Redis.
          counters: [counterState(s.key, m.used, s.max, m.resetAt)],
        };
      }
    }
    return undefined;
  }

  function remember(key: string, used: number, pttl: number, t: number): void {
    if (opts.localRefusalMaxMs === 0 || pttl <= 0) return;
    if (marks.size >= MAX_LOCAL_MARKS) {
      for (const [k, m] of marks) if (m.until <= t) marks.delete(k);
      if (marks.size >= MAX_LOCAL_MARKS) marks.clear();
    }
    marks.set(key, { used, resetAt: t + pttl, until: t + Math.min(pttl, opts.localRefusalMaxMs) });
  }

  async function degrade(
    specs: readonly CounterSpec[],
    err: unknown,
    t: number,
  ): Promise<ReserveOutcome> {
    onError(err);
    // ioredis's own text for a refused command while disconnected is about its offline
    // queue; the connection error says more.
    const disconnected =
      client.status !== "ready" ||
      /Stream isn't writeable|Connection is closed/.test(tally.lastError ?? "");
    const cause = disconnected
      ? `not connected to Redis (${lastConnectionError ?? "connection lost"})`
      : tally.lastError;
    const reason = `limit store unavailable: ${cause}`;
    if (opts.fail === "closed") {
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
    tally.failOpen++;
    if (insurance !== undefined) {
      tally.insurance++;
      const degraded: StoreDegradation = {
        mode: "fail_open",
        store: name,
        reason,
        insurance: true,
      };
      const out = await insurance.reserve(specs);
      if (!out.admitted) {
        tally.refused++;
        return { ...out, degraded };
      }
      tally.admitted++;
      const reservation = { ...out.reservation, id: INSURANCE_PREFIX + out.reservation.id };
      return { ...out, reservation, degraded };
    }
    tally.admitted++;
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

  async function reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome> {
    if (closed) throw storeClosedError(name);
    const bad = invalidSpec(specs, true);
    if (bad !== undefined) throw bad;
    tally.reservations++;
    const t0 = now();
    if (marks.size > 0) {
      const local = localRefusal(specs, t0);
      if (local !== undefined) return local;
    }
    const n = specs.length;
    if (n === 0) {
      tally.admitted++;
      return { admitted: true, reservation: { id: nextId(), counters: [] }, counters: [] };
    }
    let reply: Reply;
    inflight++;
    try {
      const wait = waitFirstReady();
      if (wait !== undefined) await wait;
      // Auto-pipelining batches concurrent calls into one write but defers each to the
      // next event-loop turn; a lone call goes out at once instead.
      const lone = inflight === 1;
      if (n === 1) {
        const s = specs[0]!;
        const key = keyBase + "c:" + s.key;
        reply = await (lone
          ? scripts.toolgateReserveOneDirect(1, key, s.weight, s.max, Math.ceil(s.windowMs))
          : scripts.toolgateReserveOne(1, key, s.weight, s.max, Math.ceil(s.windowMs)));
      } else {
        const args: Array<string | number> = new Array(n * 4);
        for (let i = 0; i < n; i++) {
          const s = specs[i]!;
          args[i] = keyBase + "c:" + s.key;
          args[n + 3 * i] = s.weight;
          args[n + 3 * i + 1] = s.max;
          // PX takes whole milliseconds.
          args[n + 3 * i + 2] = Math.ceil(s.windowMs);
        }
        reply = await (lone
          ? scripts.toolgateReserveDirect(n, ...args)
          : scripts.toolgateReserve(n, ...args));
      }
    } catch (err) {
      return degrade(specs, err, now());
    } finally {
      inflight--;
    }
    const t = now();
    if (reply[0] === 1) {
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
    const blockedBy = Number(reply[1]);
    const states: CounterState[] = new Array(n);
    let retryAfterMs = 0;
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      const used = Number(reply[2 + 2 * i]);
      const pttl = Number(reply[3 + 2 * i]);
      states[i] = counterState(s.key, used, s.max, pttl > 0 ? t + pttl : t + s.windowMs);
      if (i === blockedBy) {
        // A weight larger than max never fits; report the window length as a hint.
        retryAfterMs = pttl > 0 ? pttl : s.windowMs;
        // Counted from when the call was sent, not when the reply came back: Redis read
        // the PTTL somewhere in between, so the mark ends no later than the window does.
        remember(s.key, used, pttl, t0);
      }
    }
    tally.refused++;
    return { admitted: false, blockedBy, retryAfterMs, counters: states };
  }

  // The marker's absolute expiry on the Redis clock: the reservation's resetAtMs values
  // are Redis PEXPIRETIMEs, so a gateway whose clock runs ahead cannot expire a commit
  // marker before its window ends (which would let a late rollback give units back).
  // A little past the last window, so a late duplicate stays a no-op.
  const markerExpireAt = (reservation: CounterReservation): number => {
    let until = 0;
    for (const c of reservation.counters) if (c.resetAtMs > until) until = c.resetAtMs;
    return Math.ceil(until) + 1000;
  };

  /**
   * Reservations admitted while Redis was down never reached it: fail-open ones counted
   * nothing, insurance ones live in the insurance store. True when handled here.
   */
  const settledElsewhere = async (
    reservation: CounterReservation,
    op: "commit" | "rollback",
  ): Promise<boolean> => {
    if (closed) throw storeClosedError(name);
    if (reservation.id.startsWith(OPEN_PREFIX)) return true;
    if (!reservation.id.startsWith(INSURANCE_PREFIX)) return false;
    await insurance?.[op]({ ...reservation, id: reservation.id.slice(INSURANCE_PREFIX.length) });
    return true;
  };

  return {
    name,
    reserve,
    async commit(reservation) {
      if (await settledElsewhere(reservation, "commit")) return;
      // Nothing was counted, so nothing can be given back later.
      if (reservation.counters.length === 0) return;
      try {
        // The marker makes a later rollback of this reservation, on any instance, a no-op.
        await client.set(
          keyBase + "r:" + reservation.id,
          "committed",
          "PXAT",
          markerExpireAt(reservation),
          "NX",
        );
      } catch (err) {
        onError(err);
      }
    },
    async rollback(reservation) {
      if (await settledElsewhere(reservation, "rollback")) return;
      if (reservation.counters.length === 0) return;
      // Units given back may make room: stop refusing these keys locally.
      for (const c of reservation.counters) marks.delete(c.key);
      const args: Array<string | number> = [keyBase + "r:" + reservation.id];
      for (const c of reservation.counters) args.push(keyBase + "c:" + c.key);
      args.push(markerExpireAt(reservation));
      for (const c of reservation.counters) args.push(c.weight, c.resetAtMs);
      try {
        await scripts.toolgateRollback(reservation.counters.length + 1, ...args);
      } catch (err) {
        // Losing a rollback only makes the limit stricter for the rest of the window.
        onError(err);
      }
    },
    async peek(specs) {
      if (closed) throw storeClosedError(name);
      const bad = invalidSpec(specs, false);
      if (bad !== undefined) throw bad;
      let reply: Reply;
      try {
        const wait = waitFirstReady();
        if (wait !== undefined) await wait;
        reply = await scripts.toolgatePeek(
          specs.length,
          ...specs.map((s) => keyBase + "c:" + s.key),
        );
      } catch (err) {
        onError(err);
        throw new RateLimitStoreError(
          RateLimitStoreErrorCode.STORE_UNAVAILABLE,
          `limit store unavailable: ${describe(err)}`,
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
    async ready(): Promise<StoreHealth> {
      if (closed) return { ok: false, store: name, detail: "closed" };
      try {
        const wait = waitFirstReady();
        if (wait !== undefined) await wait;
        await new Promise<void>((resolve, reject) => {
          const handle = scheduler.setTimeout(
            () => reject(new Error(`no PING reply within ${opts.commandTimeoutMs} ms`)),
            opts.commandTimeoutMs,
          );
          client.ping().then(
            () => {
              scheduler.clearTimeout(handle);
              resolve();
            },
            (err: unknown) => {
              scheduler.clearTimeout(handle);
              reject(err);
            },
          );
        });
        return { ok: true, store: name };
      } catch (err) {
        return { ok: false, store: name, detail: `${client.status}: ${describe(err)}` };
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      marks.clear();
      if (startupHandle !== undefined) scheduler.clearTimeout(startupHandle);
      if (ownsInsurance) await insurance?.close();
      if (owned) {
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }
      client.off("error", onConnectionError);
      client.off("ready", onReady);
    },
    stats(): StoreStats {
      return tally.snapshot(name, marks.size);
    },
  };
}
