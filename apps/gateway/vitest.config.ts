import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "gateway",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Finds the Redis on REDIS_URL / 127.0.0.1:6379 or starts a private redis-server.
    globalSetup: ["../../packages/rate-limit-store/test/redis-global-setup.ts"],
    testTimeout: 20_000,
  },
});
