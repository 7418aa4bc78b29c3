import { defineConfig } from "vitest/config";

// One Vitest project per package: `pnpm test` at the root runs them all, and
// `pnpm vitest run --project policy-engine` runs one.
export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*", "tests/*"],
  },
});
