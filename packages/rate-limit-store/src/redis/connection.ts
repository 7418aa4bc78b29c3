import type { Scheduler, StoreHealth, Tally } from "@toolgate/policy-engine";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { RateLimitStoreError, RateLimitStoreErrorCode } from "../errors.js";
import { Sender } from "./sender.js";

export type { Reply } from "./sender.js";

/** What the connection needs to know; a subset of the Redis store's options. */
export interface ConnectionOptions {
  readonly name: string;
  readonly url?: string | undefined;
  /** Seed nodes (`host:port`) of a Redis Cluster the store opens itself. */
  readonly nodes?: readonly string[] | undefined;
  /** Credentials and TLS for a store-owned cluster (the URL carries them for one node). */
  readonly clusterAuth?: { username?: string; password?: string; tls?: boolean } | undefined;
  readonly client?: Redis | Cluster | undefined;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxReconnectDelayMs: number;
  readonly scheduler: Scheduler;
  /** Where errors are counted (the store's stats). */
  readonly tally: Tally;
}

/** Removes credentials from anything that might echo a URL. */
function redact(message: string, secrets: readonly string[]): string {
  let out = message.replace(/(rediss?:\/\/)[^@\s/]*@/g, "$1***@");
  for (const s of secrets) if (s.length > 0) out = out.split(s).join("***");
  return out;
}

function failFast(opts: ConnectionOptions) {
  return {
    // Fail fast instead of queueing: a queued increment replayed minutes later would
    // count against a window the caller was already told about. For the same reason
    // commands in flight when the connection drops fail at once (maxRetriesPerRequest
    // 0) and are not resent after the reconnect: their callers already got an answer.
    autoResendUnfulfilledCommands: false,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    maxRetriesPerRequest: 0,
  } satisfies RedisOptions;
}

function openClient(opts: ConnectionOptions, secrets: string[]): Redis | Cluster {
  if (opts.nodes !== undefined) return openCluster(opts, secrets);
  const url = new URL(opts.url!);
  if (url.password) secrets.push(decodeURIComponent(url.password), url.password);
  return new Redis(opts.url!, {
    ...failFast(opts),
    enableOfflineQueue: false,
    // No auto-pipelining: the store's commands go through its Sender, which batches
    // socket writes per tick more cheaply (see sender.ts).
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), opts.maxReconnectDelayMs),
  });
}

/**
 * A store-owned Redis Cluster client with the same fail-fast rules: a command that met
 * a closed connection or CLUSTERDOWN (a master failing over) fails at once instead of
 * being resent later, so the fail mode answers during the switch; MOVED and TRYAGAIN
 * (never executed) are still followed. The slot map is refreshed after every failure
 * and once a second, so the promoted replica is found quickly.
 */
function openCluster(opts: ConnectionOptions, secrets: string[]): Cluster {
  const auth = opts.clusterAuth ?? {};
  if (auth.password) secrets.push(auth.password);
  const nodes = opts.nodes!.map((n) => {
    const i = n.lastIndexOf(":");
    return { host: n.slice(0, i), port: Number(n.slice(i + 1)) };
  });
  return new Cluster(nodes, {
    enableOfflineQueue: false,
    // The store's scripts go through its Sender (plain commands routed by their keys'
    // slot), never through ioredis's cluster auto-pipelining, which routes a script by
    // its first argument (the key count, not a key) and would mix slots.
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    slotsRefreshInterval: 1000,
    slotsRefreshTimeout: opts.commandTimeoutMs,
    clusterRetryStrategy: (times) =>
      Math.min(50 * 2 ** Math.min(times, 10), opts.maxReconnectDelayMs),
    redisOptions: {
      ...failFast(opts),
      ...(auth.username !== undefined && { username: auth.username }),
      ...(auth.password !== undefined && { password: auth.password }),
      ...(auth.tls === true && { tls: {} }),
    },
  });
}

/**
 * One Redis connection as the store uses it: fail-fast client options, the scripts,
 * error bookkeeping with secrets removed, the start-up wait, a bounded PING probe,
 * and the translation of a failed command into a `STORE_UNAVAILABLE` error.
 */
export class RedisConnection {
  readonly client: Redis | Cluster;
  /** Sends the store's commands and scripts (EVALSHA, writes batched per tick). */
  readonly send: Sender;
  readonly #opts: ConnectionOptions;
  readonly #owned: boolean;
  readonly #secrets: string[] = [];
  #lastConnectionError: string | undefined;
  #startupDone: boolean;
  #startupHandle: unknown;
  readonly #startup: Promise<void> | undefined;
  readonly #onConnectionError = (err: unknown): void => {
    this.recordError(err);
    this.#lastConnectionError = this.#opts.tally.lastError;
  };
  readonly #onReady = (): void => {
    this.#lastConnectionError = undefined;
  };

  constructor(opts: ConnectionOptions) {
    this.#opts = opts;
    this.#owned = opts.client === undefined;
    this.client = opts.client ?? openClient(opts, this.#secrets);
    // Without a listener ioredis reports connection errors as unhandled 'error' events.
    this.client.on("error", this.#onConnectionError);
    this.client.on("ready", this.#onReady);
    this.send = new Sender(this.client);
    // Right after creation the connection is still being made. Calls in that start-up
    // period (at most connectTimeoutMs) wait for it instead of failing; afterwards an
    // unreachable Redis fails fast.
    this.#startupDone = this.client.status === "ready";
    this.#startup = this.#startupDone ? undefined : this.#waitForStartup();
  }

  #waitForStartup(): Promise<void> {
    return new Promise<void>((resolve) => {
      const finish = () => {
        this.#startupDone = true;
        this.client.off("ready", onReady);
        if (this.#startupHandle !== undefined)
          this.#opts.scheduler.clearTimeout(this.#startupHandle);
        resolve();
      };
      const client = this.client;
      // A cluster is "ready" once it knows the slot map, but it connects to each master
      // lazily, and a fail-fast client refuses commands to a node still connecting:
      // open every master connection before the first calls go out.
      const onReady = () =>
        client instanceof Cluster
          ? void Promise.all(client.nodes("master").map((n) => n.ping().catch(() => {}))).then(
              finish,
            )
          : finish();
      this.client.once("ready", onReady);
      this.#startupHandle = this.#opts.scheduler.setTimeout(finish, this.#opts.connectTimeoutMs);
    });
  }

  /** The start-up wait, or `undefined` once it is over (so the hot path does not await). */
  waitFirstReady(): Promise<void> | undefined {
    return this.#startupDone ? undefined : this.#startup;
  }

  /** An error's text with credentials removed. */
  describe(err: unknown): string {
    return redact(err instanceof Error ? err.message : String(err), this.#secrets);
  }

  /** Counts an error and keeps its (redacted) text as the last one. */
  recordError(err: unknown): void {
    this.#opts.tally.errors++;
    this.#opts.tally.lastError = this.describe(err);
    // After a failover the old master's slots answer from its promoted replica: ask the
    // cluster for the new map now rather than at the next periodic refresh.
    if (this.client instanceof Cluster && this.client.status === "ready") {
      this.client.refreshSlotsCache();
    }
  }

  /** Records a failed command and returns the `STORE_UNAVAILABLE` error that stands for it. */
  unavailable(err: unknown): RateLimitStoreError {
    this.recordError(err);
    const last = this.#opts.tally.lastError ?? "";
    // ioredis's own text for a refused command while disconnected is about its offline
    // queue; the connection error says more.
    const disconnected =
      this.client.status !== "ready" || /Stream isn't writeable|Connection is closed/.test(last);
    const cause = disconnected
      ? `not connected to Redis (${this.#lastConnectionError ?? "connection lost"})`
      : last;
    return new RateLimitStoreError(
      RateLimitStoreErrorCode.STORE_UNAVAILABLE,
      `limit store unavailable: ${cause}`,
      { store: this.#opts.name },
    );
  }

  /** Readiness: a PING answered within the command timeout. */
  async ready(): Promise<StoreHealth> {
    const name = this.#opts.name;
    const { scheduler, commandTimeoutMs } = this.#opts;
    try {
      const wait = this.waitFirstReady();
      if (wait !== undefined) await wait;
      await new Promise<void>((resolve, reject) => {
        const handle = scheduler.setTimeout(
          () => reject(new Error(`no PING reply within ${commandTimeoutMs} ms`)),
          commandTimeoutMs,
        );
        this.client.ping().then(
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
      return { ok: false, store: name, detail: `${this.client.status}: ${this.describe(err)}` };
    }
  }

  /** Quits a connection the store opened; a client the caller owns is left open. */
  async close(): Promise<void> {
    if (this.#startupHandle !== undefined) this.#opts.scheduler.clearTimeout(this.#startupHandle);
    if (this.#owned) {
      try {
        await this.client.quit();
      } catch {
        this.client.disconnect();
      }
    }
    this.client.off("error", this.#onConnectionError);
    this.client.off("ready", this.#onReady);
  }
}
