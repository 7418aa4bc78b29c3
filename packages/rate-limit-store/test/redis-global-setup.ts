/**
 * Vitest `globalSetup` that guarantees a Redis for the run. Other packages can list it
 * by relative path in their vitest config.
 *
 * Order: use REDIS_URL (default redis://127.0.0.1:6379) when it answers; otherwise start
 * a private `redis-server` on a free port and stop it at teardown; otherwise fail with
 * an install hint. Tests read the URL with `inject("redisUrl")` (also set as
 * `process.env.REDIS_URL`).
 */
import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { hasRedisServer, INSTALL_HINT, pingRedis, startRedisServer } from "./redis-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the Redis this test run uses. */
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const wanted = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  if (await pingRedis(wanted, 1000)) {
    project.provide("redisUrl", wanted);
    process.env.REDIS_URL = wanted;
    return async () => {};
  }
  if (!hasRedisServer()) {
    throw new Error(
      `no Redis answers at ${wanted.replace(/\/\/[^@/]*@/, "//***@")} and redis-server is not installed: ${INSTALL_HINT}`,
    );
  }
  const server = await startRedisServer();
  project.provide("redisUrl", server.url);
  process.env.REDIS_URL = server.url;
  return async () => {
    await server.kill();
  };
}
