import { z } from "zod";
import { RateLimitStoreError, RateLimitStoreErrorCode } from "./errors.js";
import { createMemoryStore } from "./memory-store.js";
import {
  fnSchema,
  parseOptions,
  REDIS_URL,
  redisUrlSchema,
  type Scheduler,
  schedulerSchema,
} from "./options.js";
import { createRedisStore } from "./redis-store.js";
import type { MeteredCounterStore } from "./stats.js";

const MemoryConfigSchema = z.object({ type: z.literal("memory") }).strict();

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
  })
  .strict();

/** Query parameters of a store URL and the option each one sets. */
const URL_PARAMS = {
  fail: "fail",
  prefix: "prefix",
  hashTag: "hashTag",
  timeout: "commandTimeoutMs",
  insurance: "insurance",
  localRefusalMaxMs: "localRefusalMaxMs",
} as const;

function parseStoreString(raw: string, ctx: z.RefinementCtx): unknown {
  const text = raw.trim();
  if (text === "memory") return { type: "memory" };
  if (!REDIS_URL.test(text)) {
    ctx.addIssue({
      code: "custom",
      message:
        'must be "memory", "redis://host:port/db" or "rediss://host:port/db" (optionally with ?fail=open&insurance=true)',
    });
    return z.NEVER;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({
      code: "custom",
      message: "is not a valid URL; write it like redis://127.0.0.1:6379/0",
    });
    return z.NEVER;
  }
  const out: Record<string, unknown> = { type: "redis" };
  for (const [param, value] of [...url.searchParams]) {
    const option = URL_PARAMS[param as keyof typeof URL_PARAMS];
    if (option === undefined) continue; // left in the URL for ioredis (e.g. family=6)
    url.searchParams.delete(param);
    if (option === "commandTimeoutMs" || option === "localRefusalMaxMs")
      out[option] = Number(value);
    else if (option === "insurance") {
      if (value !== "true" && value !== "false") {
        ctx.addIssue({
          code: "custom",
          message: `?insurance must be true or false, got "${value}"`,
        });
        return z.NEVER;
      }
      out[option] = value === "true";
    } else out[option] = value;
  }
  out.url = url.toString();
  return out;
}

const StoreConfigObjectSchema = z.discriminatedUnion("type", [
  MemoryConfigSchema,
  RedisConfigSchema,
]);

/**
 * A store configuration as written in the gateway config: one string (`"memory"`,
 * `"redis://host:port/db"`, `"rediss://..."`, with optional `?fail=open|closed`,
 * `insurance=true`, `timeout=<ms>`, `prefix=`, `hashTag=`, `localRefusalMaxMs=`), or
 * the equivalent object (`{ type: "redis", url, fail, ... }`). Parses to the object form.
 *
 * @example
 * ```ts
 * StoreConfigSchema.parse("redis://10.0.0.5:6379/2?fail=open&insurance=true");
 * // { type: "redis", url: "redis://10.0.0.5:6379/2", fail: "open", insurance: true }
 * ```
 */
export const StoreConfigSchema = z
  .union([z.string(), z.object({ type: z.string() }).loose()], {
    message:
      'must be a string like "memory" or "redis://host:port/db", or an object with type "memory" or "redis"',
  })
  .transform((v, ctx) => (typeof v === "string" ? parseStoreString(v, ctx) : v))
  .pipe(StoreConfigObjectSchema);

/** A parsed store configuration (the object form). */
export type StoreConfig = z.output<typeof StoreConfigSchema>;
/** What {@link createCounterStore} accepts: a URL-ish string or the object form. */
export type StoreConfigInput = string | z.input<typeof StoreConfigObjectSchema>;

/**
 * Runtime seams passed through to the store the factory builds: `now` and `scheduler`
 * for every store; `ids` (a reservation id source) for Redis only, since the memory
 * store derives its ids from a sequence it can look up in O(1).
 */
export const CounterStoreRuntimeSchema = z
  .object({
    now: fnSchema<() => number>("a clock returning epoch ms").optional(),
    scheduler: schedulerSchema.optional(),
    ids: fnSchema<() => string>("returning a unique reservation id").optional(),
  })
  .strict();

/** Input type of {@link CounterStoreRuntimeSchema}. */
export interface CounterStoreRuntime {
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Timers for sweeps and start-up waits. Default: real, unref'd timers. */
  scheduler?: Scheduler;
  /** Redis only: reservation id source, unique across gateway instances. */
  ids?: () => string;
}

/** Describes a config without echoing a password. */
function describeConfig(config: unknown): string {
  return typeof config === "string"
    ? config.replace(/(rediss?:\/\/)[^@\s/]*@/g, "$1***@")
    : "(object)";
}

/**
 * Builds a store from a one-line config, so the gateway config stays one line.
 * Validates first: a bad config throws `CONFIG_INVALID` at start-up naming the problem.
 *
 * @example
 * ```ts
 * const store = createCounterStore(process.env.TOOLGATE_STORE ?? "memory");
 * ```
 */
export function createCounterStore(
  config: StoreConfigInput,
  runtime: CounterStoreRuntime = {},
): MeteredCounterStore {
  const parsed = StoreConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      const path = i.path.length > 0 ? `store.${i.path.join(".")}` : "store";
      return `${path}: ${i.message}`;
    });
    throw new RateLimitStoreError(
      RateLimitStoreErrorCode.CONFIG_INVALID,
      `invalid store config ${describeConfig(config)}: ${issues.join("; ")}`,
      { issues },
    );
  }
  const rt = parseOptions(CounterStoreRuntimeSchema, runtime, "createCounterStore runtime");
  const c = parsed.data;
  if (c.type === "memory") {
    return createMemoryStore({
      ...(rt.now !== undefined && { now: rt.now }),
      ...(rt.scheduler !== undefined && { scheduler: rt.scheduler }),
    });
  }
  const { type: _type, ...redis } = c;
  return createRedisStore({ ...redis, ...rt });
}
