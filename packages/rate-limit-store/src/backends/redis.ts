import { z } from "zod";
import { redisUrlSchema } from "../options.js";
import { createRedisStore } from "../redis-store.js";
import type { StoreBackend } from "./types.js";

const RedisConfigSchema = z
  .object({
    type: z.literal("redis"),
    url: redisUrlSchema,
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

/** A parsed `redis` store config. */
export type RedisConfig = z.output<typeof RedisConfigSchema>;

/** Query parameters of a Redis store URL and the option each one sets. */
const URL_PARAMS = {
  fail: "fail",
  prefix: "prefix",
  hashTag: "hashTag",
  timeout: "commandTimeoutMs",
  insurance: "insurance",
  localRefusalMaxMs: "localRefusalMaxMs",
  holdTimeout: "holdTimeoutMs",
} as const;

const NUMERIC = new Set(["commandTimeoutMs", "localRefusalMaxMs", "holdTimeoutMs"]);

/**
 * Moves the store's own query parameters from `params` into `out` (options of the
 * object form), leaving the others; false after reporting a bad value on `ctx`.
 */
export function redisQueryParams(
  params: URLSearchParams,
  out: Record<string, unknown>,
  ctx: z.RefinementCtx,
): boolean {
  for (const [param, value] of [...params]) {
    const option = URL_PARAMS[param as keyof typeof URL_PARAMS];
    if (option === undefined) continue; // left in the URL for ioredis (e.g. family=6)
    params.delete(param);
    if (NUMERIC.has(option)) out[option] = Number(value);
    else if (option === "insurance") {
      if (value !== "true" && value !== "false") {
        ctx.addIssue({
          code: "custom",
          message: `?insurance must be true or false, got "${value}"`,
        });
        return false;
      }
      out[option] = value === "true";
    } else out[option] = value;
  }
  return true;
}

/** `redis://host:port/db` and `rediss://` (TLS): counters shared by every gateway instance. */
export const redisBackend: StoreBackend<RedisConfig> = {
  type: "redis",
  schemes: ["redis:", "rediss:"],
  example:
    '"redis://host:port/db" or "rediss://host:port/db" (optionally with ?fail=open&insurance=true)',
  schema: RedisConfigSchema,
  fromUrl(url, ctx) {
    const out: Record<string, unknown> = { type: "redis" };
    if (!redisQueryParams(url.searchParams, out, ctx)) return undefined;
    out.url = url.toString();
    return out;
  },
  create(config, rt) {
    const { type: _type, holdTimeoutMs: _hold, ...redis } = config;
    return createRedisStore({ ...redis, ...rt });
  },
};
