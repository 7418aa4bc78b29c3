import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compilePolicy, createPolicyEngine, parsePolicyText } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli.js";
import { classifyTool } from "../src/scan.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { API_KEY, startTestGateway, type TestGateway, TSX_IMPORT } from "./helpers/gateway.js";
import { CapturedIo } from "./helpers/io.js";

const dir = mkdtempSync(join(tmpdir(), "toolgate-cli-"));
const policies = new URL("../policies/", import.meta.url).pathname;

async function run(...argv: string[]) {
  const io = new CapturedIo(dir);
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

describe("toolgate validate", () => {
  it("accepts the shipped policies", async () => {
    for (const f of [
      "default.json",
      "binance-us-create-listen-key.json",
      "binance-us-keepalive-listen-key.json",
    ]) {
      const r = await run("validate", join(policies, f));
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain("is valid");
    }
  });

  it("lists every error by path and exits 1", async () => {
    writeFileSync(
      join(dir, "bad.yaml"),
      'version: "1"\ndefault: sometimes\ntools:\n  x:\n    limits: [{ counter: c, window: fortnight, max: -1, scope: grant }]\n',
    );
    const r = await run("validate", "bad.yaml");
    expect(r.code).toBe(1);
    expect(r.err).toContain("default");
    expect(r.err).toContain("tools.x.limits[0].window");
    expect(r.err).toContain("tools.x.limits[0].max");
    expect(r.err).toContain("fix:");
    expect((await run("validate", "missing.yaml")).code).toBe(1);
    expect((await run("validate")).code).toBe(2);
    expect((await run("validate", "--bogus", "x")).code).toBe(2);
    expect((await run("validate", "--help")).out).toContain("Usage: toolgate validate");
    expect((await run("nonsense")).code).toBe(2);
  });
});

describe("toolgate test", () => {
  it("prints a pass/fail table and exits by the result", async () => {
    writeFileSync(
      join(dir, "cases.yaml"),
      [
        "grant: demo",
        "cases:",
        "  - { name: ten creates pass, tool: binance_us_create_listen_key, repeat: 10, expect: { effect: allow } }",
        "  - { name: the 11th is limited, tool: binance_us_create_listen_key, expect: { effect: deny, code: RATE_LIMITED } }",
        "  - { name: keepalive allowed, tool: binance_us_keepalive_listen_key, args: { listenKey: k }, expect: { effect: allow } }",
        "  - { name: others denied, tool: binance_us_close_listen_key, expect: { effect: deny, code: DEFAULT_DENY } }",
      ].join("\n"),
    );
    const ok = await run("test", join(policies, "default.json"), "cases.yaml");
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/PASS the 11th is limited/);
    expect(ok.out).toContain("4 passed, 0 failed, 4 total");

    writeFileSync(
      join(dir, "wrong.yaml"),
      "cases:\n  - { name: expects allow, tool: anything_else, expect: { effect: allow } }\n",
    );
    const bad = await run("test", join(policies, "default.json"), "wrong.yaml");
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/FAIL expects allow .*expected "allow", got "deny"/);

    writeFileSync(join(dir, "malformed.yaml"), "cases:\n  - { tool: x }\n");
    const malformed = await run("test", join(policies, "default.json"), "malformed.yaml");
    expect(malformed.code).toBe(1);
    expect(malformed.err).toContain("cases[0]");
    expect((await run("test", "only-one.yaml")).code).toBe(2);
  });
});

describe("toolgate explain", () => {
  it("names the deciding rule and the trace", async () => {
    const r = await run(
      "explain",
      join(policies, "default.json"),
      "--tool",
      "binance_us_create_listen_key",
      "--grant",
      "demo",
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("effect:   allow");
    expect(r.out).toContain("binance_us_create_listen_key_rate 10 per 60s");
    expect(r.out).toContain("trace:");
    const denied = await run(
      "explain",
      join(policies, "default.json"),
      "--tool",
      "withdraw",
      "--args",
      '{"amount":1}',
    );
    expect(denied.out).toContain("effect:   deny (DEFAULT_DENY)");
    expect(denied.out).toContain("rule:     default");
    const json = await run(
      "explain",
      join(policies, "default.json"),
      "--tool",
      "withdraw",
      "--json",
    );
    expect(JSON.parse(json.out).verdict.effect).toBe("deny");
    expect((await run("explain", join(policies, "default.json"))).err).toContain(
      "--tool is required",
    );
    expect(
      (await run("explain", join(policies, "default.json"), "--tool", "x", "--args", "[1]")).code,
    ).toBe(2);
    expect(
      (await run("explain", join(policies, "default.json"), "--tool", "x", "--args", "{nope")).code,
    ).toBe(2);
  });
});

describe("toolgate scan", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      config: `grants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: allow.yaml } }\nupstreams: []\n`,
      files: { "allow.yaml": 'version: "1"\ndefault: allow\n' },
      extraUpstreams: [{ name: "fake", server: fakeUpstream() }],
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it("classifies by annotations first, then by name", () => {
    expect(classifyTool({ name: "get_balance" }).verdict).toBe("allow");
    expect(classifyTool({ name: "listOrders" }).verdict).toBe("allow");
    expect(classifyTool({ name: "withdraw_funds" }).verdict).toBe("approve");
    expect(classifyTool({ name: "createOrder" }).verdict).toBe("approve");
    expect(classifyTool({ name: "create_issue" }).verdict).toBe("limit");
    expect(classifyTool({ name: "frobnicate" }).verdict).toBe("limit");
    expect(classifyTool({ name: "frobnicate", annotations: { readOnlyHint: true } }).verdict).toBe(
      "allow",
    );
    expect(classifyTool({ name: "get_x", annotations: { destructiveHint: true } }).verdict).toBe(
      "approve",
    );
    expect(classifyTool({ name: "search_web", annotations: { openWorldHint: true } }).verdict).toBe(
      "limit",
    );
  });

  it("writes a valid starter policy for an HTTP upstream", async () => {
    const r = await run(
      "scan",
      t.gw.mcpUrl,
      "--header",
      `Authorization: Bearer ${API_KEY}`,
      "--out",
      "starter.yaml",
    );
    expect(r.code, r.err).toBe(0);
    const text = readFileSync(join(dir, "starter.yaml"), "utf8");
    expect(text).toContain('# approve (high risk, money): name says "transfer": it moves money');
    const policy = compilePolicy(parsePolicyText(text, { format: "yaml" }));
    const engine = createPolicyEngine({});
    const id = { grant: "g" };
    expect(engine.evaluate(policy, { name: "get_time" }, id).effect).toBe("allow");
    expect(engine.evaluate(policy, { name: "transfer_funds" }, id).effect).toBe("require_approval");
    expect(
      engine.evaluate(policy, { name: "binance_us_create_listen_key" }, id).counters,
    ).toHaveLength(1);
    expect(engine.evaluate(policy, { name: "not_listed" }, id).effect).toBe("deny");
    expect((await run("validate", "starter.yaml")).code).toBe(0);
  });

  it("scans a stdio command and reports bad inputs", async () => {
    const script = new URL("./helpers/stdio-server.ts", import.meta.url).pathname;
    const r = await run("scan", "--", process.execPath, ...TSX_IMPORT, script);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/# allow \(low risk, read\): .*readOnlyHint: true.*\n {2}list_files:/);
    expect(r.out).toMatch(
      /# approve \(high risk, destructive\): name says "delete".*\n {2}delete_file:/,
    );
    expect(r.out).toMatch(
      /# approve \(high risk, destructive\): annotated destructiveHint: true.*\n {2}rename_thing:/,
    );
    expect(r.out).toMatch(/# limit \(medium risk, write\): .*\n {2}create_issue:/);

    const unauthorized = await run("scan", t.gw.mcpUrl, "--timeout", "3000");
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.err).toContain("could not list the tools");
    expect(unauthorized.err).toContain('add --header "Authorization: Bearer <key>"');
    expect((await run("scan", "not-a-url")).err).toContain("not an http(s) URL");
    expect((await run("scan", "http://x", "--header", "nocolon")).code).toBe(2);
    expect((await run("scan")).code).toBe(2);
    const refused = await run("scan", "http://127.0.0.1:9/mcp", "--timeout", "2000");
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("is the server running");
  }, 20_000);
});
