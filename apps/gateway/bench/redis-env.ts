/**
 * The Redis the gateway benchmark uses: REDIS_URL (default redis://127.0.0.1:6379),
 * probed first; keys go under a prefix unique to this run and are deleted after.
 */
import type { StoreStats } from "@toolgate/rate-limit-store";
import { Redis } from "ioredis";

/** The Redis URL of this run. */
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
// Unique per run: the Redis may be shared (other benches, tests), and the keys are
// deleted by prefix at the end.
const REDIS_PREFIX = `tg-bench:${process.pid}-${Date.now()}:`;

/** Where Redis is, without a password, for what we print and record. */
export function redisWhere(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "6379"}`;
  } catch {
    return "(unparsable REDIS_URL)";
  }
}

/** Undefined when Redis answers PING, otherwise why not (no secrets in it). */
export async function redisProblem(url: string): Promise<string | undefined> {
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on("error", () => {}); // reported through the rejected connect/ping below
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch (err) {
    return `no Redis answered at ${redisWhere(url)} (${(err as Error).name})`;
  } finally {
    r.disconnect();
  }
}

/**
 * The store line a Redis-backed bench gateway uses: REDIS_URL plus this run's prefix;
 * with `via`, through that local port instead (a proxy in front of the Redis).
 */
export function redisStoreLine(via?: number): string {
  const u = new URL(REDIS_URL);
  if (via !== undefined) {
    u.hostname = "127.0.0.1";
    u.port = String(via);
  }
  u.searchParams.set("prefix", REDIS_PREFIX);
  return u.toString();
}

/**
 * A bare ioredis client on REDIS_URL timing one `INCR` round trip at a time: the yardstick
 * of "one loopback Redis round trip" from this process, measured in the same rounds as the
 * gateways (its key lives under this run's prefix, deleted at the end).
 */
export async function redisRoundTrip(): Promise<{
  time(n: number): Promise<number[]>;
  close(): void;
}> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  const key = `${REDIS_PREFIX}rtt`;
  return {
    async time(n) {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        await r.incr(key);
        out.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      return out;
    },
    close: () => r.disconnect(),
  };
}

/** Deletes this run's keys; returns how many. */
export async function deleteRunKeys(): Promise<number> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  let deleted = 0;
  try {
    for await (const keys of r.scanStream({ match: `${REDIS_PREFIX}*`, count: 500 })) {
      const batch = keys as string[];
      if (batch.length > 0) deleted += await r.unlink(...batch);
    }
  } finally {
    r.disconnect();
  }
  return deleted;
}

/**
 * A gateway that forwarded `calls` calls must have reserved for each of them in its store,
 * with no backend error: otherwise the Redis figures would not be Redis figures.
 */
export function checkStore(label: string, stats: StoreStats, calls: number): void {
  if (stats.reservations < calls || stats.errors > 0 || stats.failOpen > 0 || stats.refused > 0)
    throw new Error(
      `${label}: expected ${calls} reservations without errors, store says ${JSON.stringify(stats)}`,
    );
}
