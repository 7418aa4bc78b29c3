import {
  clockSchema,
  fnSchema,
  type MeteredCounterStore,
  realScheduler,
  schedulerSchema,
  Tally,
} from "@toolgate/policy-engine";
import type { Cluster, Redis } from "ioredis";
import { z } from "zod";
import { parseOptions, redisUrlSchema, sequentialIds } from "./options.js";
import { createRedisBackend } from "./redis/backend.js";
import { RedisConnection } from "./redis/connection.js";
import { scopeLayout, storeLayout } from "./redis/slots.js";
import { failModeFields, withFailMode } from "./wrappers/fail-mode.js";

const noBraces = (what: string) =>
  z.string().refine((s) => !s.includes("{") && !s.includes("}"), {
    message: `must not contain { or } (the store adds the Redis Cluster hash tag itself; set ${what} without braces)`,
  });

/** A store-owned cluster: seed nodes and optional credentials. */
const ClusterSchema = z
  .object({
    /** Seed nodes, `host:port`; the client discovers the rest. */
    nodes: z
      .array(z.string().regex(/^[^\s:,/]+:\d{1,5}$/, "must be host:port, e.g. 10.0.0.5:7000"))
      .min(1, 'needs at least one seed node, e.g. ["10.0.0.5:7000"]'),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** Connect with TLS (`rediss-cluster://`). */
    tls: z.boolean().optional(),
  })
  .strict();

const isClient = (v: unknown): v is Redis | Cluster =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as Redis).defineCommand === "function" &&
  typeof (v as Redis).on === "function";

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
    /**
     * A Redis Cluster the store opens itself (same fail-fast rules as `url`): seed
     * `nodes` as `host:port`, optional credentials and TLS. Counters spread over the
     * masters (`sharding` defaults to `scope` with it).
     */
    cluster: ClusterSchema.optional(),
    /**
     * Key layout. `store`: every key carries `hashTag` (one slot, one script per call,
     * one shard). `scope`: each counter carries its own scope value as hash tag, so
     * counters spread over a cluster's masters; a call whose limits span slots is
     * reserved slot by slot with rollback on refusal (see README). Default `scope` with
     * `cluster`, else `store`.
     */
    sharding: z.enum(["store", "scope"]).optional(),
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
    /** `fail`, `insurance`, `failClosedRetryAfterMs`: see `withFailMode`. Default fail closed, no insurance. */
    ...failModeFields,
    /**
     * How long a key Redis refused is refused from local memory without a round trip
     * (capped by its window's end). Bounds how long a rollback on another instance goes
     * unseen here. 0 disables. Default 1000.
     */
    localRefusalMaxMs: z.number().int().min(0).default(1000),
    /** Clock in epoch ms. Default `Date.now`. */
    now: clockSchema.optional(),
    /** Timers for the start-up wait and probes. Default: real, unref'd timers. */
    scheduler: schedulerSchema.optional(),
    /** Reservation id source; ids must be unique across gateway instances. */
    ids: fnSchema<() => string>("returning a unique reservation id").optional(),
  })
  .strict()
  .refine((o) => [o.url, o.client, o.cluster].filter((v) => v !== undefined).length === 1, {
    message:
      'give exactly one of url (e.g. redis://127.0.0.1:6379), cluster ({ nodes: ["host:port"] }) or client (an ioredis instance)',
    path: ["url"],
  });

/** Input type of {@link RedisStoreOptionsSchema}. */
export type RedisStoreOptions = z.input<typeof RedisStoreOptionsSchema>;

/**
 * Creates the shared `CounterStore` on Redis: several gateway instances pointing at one
 * Redis enforce each limit exactly across all of them. It is the Redis backend
 * (`redis/`) inside the fail-mode wrapper every backend gets (`withFailMode`).
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
  const now = opts.now ?? Date.now;
  const nextId = opts.ids ?? sequentialIds("r");
  const tally = new Tally();
  const conn = new RedisConnection({
    name: opts.name,
    url: opts.url,
    nodes: opts.cluster?.nodes,
    clusterAuth: opts.cluster,
    client: opts.client,
    commandTimeoutMs: opts.commandTimeoutMs,
    connectTimeoutMs: opts.connectTimeoutMs,
    maxReconnectDelayMs: opts.maxReconnectDelayMs,
    scheduler: opts.scheduler ?? realScheduler,
    tally,
  });
  const backend = createRedisBackend(
    {
      name: opts.name,
      layout:
        (opts.sharding ?? (opts.cluster !== undefined ? "scope" : "store")) === "scope"
          ? scopeLayout(opts.prefix)
          : storeLayout(opts.prefix, opts.hashTag),
      localRefusalMaxMs: opts.localRefusalMaxMs,
      now,
      nextId,
      tally,
    },
    conn,
  );
  return withFailMode(backend, {
    fail: opts.fail,
    insurance: opts.insurance,
    failClosedRetryAfterMs: opts.failClosedRetryAfterMs,
    now,
    ids: nextId,
  });
}
