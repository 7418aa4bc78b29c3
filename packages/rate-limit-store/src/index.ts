/**
 * @toolgate/rate-limit-store: exact `CounterStore`s for the Toolgate policy engine:
 * in memory (the embedded default) and in Redis (shared across gateway instances).
 */

export { RateLimitStoreError, RateLimitStoreErrorCode } from "./errors.js";
export type { CounterStoreRuntime, StoreConfig, StoreConfigInput } from "./factory.js";
export { CounterStoreRuntimeSchema, createCounterStore, StoreConfigSchema } from "./factory.js";
export type { MemoryStoreOptions } from "./memory-store.js";
export { createMemoryStore, MemoryStoreOptionsSchema } from "./memory-store.js";
export type { Scheduler } from "./options.js";
export type { RedisStoreOptions } from "./redis-store.js";
export { createRedisStore, RedisStoreOptionsSchema } from "./redis-store.js";
export type { RlfMemoryStoreOptions } from "./rlf-memory-store.js";
export { createRlfMemoryStore, RlfMemoryStoreOptionsSchema } from "./rlf-memory-store.js";
export type { MeteredCounterStore, StoreStats } from "./stats.js";
