import { memoryBackend } from "./memory.js";
import { redisBackend } from "./redis.js";
import { redisClusterBackend } from "./redis-cluster.js";
import type { StoreBackend } from "./types.js";

/**
 * Every store backend, by URL scheme. A new backend is one file next to these, one
 * entry here (and in the config union in `factory.ts`), and a run of the contract tests.
 */
export const STORE_BACKENDS = [memoryBackend, redisBackend, redisClusterBackend] as const;

/** The backend answering `scheme` (`"redis:"`), if any. */
export function backendForScheme(scheme: string): StoreBackend | undefined {
  return (STORE_BACKENDS as unknown as readonly StoreBackend[]).find((b) =>
    b.schemes.includes(scheme),
  ) as StoreBackend | undefined;
}
