/**
 * The layering fences live in the root biome.json (`noRestrictedImports` per folder),
 * so `pnpm lint` fails CI on a violation. This suite proves they bite: it lints small
 * probe files placed at the paths of each package, in a scratch copy of the config.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const biomeBin = join(
  dirname(createRequire(import.meta.url).resolve("@biomejs/biome/package.json")),
  "bin",
  "biome",
);

/** [probe path, imported module, the fence message expected, or undefined when allowed] */
const CASES: ReadonlyArray<readonly [string, string, RegExp | undefined]> = [
  ["packages/policy-engine/src/p.ts", "express", /framework-free root/],
  ["packages/policy-engine/src/p.ts", "node:http", /framework-free root/],
  ["packages/policy-engine/src/p.ts", "http", /framework-free root/],
  [
    "packages/policy-engine/src/p.ts",
    "@modelcontextprotocol/sdk/server/mcp.js",
    /framework-free root/,
  ],
  ["packages/policy-engine/src/p.ts", "@toolgate/rate-limit-store", /imports none of our packages/],
  ["packages/policy-engine/src/p.ts", "@toolgate/mcp-express", /imports none of our packages/],
  [
    "packages/policy-engine/test/p.ts",
    "../../mcp-express/src/index.js",
    /imports none of our packages/,
  ],
  ["packages/policy-engine/src/p.ts", "zod", undefined],
  ["packages/rate-limit-store/src/p.ts", "express", /knows no HTTP framework/],
  [
    "packages/rate-limit-store/src/p.ts",
    "@modelcontextprotocol/sdk/types.js",
    /knows no HTTP framework/,
  ],
  ["packages/rate-limit-store/src/p.ts", "@toolgate/policy-engine", undefined],
  ["packages/rate-limit-store/src/p.ts", "ioredis", undefined],
  ["packages/mcp-express/src/p.ts", "../../../apps/gateway/src/index.js", /never import the app/],
  ["packages/mcp-express/src/p.ts", "@toolgate/gateway", /never import the app/],
  ["packages/mcp-express/src/p.ts", "express", undefined],
  ["packages/mcp-express/src/core/p.ts", "express", /tool-call core is framework-free/],
  ["packages/mcp-express/src/core/p.ts", "node:http", /tool-call core is framework-free/],
  ["packages/mcp-express/src/core/p.ts", "../front/post.js", /tool-call core is framework-free/],
  ["packages/mcp-express/src/core/p.ts", "../session.js", /tool-call core is framework-free/],
  ["packages/mcp-express/src/core/p.ts", "@toolgate/gateway", /never import the app/],
  ["packages/mcp-express/src/core/p.ts", "../engine.js", undefined],
  ["packages/policy-engine/src/p.ts", "@toolgate/gateway", /never import the app/],
  ["packages/binance-us/src/p.ts", "@toolgate/policy-engine", /independent of the policy code/],
  [
    "packages/binance-us/src/p.ts",
    "../../rate-limit-store/src/index.js",
    /independent of the policy code/,
  ],
  ["packages/binance-us/src/p.ts", "@modelcontextprotocol/sdk/server/mcp.js", undefined],
  ["apps/gateway/src/p.ts", "@toolgate/rate-limit-store", undefined],
];

function lint(dir: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [biomeBin, "lint", "--vcs-enabled=false", "--max-diagnostics=1000", "."],
      { cwd: dir },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, out: stdout + stderr });
      },
    );
  });
}

describe("layering fences (biome.json noRestrictedImports)", () => {
  let scratch: string;
  let result: { code: number; out: string };
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "toolgate-fences-"));
    copyFileSync(join(repoRoot, "biome.json"), join(scratch, "biome.json"));
    CASES.forEach(([path, mod], i) => {
      const file = join(scratch, path.replace(/p\.ts$/, `p${i}.ts`));
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `import * as m from "${mod}";\n\nexport const probe = m;\n`);
    });
    result = await lint(scratch);
  });
  afterAll(() => {
    if (!process.env.KEEP_FENCE_SCRATCH) rmSync(scratch, { recursive: true, force: true });
  });

  it("fails the lint run when any fence is crossed", () => {
    expect(result.code).not.toBe(0);
  });

  it.each(
    CASES.map((c, i) => [i, ...c] as const),
  )("case %i: %s importing %s", (i, path, _mod, expected) => {
    const file = path.replace(/p\.ts$/, `p${i}.ts`);
    // Each diagnostic block starts with the file name and the rule; the message follows.
    const fences = result.out
      .split(/\n(?=\S+\.ts:\d+:\d+ )/)
      .filter((b) => b.startsWith(`${file}:`) && b.includes("lint/style/noRestrictedImports"));
    if (expected === undefined) expect(fences, result.out).toEqual([]);
    else {
      // A module may cross two fences at once (a package that is also the app).
      expect(fences.length, result.out).toBeGreaterThan(0);
      expect(
        fences.some((f) => expected.test(f)),
        fences.join("\n"),
      ).toBe(true);
    }
  });
});
