import type { MeteredCounterStore } from "@toolgate/policy-engine";
import { z } from "zod";
import { type MemoryConfig, memoryBackend } from "./backends/memory.js";
import { type RedisConfig, redisBackend } from "./backends/redis.js";
import { type RedisClusterConfig, redisClusterBackend } from "./backends/redis-cluster.js";
import { backendForScheme, STORE_BACKENDS } from "./backends/registry.js";
import {
  type CounterStoreRuntime,
  CounterStoreRuntimeSchema,
  type StoreBackend,
} from "./backends/types.js";
import { RateLimitStoreError, RateLimitStoreErrorCode } from "./errors.js";
import { parseOptions } from "./options.js";
import { withHoldCeiling } from "./wrappers/hold-ceiling.js";

export type { CounterStoreRuntime } from "./backends/types.js";
export { CounterStoreRuntimeSchema } from "./backends/types.js";

const UNKNOWN_SCHEME = `must be ${STORE_BACKENDS.map((b) => b.example).join(", ")}`;

function parseStoreString(raw: string, ctx: z.RefinementCtx): unknown {
  const text = raw.trim();
  // The bare word is the memory store's short form.
  const withScheme = text === "memory" ? "memory:" : text;
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(withScheme)?.[0].toLowerCase();
  const backend = scheme === undefined ? undefined : backendForScheme(scheme);
  if (backend === undefined) {
    ctx.addIssue({ code: "custom", message: UNKNOWN_SCHEME });
    return z.NEVER;
  }
  if (backend.fromString !== undefined) return backend.fromString(withScheme, ctx) ?? z.NEVER;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    ctx.addIssue({
      code: "custom",
      message: `is not a valid URL; write it like ${backend.example}`,
    });
    return z.NEVER;
  }
  return backend.fromUrl(url, ctx) ?? z.NEVER;
}

const StoreConfigObjectSchema = z.discriminatedUnion("type", [
  memoryBackend.schema as z.ZodType<MemoryConfig> & typeof memoryBackend.schema,
  redisBackend.schema as z.ZodType<RedisConfig> & typeof redisBackend.schema,
  redisClusterBackend.schema as z.ZodType<RedisClusterConfig> & typeof redisClusterBackend.schema,
] as unknown as [
  z.ZodObject<{ type: z.ZodLiteral<"memory"> }>,
  z.ZodObject<{ type: z.ZodLiteral<"redis"> }>,
  z.ZodObject<{ type: z.ZodLiteral<"redis-cluster"> }>,
]);

/**
 * A store configuration as written in the gateway config: one string whose URL scheme
 * picks the backend (`"memory"`, `"redis://host:port/db"`, `"rediss://..."`, with
 * optional `?fail=open|closed`, `insurance=true`, `timeout=<ms>`, `prefix=`, `hashTag=`,
 * `localRefusalMaxMs=`, `holdTimeout=<ms>`), or the equivalent object
 * (`{ type: "redis", url, fail, ... }`). Parses to the object form.
 *
 * @example
 * ```ts
 * StoreConfigSchema.parse("redis://10.0.0.5:6379/2?fail=open&insurance=true");
 * // { type: "redis", url: "redis://10.0.0.5:6379/2", fail: "open", insurance: true }
 * ```
 */
export const StoreConfigSchema = z
  .union([z.string(), z.object({ type: z.string() }).loose()], {
    message: `must be a string like "memory" or "redis://host:port/db", or an object with type ${STORE_BACKENDS.map((b) => `"${b.type}"`).join(" or ")}`,
  })
  .transform((v, ctx) => (typeof v === "string" ? parseStoreString(v, ctx) : v))
  .pipe(StoreConfigObjectSchema) as unknown as z.ZodType<
  MemoryConfig | RedisConfig | RedisClusterConfig,
  unknown
>;

/** A parsed store configuration (the object form). */
export type StoreConfig = MemoryConfig | RedisConfig | RedisClusterConfig;
/** What {@link createCounterStore} accepts: a URL-ish string or the object form. */
export type StoreConfigInput =
  | string
  | z.input<typeof memoryBackend.schema>
  | z.input<typeof redisBackend.schema>
  | z.input<typeof redisClusterBackend.schema>;

/** Describes a config without echoing a password. */
function describeConfig(config: unknown): string {
  return typeof config === "string"
    ? config.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@\s/]*@/gi, "$1***@")
    : "(object)";
}

/**
 * Builds a store from a one-line config, so the gateway config stays one line: the
 * URL scheme picks the backend from the registry (`backends/`), and `holdTimeout`
 * wraps it in the hold ceiling. Validates first: a bad config throws `CONFIG_INVALID`
 * at start-up naming the problem.
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
  const backend = STORE_BACKENDS.find((b) => b.type === c.type) as StoreBackend<typeof c>;
  const store = backend.create(c, rt);
  if (c.holdTimeoutMs === undefined) return store;
  return withHoldCeiling(store, {
    holdTimeoutMs: c.holdTimeoutMs,
    ...(rt.now !== undefined && { now: rt.now }),
    ...(rt.scheduler !== undefined && { scheduler: rt.scheduler }),
  });
}
