// The policy file replaced with garbage, again and again, then fixed, while one client
// keeps calling through the real gateway process. Every decision must come from the
// last good policy or the fixed one (the audit log says which, call by call), each bad
// version must be logged with the file's name, the fix must apply to the next calls,
// and the process must live through all of it.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
  connectClient,
  endSession,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  readJsonLines,
  startFixtureUpstream,
  startGateway,
  waitFor,
} from "../src/processes.js";

/** The last good policy: `work` allowed, `echo` denied by default. */
const GOOD = 'version: "1"\ndefault: deny\ntools:\n  work: {}\n';
/** The fix: `echo` allowed as well, so every echo call shows which policy decided it. */
const FIXED = [
  'version: "1"',
  "default: deny",
  "tools:",
  "  work: {}",
  "  echo: { action: allow, reason: echo is harmless }",
  "",
].join("\n");

/** Garbage, each kind a writer or an editor can leave behind. */
const GARBAGE: Array<[string, string]> = [
  ["invalid YAML", 'version: "1"\ndefault: deny\ntools:\n  work: { limits: [\n'],
  ["valid YAML, wrong schema", 'version: "1"\ndefault: maybe\ntools:\n  echo: { action: yes }\n'],
  ["empty file", ""],
  ["not a policy at all", "- just\n- a list\n"],
  // The fix cut off mid-line, as a slow writer leaves it between two writes.
  ["partially written", FIXED.slice(0, FIXED.indexOf("action:") + 4)],
];

interface Call {
  tool: "work" | "echo";
  ok: boolean;
  text: string;
}

describe("policy file replaced with garbage, then fixed, while calls flow", () => {
  let up: FixtureUpstream;
  let gw: GatewayProcess;
  let policyFile: string;
  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "reload-up" });
    gw = await startGateway({
      name: "reload-gw",
      config: [
        ...fixtureConfigLines(up.url),
        "audit: { path: audit.jsonl }",
        "watchDebounceMs: 50",
      ].join("\n"),
      files: { "policy.yaml": GOOD },
    });
    policyFile = join(gw.dir, "policy.yaml");
  });
  afterAll(async () => {
    await gw?.stop();
    await up?.stop();
    expectNoSecrets(gw.dir);
  });

  const count = (re: RegExp) => gw.output().match(new RegExp(re.source, "g"))?.length ?? 0;

  it("decides every call by the last good policy or the fix, logs each bad file, applies the fix", async () => {
    const client: Client = await connectClient(gw.mcpUrl);
    const calls: Call[] = [];
    let stop = false;
    let n = 0;
    const one = async (tool: Call["tool"]) => {
      const args = tool === "work" ? { id: `r${n}` } : { text: `e${n}` };
      n++;
      const r = await client.callTool({ name: tool, arguments: args });
      const text = (r.content as Array<{ text?: string }>).map((c) => c.text ?? "").join("");
      if (r.isError) recordClientText(`policy-reload ${tool}`, text);
      calls.push({ tool, ok: !r.isError, text });
    };
    // One client calling without pause for the whole test; calls are sequential, so the
    // audit log lists their decisions in the same order.
    const flow = (async () => {
      while (!stop) {
        await one("work");
        await one("echo");
      }
    })();
    const progressed = async (what: string) => {
      const seen = calls.length;
      await waitFor(`calls to flow ${what}`, () => calls.length >= seen + 4, 15_000);
    };

    await progressed("at start");
    for (const [kind, text] of GARBAGE) {
      const before = count(/policy change rejected/);
      writeFileSync(policyFile, text);
      await waitFor(
        `the ${kind} policy to be rejected`,
        () => count(/policy change rejected/) > before,
      );
      await progressed(`after the ${kind} policy`);
      expect(gw.child.exitCode, kind).toBeNull();
    }
    // Every rejection names the file it refused.
    const rejections = gw
      .output()
      .split("\n")
      .filter((l) => l.includes("policy change rejected"));
    expect(rejections.length).toBeGreaterThanOrEqual(GARBAGE.length);
    for (const line of rejections) expect(line).toContain("policy.yaml");
    // Garbage never replaced the good policy: echo is still denied by it.
    expect(calls.filter((c) => c.tool === "echo").every((c) => !c.ok)).toBe(true);

    writeFileSync(policyFile, FIXED);
    await waitFor("the fixed policy to load", () => /policy reloaded/.test(gw.output()));
    // The fix applies to the next calls (the flow may have one call in flight from before).
    const atFix = calls.length;
    await waitFor("echo allowed under the fix", () =>
      calls.slice(atFix + 2).some((c) => c.tool === "echo" && c.ok),
    );
    stop = true;
    await flow;
    for (const c of calls.slice(atFix + 2))
      expect(c, JSON.stringify(c)).toMatchObject({ ok: true });
    await endSession(client);

    // Call by call, the audit log says which policy decided: only the good one, then
    // only the fix, never a third.
    const audit = readJsonLines<{ tool: string; effect: string; policyVersion: string }>(
      join(gw.dir, "audit.jsonl"),
    );
    expect(audit).toHaveLength(calls.length);
    const versions = [...new Set(audit.map((a) => a.policyVersion))];
    expect(versions).toHaveLength(2);
    const [good, fixed] = versions;
    const firstFixed = audit.findIndex((a) => a.policyVersion === fixed);
    expect(audit.slice(firstFixed).every((a) => a.policyVersion === fixed)).toBe(true);
    audit.forEach((a, i) => {
      const c = calls[i] as Call;
      expect(a.tool).toBe(c.tool);
      const allowed = c.tool === "work" || a.policyVersion === fixed;
      expect({ i, ok: c.ok, effect: a.effect }).toEqual({
        i,
        ok: allowed,
        effect: allowed ? "allow" : "deny",
      });
    });
    expect(good).toMatch(/^sha256:/);
    expect(firstFixed).toBeGreaterThan(0);

    // The process lived through it and still answers.
    expect(gw.child.exitCode).toBeNull();
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    expect(await gw.stop()).toBe(0);
  });
});
