import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "mcp-guard",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
  },
});
