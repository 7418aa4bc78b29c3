import { Redis, type RedisOptions } from "ioredis";
import { GatewayError } from "../errors.js";
import type { ApprovalEvent, ApprovalRecord, ApprovalStore } from "./store.js";

/** Options of {@link createRedisApprovalStore}. */
export interface RedisApprovalStoreOptions {
  /** `redis://host:port/db`. */
  readonly url: string;
  /** Prefix of every key and of the pub/sub channel. Default `toolgate:`. */
  readonly keyPrefix?: string;
  /** How long resolved approvals stay visible in "recent". Default 1 hour. */
  readonly keepResolvedMs?: number;
  readonly redisOptions?: RedisOptions;
  /** Clock (epoch ms). Default `Date.now`. */
  readonly now?: () => number;
}

// Resolve atomically: only a pending record changes, exactly once, and the event is
// published in the same script so no instance can miss the transition.
const RESOLVE_LUA = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if status ~= 'pending' then return 1 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'resolvedBy', ARGV[2], 'resolution', ARGV[3], 'resolvedAt', ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
redis.call('ZREM', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], tonumber(ARGV[4]), ARGV[6])
redis.call('PUBLISH', KEYS[4], cjson.encode({type = 'resolved', id = ARGV[6]}))
return 2
`;

/**
 * An approval store in Redis: one hash per approval (the immutable call as JSON plus its status fields), a sorted set of pending ids,
 * one of recently resolved ids, and a pub/sub channel so every instance learns about
 * creates and resolves at once.
 *
 * @example
 * const approvals = createRedisApprovalStore({ url: "redis://127.0.0.1:6379", keyPrefix: "tg:" });
 */
export function createRedisApprovalStore(options: RedisApprovalStoreOptions): ApprovalStore {
  const prefix = `${options.keyPrefix ?? "toolgate:"}approvals:`;
  const keepMs = options.keepResolvedMs ?? 3_600_000;
  const now = options.now ?? Date.now;
  const redisOptions: RedisOptions = { maxRetriesPerRequest: 2, ...options.redisOptions };
  const client = new Redis(options.url, redisOptions);
  const sub = new Redis(options.url, redisOptions);
  // Errors surface through commands; without listeners ioredis would print them.
  client.on("error", () => {});
  sub.on("error", () => {});
  const key = (id: string) => `${prefix}item:${id}`;
  const pendingKey = `${prefix}pending`;
  const recentKey = `${prefix}recent`;
  const channel = `${prefix}events`;
  const listeners = new Set<(event: ApprovalEvent) => void>();
  // ioredis re-subscribes after reconnects once a subscribe succeeded; until then every
  // create/ready retries it, so a Redis that was down at start-up is picked up later.
  let subscribed = false;
  const ensureSubscribed = async () => {
    if (subscribed) return;
    await sub.subscribe(channel);
    subscribed = true;
  };
  void ensureSubscribed().catch(() => {});
  sub.on("message", (_ch: string, message: string) => {
    let msg: { type: ApprovalEvent["type"]; id: string };
    try {
      msg = JSON.parse(message) as { type: ApprovalEvent["type"]; id: string };
    } catch {
      return; // A foreign message on our channel: ignore rather than crash the subscriber.
    }
    if (listeners.size === 0) return;
    void fetchOne(msg.id)
      .then((approval) => {
        if (!approval) return;
        const event = { type: msg.type, approval } as ApprovalEvent;
        for (const l of listeners) l(event);
      })
      .catch(() => {});
  });

  // Once connected, a lost connection fails calls at once, as the counter store does.
  // Queued, a command would wait out ioredis's reconnect retries (seconds, longer with
  // each failed attempt), and so would /metrics and /readyz, which ask this store. Until
  // the first connection, commands wait in the queue as before (start-up).
  let connectedOnce = false;
  client.on("ready", () => {
    connectedOnce = true;
  });
  const down = () => connectedOnce && client.status !== "ready";
  const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    if (down()) {
      throw new GatewayError(
        "APPROVAL_STORE_FAILED",
        `approval store (redis) failed to ${what}: not connected to Redis`,
      );
    }
    try {
      return await fn();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError(
        "APPROVAL_STORE_FAILED",
        `approval store (redis) failed to ${what}: ${(err as Error).message}`,
      );
    }
  };
  const fromHash = (h: Record<string, string>): ApprovalRecord | undefined => {
    if (!h.record || !h.status) return undefined;
    const base = JSON.parse(h.record) as ApprovalRecord;
    return {
      ...base,
      status: h.status as ApprovalRecord["status"],
      resolvedBy: h.resolvedBy || undefined,
      resolution: h.resolution || undefined,
      resolvedAt: h.resolvedAt ? Number(h.resolvedAt) : undefined,
    };
  };
  async function fetchOne(id: string) {
    return fromHash(await client.hgetall(key(id)));
  }
  const load = async (ids: string[]) => {
    if (ids.length === 0) return [];
    const pipe = client.pipeline();
    for (const id of ids) pipe.hgetall(key(id));
    const results = (await pipe.exec()) ?? [];
    return results
      .map(([, h]) => fromHash((h ?? {}) as Record<string, string>))
      .filter((r): r is ApprovalRecord => r !== undefined);
  };

  return {
    name: "redis",
    create: (record) =>
      wrap("create", async () => {
        await ensureSubscribed().catch(() => {});
        const { status } = record;
        // Only the immutable part goes into "record"; status fields live beside it.
        const rest = {
          ...record,
          status: undefined,
          resolvedAt: undefined,
          resolvedBy: undefined,
          resolution: undefined,
        };
        const ttl = Math.max(1, record.expiresAt - record.createdAt) + keepMs;
        await client
          .multi()
          .hset(key(record.id), { record: JSON.stringify(rest), status })
          .pexpire(key(record.id), ttl)
          .zadd(pendingKey, record.expiresAt, record.id)
          .publish(channel, JSON.stringify({ type: "created", id: record.id }))
          .exec();
      }),
    get: (id) => wrap("read", () => fetchOne(id)),
    listPending: () =>
      wrap("list", async () => {
        // An instance that died while holding a call never resolves it; once its deadline
        // has passed (plus a minute for the holder's own timeout) it is no longer pending.
        await client.zremrangebyscore(pendingKey, "-inf", now() - 60_000);
        const ids = await client.zrange(pendingKey, 0, -1);
        const records = await load(ids);
        return records
          .filter((r) => r.status === "pending" && r.expiresAt > now() - 60_000)
          .sort((a, b) => a.createdAt - b.createdAt);
      }),
    listRecent: (limit = 20) =>
      wrap("list", async () => {
        const ids = await client.zrevrange(recentKey, 0, limit - 1);
        return load(ids);
      }),
    resolve: (id, resolution) =>
      wrap("resolve", async () => {
        const state = (await client.eval(
          RESOLVE_LUA,
          4,
          key(id),
          pendingKey,
          recentKey,
          channel,
          resolution.status,
          resolution.by,
          resolution.reason ?? "",
          String(resolution.at),
          String(keepMs),
          id,
        )) as number;
        const approval = state === 0 ? undefined : await fetchOne(id);
        if (!approval) throw new GatewayError("APPROVAL_NOT_FOUND", `no approval with id ${id}`);
        // Trim "recent" so it does not grow forever.
        if (state === 2) await client.zremrangebyrank(recentKey, 0, -201);
        return { approval, changed: state === 2 };
      }),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async ready() {
      if (down()) return { ok: false, detail: "not connected to Redis" };
      try {
        await ensureSubscribed();
        await client.ping();
        return { ok: true };
      } catch (err) {
        return { ok: false, detail: (err as Error).message };
      }
    },
    async close() {
      listeners.clear();
      await Promise.allSettled([client.quit(), sub.quit()]);
    },
  };
}
