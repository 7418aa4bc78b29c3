import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Script } from "node:vm";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { describe, expect, it } from "vitest";
import { diffLines } from "./diff.js";
import { createToolInventory } from "./inventory.js";
import { STUDIO_HTML, STUDIO_JS } from "./page.js";
import { checkPolicyText, contentHash, testFileFor, writeFileAtomic } from "./policy-file.js";
import { STUDIO_CSP } from "./router.js";
import { shadowChanges } from "./service.js";

describe("diffLines", () => {
  it("marks changed lines and keeps the rest", () => {
    expect(diffLines("a\nb\nc\n", "a\nB\nc\nd\n")).toEqual([
      { op: "=", text: "a" },
      { op: "-", text: "b" },
      { op: "+", text: "B" },
      { op: "=", text: "c" },
      { op: "+", text: "d" },
    ]);
    expect(diffLines("", "x\n")).toEqual([{ op: "+", text: "x" }]);
    expect(diffLines("same\n", "same\n")).toEqual([{ op: "=", text: "same" }]);
  });

  it("stays cheap on a huge paste", () => {
    const big = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join("\n");
    const other = Array.from({ length: 5000 }, (_, i) => `other ${i}`).join("\n");
    const t0 = performance.now();
    const d = diffLines(big, other);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(d.filter((l) => l.op === "-")).toHaveLength(5000);
  });
});

describe("policy files", () => {
  it("replaces a file atomically, keeping its mode and its symlink, leaving no temp file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "studio-file-"));
    const real = join(dir, "real.json");
    writeFileSync(real, "old\n");
    chmodSync(real, 0o640);
    const link = join(dir, "policy.json");
    symlinkSync(real, link);
    await writeFileAtomic(link, "new\n");
    expect(readFileSync(real, "utf8")).toBe("new\n");
    expect(statSync(real).mode & 0o777).toBe(0o640);
    expect(readFileSync(link, "utf8")).toBe("new\n");
    expect(readdirSync(dir).sort()).toEqual(["policy.json", "real.json"]);
  });

  it("leaves the old file in place when the write fails", async () => {
    const dir = mkdtempSync(join(tmpdir(), "studio-file-"));
    const path = join(dir, "policy.json");
    writeFileSync(path, "old\n");
    await expect(writeFileAtomic(join(dir, "missing", "policy.json"), "x")).rejects.toThrow();
    expect(readFileSync(path, "utf8")).toBe("old\n");
    expect(readdirSync(dir)).toEqual(["policy.json"]);
  });

  it("finds the test suite next to a policy and hashes exact bytes", () => {
    const dir = mkdtempSync(join(tmpdir(), "studio-file-"));
    writeFileSync(join(dir, "team.yaml"), "");
    expect(testFileFor(join(dir, "team.yaml"))).toBeUndefined();
    writeFileSync(join(dir, "team.test.yaml"), "");
    expect(testFileFor(join(dir, "team.yaml"))).toBe(join(dir, "team.test.yaml"));
    expect(contentHash("a")).not.toBe(contentHash("a\n"));
  });

  it("checks text with the engine's messages and keeps what parsed", () => {
    const r = checkPolicyText('version: "1"\ntools: { x: { action: maybe } }\n', "yaml");
    expect(r.ok).toBe(false);
    expect(r.issues[0]?.path).toBe("tools.x.action");
    expect(r.value).toEqual({ version: "1", tools: { x: { action: "maybe" } } });
    // YAML that expands without bound is refused, not expanded.
    const bomb = `version: "1"\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n`;
    const refused = checkPolicyText(bomb, "yaml");
    expect(refused.value).toBeUndefined();
    expect(refused.issues[0]?.message).toContain("Excessive alias count");
  });
});

describe("shadowChanges", () => {
  it("shadows added and changed rules only, and reports what it cannot shadow", () => {
    const live = {
      version: "1" as const,
      default: "deny" as const,
      tools: { a: { action: "allow" as const }, b: { action: "allow" as const }, c: {} },
    };
    const draft = {
      version: "1" as const,
      default: "allow" as const,
      tools: { a: { action: "allow" as const }, b: { action: "deny" as const }, d: {} },
    };
    const s = shadowChanges(live, draft);
    expect(s.document.tools).toEqual({
      a: { action: "allow" },
      b: { action: "deny", mode: "shadow" },
      d: { mode: "shadow" },
    });
    expect(s.notShadowed).toEqual(["default", "tools.c (removed)"]);
  });
});

describe("tool inventory", () => {
  const server = (names: string[]) => () => {
    const s = new McpServer({ name: "t", version: "1" });
    for (const n of names)
      s.registerTool(n, { description: `${n} tool` }, async () => ({ content: [] }));
    return s;
  };

  it("names tools as the MCP endpoint does, reports a failing upstream, and caches", async () => {
    let now = 1_000;
    const inv = createToolInventory({
      upstreams: [
        { name: "a", server: server(["search", "get_a"]) },
        { name: "b", server: server(["search", "get_b"]) },
        { name: "down", url: "http://127.0.0.1:9/mcp" },
      ],
      timeoutMs: 2_000,
      now: () => now,
    });
    const first = await inv.list();
    expect(first.tools.map((t) => `${t.upstream}:${t.name}`).sort()).toEqual([
      "a:a__search",
      "a:get_a",
      "b:b__search",
      "b:get_b",
    ]);
    const down = first.upstreams.find((u) => u.name === "down");
    expect(down).toMatchObject({ ok: false, tools: 0 });
    expect(down?.detail).toBeTruthy();
    now += 1_000;
    expect(await inv.list()).toBe(first); // cached
    expect(await inv.list({ refresh: true })).toBe(first); // too young to refresh
    now += 10_000;
    expect(await inv.list({ refresh: true })).not.toBe(first);
  }, 15_000);
});

describe("studio page", () => {
  it("is a script that parses, with no HTML sink and no inline code", () => {
    expect(() => new Script(STUDIO_JS)).not.toThrow();
    expect(STUDIO_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    expect(STUDIO_HTML).not.toMatch(/<script>|<style>| style=| on[a-z]+=/);
    expect(STUDIO_CSP).toContain("script-src 'self'");
    expect(STUDIO_CSP).not.toContain("unsafe-inline");
    expect(STUDIO_CSP).toContain("require-trusted-types-for 'script'");
  });
});
