import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "rate-limit-store",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["./test/redis-global-setup.ts"],
  },
});
