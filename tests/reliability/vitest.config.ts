import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "reliability",
    include: ["test/**/*.test.ts"],
    globalSetup: [
      // Finds the Redis on REDIS_URL / 127.0.0.1:6379 or starts a private redis-server.
      "../../packages/rate-limit-store/test/redis-global-setup.ts",
      // The run's artifacts folder, and the secrets scan over all of it at the end.
      "./src/global-setup.ts",
    ],
    // These tests start real processes and push real load through them on a 2-core box
    // while other packages' tests run too; one file at a time keeps their figures honest.
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
});
