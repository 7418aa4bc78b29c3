import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * `@toolgate/mcp-express/core` is what mcp-guard loads inside someone else's MCP server:
 * it must not drag Express, `http` or the MCP SDK in at run time. This walks the value
 * imports (type-only ones are erased) from the entry through every file it reaches.
 */
function runtimeImports(entry: string): { files: string[]; packages: Set<string> } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, "utf8");
    const re = /^(?:import|export)\s+(?!type\b)(?:[^;]*?\sfrom\s+)?"([^"]+)";/gms;
    for (const m of text.matchAll(re)) {
      const spec = m[1]!;
      if (spec.startsWith(".")) visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files: [...seen], packages };
}

describe("the core entry", () => {
  const entry = join(dirname(fileURLToPath(import.meta.url)), "index.ts");

  it("loads no framework, no HTTP server module and no MCP SDK", () => {
    const { files, packages } = runtimeImports(entry);
    expect(files.some((f) => f.endsWith("tool-call.ts"))).toBe(true);
    for (const p of packages) {
      expect(p).not.toMatch(/^(express|node:http|http|https|node:https|@modelcontextprotocol\/)/);
    }
    expect([...packages].sort()).toEqual(
      expect.arrayContaining(["@opentelemetry/api", "@toolgate/policy-engine"]),
    );
    // Nothing of the HTTP front or the session is reachable.
    expect(files.filter((f) => /[/\\](front|adapters|session)[/\\.]/.test(f))).toEqual([]);
  });

  it("the same walk over the package's main entry finds the SDK", () => {
    // A guard against a test that cannot fail: the full package does load the SDK.
    const main = join(dirname(fileURLToPath(import.meta.url)), "..", "index.ts");
    const { packages } = runtimeImports(main);
    expect([...packages].some((p) => p.startsWith("@modelcontextprotocol/"))).toBe(true);
  });
});
