import { z } from "zod";
import { createRedisStore } from "../redis-store.js";
import { redisQueryParams } from "./redis.js";
import type { StoreBackend } from "./types.js";

const RedisClusterConfigSchema = z
  .object({
    type: z.literal("redis-cluster"),
    /** Seed nodes, `host:port`. */
    nodes: z.array(z.string()).min(1),
    username: z.string().optional(),
    password: z.string().optional(),
    tls: z.boolean().optional(),
    /** `scope` (default: counters spread over the masters) or `store` (one slot). */
    sharding: z.enum(["store", "scope"]).optional(),
    prefix: z.string().optional(),
    hashTag: z.string().optional(),
    commandTimeoutMs: z.number().int().positive().optional(),
    fail: z.enum(["closed", "open"]).optional(),
    insurance: z.boolean().optional(),
    localRefusalMaxMs: z.number().int().min(0).optional(),
    /** See `withHoldCeiling`. */
    holdTimeoutMs: z.number().int().positive().optional(),
  })
  .strict();

/** A parsed `redis-cluster` store config. */
export type RedisClusterConfig = z.output<typeof RedisClusterConfigSchema>;

const FORM = /^(rediss?)-cluster:\/\/(?:([^@/?#]*)@)?([^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/i;
const EXAMPLE = '"redis-cluster://host:port,host:port" (optionally with ?fail=open&insurance=true)';

/**
 * `redis-cluster://[user:password@]host:port,host:port[?...]` (and `rediss-cluster://`
 * for TLS): a Redis Cluster, counters spread over its masters. The seed list is
 * comma-separated, which a WHATWG URL cannot hold, so this backend parses the raw text.
 */
export const redisClusterBackend: StoreBackend<RedisClusterConfig> = {
  type: "redis-cluster",
  schemes: ["redis-cluster:", "rediss-cluster:"],
  example: EXAMPLE,
  schema: RedisClusterConfigSchema,
  fromUrl(_url, ctx) {
    ctx.addIssue({ code: "custom", message: `write it like ${EXAMPLE}` });
    return undefined;
  },
  fromString(raw, ctx) {
    const m = FORM.exec(raw);
    if (m === null) {
      ctx.addIssue({ code: "custom", message: `is not a cluster URL; write it like ${EXAMPLE}` });
      return undefined;
    }
    const [, scheme, userinfo, hosts, path, query] = m;
    if (path !== undefined && path !== "/") {
      ctx.addIssue({
        code: "custom",
        message: `a Redis Cluster has only database 0: remove "${path}" from the URL`,
      });
      return undefined;
    }
    const nodes = hosts!.split(",").map((h) => h.trim());
    const bad = nodes.find((n) => !/^[^\s:]+:\d{1,5}$/.test(n));
    if (bad !== undefined) {
      ctx.addIssue({ code: "custom", message: `seed node "${bad}" must be host:port` });
      return undefined;
    }
    const out: Record<string, unknown> = { type: "redis-cluster", nodes };
    if (scheme!.toLowerCase() === "rediss") out.tls = true;
    if (userinfo !== undefined) {
      const i = userinfo.indexOf(":");
      const user = decodeURIComponent(i >= 0 ? userinfo.slice(0, i) : userinfo);
      if (user !== "") out.username = user;
      if (i >= 0) out.password = decodeURIComponent(userinfo.slice(i + 1));
    }
    const params = new URLSearchParams(query ?? "");
    const sharding = params.get("sharding");
    params.delete("sharding");
    if (sharding !== null) out.sharding = sharding;
    if (!redisQueryParams(params, out, ctx)) return undefined;
    const left = [...params.keys()];
    if (left.length > 0) {
      ctx.addIssue({
        code: "custom",
        message: `unknown parameter ${left.map((k) => `?${k}`).join(", ")} on a cluster URL`,
      });
      return undefined;
    }
    return out;
  },
  create(config, rt) {
    const { type: _t, holdTimeoutMs: _h, nodes, username, password, tls, ...rest } = config;
    return createRedisStore({
      ...rest,
      cluster: {
        nodes,
        ...(username !== undefined && { username }),
        ...(password !== undefined && { password }),
        ...(tls !== undefined && { tls }),
      },
      ...rt,
    });
  },
};
