import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "policy-engine",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
  },
});
