/**
 * Where trust-on-first-use pins keep the first digest seen of each upstream tool. On
 * Redis every gateway instance of one deployment agrees on it: the first instance to see
 * a tool stores its digest with `SET NX` (atomic), and every later instance, restarted or
 * new, is held to that digest, not to whatever it happens to see first itself.
 */
import { createMemoryPinStore, type PinStore } from "@toolgate/mcp-express";
import { Redis, type RedisOptions } from "ioredis";
import type { ApprovalStoreLocation } from "./approvals/backends.js";
import { sha256Hex } from "./mask.js";

/** Options of {@link createRedisPinStore}. */
export interface RedisPinStoreOptions {
  /** `redis://host:port/db`. */
  readonly url: string;
  /** Prefix of every key. Default `toolgate:`. */
  readonly keyPrefix?: string;
  readonly redisOptions?: RedisOptions;
}

/**
 * A {@link PinStore} in Redis: one string key per upstream tool
 * (`<prefix>pins:first-seen:<sha256 of upstream and tool>`), never expiring; to accept
 * a changed definition, pin it in the policy (a policy pin always wins) or delete the key.
 * A digest read once never changes, so it is kept in memory after the first read.
 *
 * @example
 * const pins = createRedisPinStore({ url: "redis://127.0.0.1:6379/0", keyPrefix: "tg:" });
 * await pins.firstSeen("exchange", "place_order", "sha256:…"); // { digest, created }
 */
export function createRedisPinStore(options: RedisPinStoreOptions): PinStore {
  const prefix = `${options.keyPrefix ?? "toolgate:"}pins:first-seen:`;
  const client = new Redis(options.url, {
    maxRetriesPerRequest: 1,
    // Fail fast while Redis is away: the tool then counts as unverified (hidden) and is
    // checked again on the next list or call, rather than the list waiting on retries.
    enableOfflineQueue: false,
    ...options.redisOptions,
  });
  client.on("error", () => {});
  // The gateway checks its upstreams' tools at start-up, while this client may still be
  // connecting: the first answers wait for the connection (at most 2 s), not fail at once.
  const connected = new Promise<void>((resolve) => {
    client.once("ready", resolve);
    setTimeout(resolve, 2_000).unref();
  });
  const known = new Map<string, string>();
  return {
    async firstSeen(upstream, tool, digest) {
      // Hashed: tool names come from the upstream and may hold anything.
      const key = prefix + sha256Hex(`${upstream.length}:${upstream}|${tool}`);
      const had = known.get(key);
      if (had !== undefined) return { digest: had, created: false };
      if (client.status !== "ready") await connected;
      const set = await client.set(key, digest, "NX");
      const stored = set === "OK" ? digest : await client.get(key);
      if (stored === null) throw new Error("pin store: first-seen digest vanished");
      if (known.size >= 10_000) known.clear();
      known.set(key, stored);
      return { digest: stored, created: set === "OK" };
    },
    async close() {
      client.disconnect();
    },
  };
}

/**
 * The pin store for a deployment: Redis when approvals (and counters) are shared on
 * Redis, this process's memory otherwise.
 */
export function createPinStore(location: ApprovalStoreLocation): PinStore {
  if (location.type === "redis" && location.url !== undefined)
    return createRedisPinStore({
      url: location.url,
      ...(location.prefix !== undefined && { keyPrefix: location.prefix }),
    });
  return createMemoryPinStore();
}
