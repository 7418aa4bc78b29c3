import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "binance-us",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
  },
});
