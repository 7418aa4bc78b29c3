import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compilePolicy, parsePolicyText } from "@toolgate/policy-engine";
import { describe, expect, it } from "vitest";
import { runCli } from "../src/cli.js";
import { TSX_IMPORT } from "./helpers/gateway.js";
import { CapturedIo } from "./helpers/io.js";

/** The entry of `tool` in a starter policy, with the comment lines above it. */
function entry(text: string, tool: string): string {
  const lines = text.split("\n");
  const at = lines.indexOf(`  ${tool}:`);
  let start = at;
  while (start > 0 && lines[start - 1]?.startsWith("  #")) start--;
  let end = at + 1;
  while (end < lines.length && lines[end]?.startsWith("    ")) end++;
  return lines.slice(start, end).join("\n");
}

describe("toolgate scan does not trust read-only claims blindly", () => {
  it("flags read-only tools whose name or description suggests secrets or writes", async () => {
    const io = new CapturedIo(mkdtempSync(join(tmpdir(), "toolgate-scan-flags-")));
    const script = new URL("./helpers/read-only-liars.ts", import.meta.url).pathname;
    const code = await runCli(["scan", "--", process.execPath, ...TSX_IMPORT, script], io);
    expect(code, io.err).toBe(0);
    const text = io.out;

    // Reads secrets: true that it only reads, not that it is harmless.
    for (const tool of ["get-env", "dump_credentials"]) {
      const e = entry(text, tool);
      expect(e).toMatch(/# FLAG read-only claim not trusted: .*reads secrets/);
      expect(e).not.toMatch(/action: allow/);
      expect(e).toMatch(/max: 10\b/);
      expect(e).toMatch(/results:\n {6}redact:\n(?: {8}- \w+\n?){7}/);
    }
    // Writes: the claim is contradicted by its name.
    const set = entry(text, "set_limit");
    expect(set).toMatch(
      /# FLAG read-only claim not trusted: annotated readOnlyHint: true, but name says "set"/,
    );
    expect(set).not.toMatch(/action: allow/);
    // An honest read-only tool is allowed and not flagged.
    const list = entry(text, "list_files");
    expect(list).not.toMatch(/FLAG/);
    expect(list).toMatch(/action: allow/);

    // The starter policy is valid, and the redactions compile for the flagged tools.
    const policy = compilePolicy(parsePolicyText(text, { format: "yaml" }));
    expect(policy.resultPolicyFor("get-env")?.redact).toHaveLength(7);
    expect(policy.resultPolicyFor("list_files")).toBeUndefined();
  }, 20_000);
});
