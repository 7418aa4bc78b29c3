import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compilePolicy, parsePolicyText, toolDigest } from "@toolgate/policy-engine";
import { describe, expect, it } from "vitest";
import { runCli } from "../src/cli.js";
import { TSX_IMPORT } from "./helpers/gateway.js";
import { CapturedIo } from "./helpers/io.js";

const dir = mkdtempSync(join(tmpdir(), "toolgate-pins-"));
const script = new URL("./helpers/stdio-server.ts", import.meta.url).pathname;
const upstream = ["--", process.execPath, ...TSX_IMPORT, script];

async function run(...argv: string[]) {
  const io = new CapturedIo(dir);
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

describe("toolgate scan --pin and pins diff", () => {
  it("pins every tool, then reports unchanged, changed field by field, missing and unpinned", async () => {
    const scan = await run("scan", "--pin", "--out", "pinned.yaml", ...upstream);
    expect(scan.code, scan.err).toBe(0);
    expect(scan.err).toContain("wrote pinned.pins.json");
    const text = readFileSync(join(dir, "pinned.yaml"), "utf8");
    const policy = compilePolicy(parsePolicyText(text, { format: "yaml" }));
    expect(policy.pinSettings).toEqual({ mode: "enforce", onMismatch: "hide" });
    const snap = JSON.parse(readFileSync(join(dir, "pinned.pins.json"), "utf8"));
    const def = snap.tools.delete_file.definition;
    expect(policy.pinFor("delete_file")).toBe(toolDigest(def));
    expect(policy.pinFor("delete_file")).toMatch(/^sha256:[0-9a-f]{64}$/);

    const same = await run("pins", "diff", "pinned.yaml", ...upstream);
    expect(same.code, same.err).toBe(0);
    expect(same.out).toContain("unchanged  delete_file");

    // Pretend a reviewer approved an older definition: the upstream's now differs.
    const approved = { ...def, description: "deletes one file in the sandbox" };
    snap.tools.delete_file = { pin: toolDigest(approved), definition: approved };
    writeFileSync(join(dir, "pinned.pins.json"), JSON.stringify(snap));
    let edited = text.replace(policy.pinFor("delete_file")!, toolDigest(approved));
    // A pinned tool the upstream no longer offers, and one it offers unpinned.
    edited = edited.replace(
      /\n {2}create_issue:/,
      "\n  gone_tool:\n    pin: sha256:" + "0".repeat(64) + "\n  create_issue_x:",
    );
    edited = edited.replace(/(create_issue_x:\n(?: {4}.*\n)*?) {4}pin: .*\n/, "$1");
    writeFileSync(join(dir, "pinned.yaml"), edited);

    const diff = await run("pins", "diff", "pinned.yaml", ...upstream);
    expect(diff.code, diff.err).toBe(1);
    expect(diff.out).toContain(
      `CHANGED    delete_file: pin ${toolDigest(approved)} now ${toolDigest(def)}`,
    );
    expect(diff.out).toContain('description: "deletes one file in the sandbox" -> "deletes"');
    expect(diff.out).toContain("missing    gone_tool (pinned, not offered upstream)");
    expect(diff.out).toMatch(/unpinned {3}create_issue sha256:/);

    const json = await run("pins", "diff", "pinned.yaml", "--json", ...upstream);
    const report = JSON.parse(json.out);
    expect(report.tools.find((t: { tool: string }) => t.tool === "delete_file").changes).toEqual([
      {
        path: "description",
        kind: "changed",
        before: '"deletes one file in the sandbox"',
        after: '"deletes"',
      },
    ]);

    // explain shows the pin and the pin settings.
    const ex = await run("explain", "pinned.yaml", "--tool", "delete_file");
    expect(ex.out).toContain(`pin:      ${toolDigest(approved)} (pins enforce, on mismatch hide)`);
  }, 30_000);

  it("names bad usage", async () => {
    expect((await run("pins")).code).toBe(2);
    expect((await run("pins", "frob")).err).toContain('unknown subcommand "frob"');
    expect((await run("pins", "diff")).err).toContain("give a policy file");
    expect((await run("pins", "diff", "p.yaml", "ftp://x")).err).toContain("http(s) URL");
  });
});
