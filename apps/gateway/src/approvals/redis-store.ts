import { Redis, type RedisOptions } from "ioredis";
import { GatewayError } from "../errors.js";
import { CLEAR_BINDING_LUA, CONSUME_LUA, DECIDE_LUA, RESOLVE_LUA } from "./redis-scripts.js";
import {
  type ApprovalDecision,
  type ApprovalEvent,
  type ApprovalRecord,
  type ApprovalStore,
  approversNeeded,
  type DecideResult,
} from "./store.js";

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

/** The connection and key layout shared by the store's operations. */
interface RedisParts {
  readonly client: Redis;
  readonly sub: Redis;
  readonly item: (id: string) => string;
  readonly bindingKey: (binding: string) => string;
  readonly pendingKey: string;
  readonly recentKey: string;
  readonly channel: string;
  readonly keepMs: number;
  readonly now: () => number;
  readonly listeners: Set<(event: ApprovalEvent) => void>;
  /** Runs a store operation, turning driver errors into `APPROVAL_STORE_FAILED`. */
  wrap<T>(what: string, fn: () => Promise<T>): Promise<T>;
  ensureSubscribed(): Promise<void>;
  down(): boolean;
  fetchOne(id: string): Promise<ApprovalRecord | undefined>;
  load(ids: string[]): Promise<ApprovalRecord[]>;
}

/** A record from its hash: the immutable call as JSON plus the fields scripts change. */
function fromHash(h: Record<string, string>): ApprovalRecord | undefined {
  if (!h.record || !h.status) return undefined;
  const base = JSON.parse(h.record) as ApprovalRecord;
  return {
    ...base,
    status: h.status as ApprovalRecord["status"],
    resolvedBy: h.resolvedBy || undefined,
    resolution: h.resolution || undefined,
    resolvedAt: h.resolvedAt ? Number(h.resolvedAt) : undefined,
    decisions: h.decisions ? (JSON.parse(h.decisions) as ApprovalDecision[]) : undefined,
    consumedAt: h.consumedAt ? Number(h.consumedAt) : undefined,
  };
}

/** Failing fast once connected, so /metrics and /readyz never wait out reconnects. */
function guard(client: Redis) {
  // Once connected, a lost connection fails calls at once, as the counter store does.
  // Queued, a command would wait out ioredis's reconnect retries (seconds, longer with
  // each failed attempt). Until the first connection, commands wait (start-up).
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
  return { down, wrap };
}

/** Connects the command and subscriber clients and relays published events to listeners. */
function connect(options: RedisApprovalStoreOptions): RedisParts {
  const prefix = `${options.keyPrefix ?? "toolgate:"}approvals:`;
  const redisOptions: RedisOptions = { maxRetriesPerRequest: 2, ...options.redisOptions };
  const client = new Redis(options.url, redisOptions);
  const sub = new Redis(options.url, redisOptions);
  // Errors surface through commands; without listeners ioredis would print them.
  client.on("error", () => {});
  sub.on("error", () => {});
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
  const item = (id: string) => `${prefix}item:${id}`;
  const fetchOne = async (id: string) => fromHash(await client.hgetall(item(id)));
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
  const load = async (ids: string[]) => {
    if (ids.length === 0) return [];
    const pipe = client.pipeline();
    for (const id of ids) pipe.hgetall(item(id));
    const results = (await pipe.exec()) ?? [];
    return results
      .map(([, h]) => fromHash((h ?? {}) as Record<string, string>))
      .filter((r): r is ApprovalRecord => r !== undefined);
  };
  return {
    client,
    sub,
    item,
    bindingKey: (b) => `${prefix}binding:${b}`,
    pendingKey: `${prefix}pending`,
    recentKey: `${prefix}recent`,
    channel,
    keepMs: options.keepResolvedMs ?? 3_600_000,
    now: options.now ?? Date.now,
    listeners,
    ensureSubscribed,
    ...guard(client),
    fetchOne,
    load,
  };
}

/** Stores a new pending record, its binding (retry mode) and announces it. */
function createOp(p: RedisParts): ApprovalStore["create"] {
  return (record) =>
    p.wrap("create", async () => {
      await p.ensureSubscribed().catch(() => {});
      // Only the immutable part goes into "record"; the fields scripts change live beside it.
      const rest = {
        ...record,
        status: undefined,
        resolvedAt: undefined,
        resolvedBy: undefined,
        resolution: undefined,
        decisions: undefined,
        consumedAt: undefined,
      };
      const ttl = Math.max(1, record.expiresAt - record.createdAt) + p.keepMs;
      const multi = p.client
        .multi()
        .hset(p.item(record.id), {
          record: JSON.stringify(rest),
          status: record.status,
          expiresAt: String(record.expiresAt),
          needed: String(approversNeeded(record)),
        })
        .pexpire(p.item(record.id), ttl)
        .zadd(p.pendingKey, record.expiresAt, record.id);
      if (record.binding !== undefined)
        multi.set(p.bindingKey(record.binding), record.id, "PX", ttl);
      await multi.publish(p.channel, JSON.stringify({ type: "created", id: record.id })).exec();
    });
}

/** Pending (without those whose holder died long ago) and recently resolved records. */
function listOps(p: RedisParts): Pick<ApprovalStore, "listPending" | "listRecent"> {
  return {
    listPending: () =>
      p.wrap("list", async () => {
        // An instance that died while holding a call never resolves it; once its deadline
        // has passed (plus a minute for the holder's own timeout) it is no longer pending.
        const cutoff = p.now() - 60_000;
        await p.client.zremrangebyscore(p.pendingKey, "-inf", cutoff);
        const records = await p.load(await p.client.zrange(p.pendingKey, 0, -1));
        return records
          .filter((r) => r.status === "pending" && r.expiresAt > cutoff)
          .sort((a, b) => a.createdAt - b.createdAt);
      }),
    listRecent: (limit = 20) =>
      p.wrap("list", async () => p.load(await p.client.zrevrange(p.recentKey, 0, limit - 1))),
  };
}

/** The atomic state changes: resolve, decide, consume, and the binding lookups. */
function changeOps(
  p: RedisParts,
): Pick<ApprovalStore, "resolve" | "decide" | "findByBinding" | "consume" | "clearBinding"> {
  const keys = (id: string) => [p.item(id), p.pendingKey, p.recentKey, p.channel];
  const notFound = (id: string) =>
    new GatewayError("APPROVAL_NOT_FOUND", `no approval with id ${id}`);
  return {
    resolve: (id, r) =>
      p.wrap("resolve", async () => {
        const args = [r.status, r.by, r.reason ?? "", String(r.at), String(p.keepMs), id];
        const state = (await p.client.eval(RESOLVE_LUA, 4, ...keys(id), ...args)) as number;
        const approval = state === 0 ? undefined : await p.fetchOne(id);
        if (!approval) throw notFound(id);
        // Trim "recent" so it does not grow forever.
        if (state === 2) await p.client.zremrangebyrank(p.recentKey, 0, -201);
        return { approval, changed: state === 2 };
      }),
    decide: (id, d) =>
      p.wrap("decide", async () => {
        const args = [d.approver, d.decision, d.reason ?? "", String(d.at), String(p.keepMs), id];
        const result = (await p.client.eval(DECIDE_LUA, 4, ...keys(id), ...args)) as string;
        const approval = result === "missing" ? undefined : await p.fetchOne(id);
        if (!approval) throw notFound(id);
        return { result: result as DecideResult, approval };
      }),
    findByBinding: (binding) =>
      p.wrap("read", async () => {
        const id = await p.client.get(p.bindingKey(binding));
        return id === null ? undefined : p.fetchOne(id);
      }),
    consume: (id, at) =>
      p.wrap("consume", async () => {
        const record = await p.fetchOne(id);
        if (record?.binding === undefined) return false;
        const args = [p.item(id), p.bindingKey(record.binding), String(at), id];
        return ((await p.client.eval(CONSUME_LUA, 2, ...args)) as number) === 1;
      }),
    clearBinding: (binding, id) =>
      p.wrap("clear", async () => {
        await p.client.eval(CLEAR_BINDING_LUA, 1, p.bindingKey(binding), id);
      }),
  };
}

/**
 * An approval store in Redis: one hash per approval (the immutable call as JSON plus its
 * status, decisions and consumption), a sorted set of pending ids, one of recently
 * resolved ids, one key per retry binding, and a pub/sub channel so every instance learns
 * about creates, decisions and resolves at once. Every state change is one Lua script.
 *
 * @example
 * const approvals = createRedisApprovalStore({ url: "redis://127.0.0.1:6379", keyPrefix: "tg:" });
 */
export function createRedisApprovalStore(options: RedisApprovalStoreOptions): ApprovalStore {
  const p = connect(options);
  return {
    name: "redis",
    create: createOp(p),
    get: (id) => p.wrap("read", () => p.fetchOne(id)),
    ...listOps(p),
    ...changeOps(p),
    subscribe(listener) {
      p.listeners.add(listener);
      return () => p.listeners.delete(listener);
    },
    async ready() {
      if (p.down()) return { ok: false, detail: "not connected to Redis" };
      try {
        await p.ensureSubscribed();
        await p.client.ping();
        return { ok: true };
      } catch (err) {
        return { ok: false, detail: (err as Error).message };
      }
    },
    async close() {
      p.listeners.clear();
      await Promise.allSettled([p.client.quit(), p.sub.quit()]);
    },
  };
}
