/**
 * @toolgate/rate-limit-store: exact `CounterStore`s for the Toolgate policy engine:
 * in memory (the embedded default, defined once in the engine) and in Redis (shared
 * across gateway instances), picked by URL scheme, with a fail mode, insurance and a
 * hold ceiling that wrap any backend.
 */

export type {
  MemoryStoreOptions,
  MeteredCounterStore,
  Scheduler,
  StoreStats,
} from "@toolgate/policy-engine";
export { createMemoryStore, MemoryStoreOptionsSchema } from "@toolgate/policy-engine";
export { STORE_BACKENDS } from "./backends/registry.js";
export type { CounterStoreRuntime, StoreBackend } from "./backends/types.js";
export { isOutage, RateLimitStoreError, RateLimitStoreErrorCode } from "./errors.js";
export type { StoreConfig, StoreConfigInput } from "./factory.js";
export { CounterStoreRuntimeSchema, createCounterStore, StoreConfigSchema } from "./factory.js";
export type { RedisStoreOptions } from "./redis-store.js";
export { createRedisStore, RedisStoreOptionsSchema } from "./redis-store.js";
export type { FailModeOptions } from "./wrappers/fail-mode.js";
export { FailModeOptionsSchema, withFailMode } from "./wrappers/fail-mode.js";
export type { HoldCeilingOptions } from "./wrappers/hold-ceiling.js";
export { HoldCeilingOptionsSchema, withHoldCeiling } from "./wrappers/hold-ceiling.js";
