/**
 * Pinned tool definitions and result policies against the real gateway process
 * (`toolgate serve`): a fixture upstream changes a tool's definition mid-session and
 * returns secrets in text, structured content, an embedded resource and progress.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  type CallToolResult,
  LoggingMessageNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { toolDigest } from "@toolgate/policy-engine";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { listUpstreamTools } from "../src/scan.js";
import { findChromium, launchChromium } from "./helpers/chromium.js";
import { TSX_IMPORT, textOf } from "./helpers/gateway.js";
import {
  type GuardrailUpstream,
  SECRETS,
  startGuardrailUpstream,
} from "./helpers/guardrail-upstream.js";

const chromiumPath = findChromium();
const KEY = "guardrails-key-0123456789";
const ADMIN = "guardrails-admin-0123456789";
const REDACT = "[bearer, jwt, binance_listen_key, card_number, private_key]";

interface Gateway {
  child: ChildProcess;
  url: string;
  dir: string;
  stop(): Promise<void>;
}

/** Starts `toolgate serve` in `dir` (its config and policy already written there). */
async function startGatewayProcess(dir: string): Promise<Gateway> {
  const bin = new URL("../src/bin.ts", import.meta.url).pathname;
  const child = spawn(process.execPath, [...TSX_IMPORT, bin, "serve"], {
    cwd: dir,
    env: {
      ...process.env,
      PORT: "0",
      TOOLGATE_API_KEY: KEY,
      TOOLGATE_ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => {
    out += String(d);
  });
  child.stderr?.on("data", (d) => {
    err += String(d);
  });
  for (let i = 0; i < 600 && !out.includes("Try it"); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = /MCP endpoint\s+(http:\/\/\S+)\/mcp/.exec(out);
  if (!m) throw new Error(`gateway did not start:\n${out}\n${err}`);
  return {
    child,
    url: m[1] as string,
    dir,
    stop: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        child.once("exit", () => r());
        child.kill("SIGTERM");
      }),
  };
}

/** A folder with a config naming the fixture upstream and `policy.yaml`. */
function writeSetup(upstream: string, policy: string, extra: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "toolgate-guardrails-"));
  writeFileSync(join(dir, "policy.yaml"), policy);
  writeFileSync(
    join(dir, "toolgate.config.yaml"),
    [
      "grants:",
      `  demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.yaml }`,
      "upstreams:",
      `  - { name: fixture, url: "${upstream}" }`,
      "audit: { path: audit.jsonl }",
      ...extra,
    ].join("\n"),
  );
  return dir;
}

/** An SDK client on a gateway, counting the tools/list_changed events it hears. */
async function connect(url: string): Promise<{ client: Client; changes: { n: number } }> {
  const client = new Client({ name: "guardrails-e2e", version: "1.0.0" });
  const changes = { n: 0 };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    changes.n++;
  });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${KEY}` } },
    }),
  );
  return { client, changes };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name).sort();

function auditLines(dir: string): Array<Record<string, unknown>> {
  return readFileSync(join(dir, "audit.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function adminGet(g: Gateway, path: string): Promise<unknown> {
  const r = await fetch(`${g.url}${path}`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  return path === "/metrics" ? r.text() : r.json();
}

/** The digest `toolgate scan --pin` writes for the fixture's `place_order` as it is now. */
async function currentPin(upstream: GuardrailUpstream): Promise<string> {
  const tools = await listUpstreamTools({ kind: "http", url: upstream.url });
  return toolDigest(tools.find((t) => t.name === "place_order")!);
}

describe("pins and result policies, enforced, on the real gateway process", () => {
  let upstream: GuardrailUpstream;
  let gw: Gateway;
  let pin: string;
  const clients: Client[] = [];
  beforeAll(async () => {
    upstream = await startGuardrailUpstream();
    pin = await currentPin(upstream);
    const policy = [
      'version: "1"',
      "default: allow",
      "pins: { mode: enforce, on_mismatch: hide }",
      "tools:",
      `  place_order: { pin: "${pin}" }`,
      `  account_snapshot: { results: { redact: ${REDACT} } }`,
    ].join("\n");
    gw = await startGatewayProcess(writeSetup(upstream.url, policy));
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw?.stop();
    await upstream?.close();
  });

  it("hides a tool whose definition changed mid-session and denies its calls clearly", async () => {
    const { client, changes } = await connect(gw.url);
    clients.push(client);
    expect(await names(client)).toEqual(["account_snapshot", "echo", "place_order"]);
    const ok = await client.callTool({ name: "place_order", arguments: { qty: 2 } });
    expect(textOf(ok)).toBe("ordered 2");

    upstream.change(); // the upstream sends list_changed on the session
    await until(() => changes.n >= 1);
    expect(await names(client)).toEqual(["account_snapshot", "echo"]);
    const denied = (await client.callTool({
      name: "place_order",
      arguments: { qty: 2 },
    })) as CallToolResult;
    expect(denied.isError).toBe(true);
    expect(textOf(denied)).toBe("denied by policy: tool definition changed since it was approved");
    expect(denied._meta?.["toolgate/decision"]).toMatchObject({
      effect: "deny",
      code: "PIN_MISMATCH",
      ruleId: "pins",
      tool: "place_order",
    });
    // A new session meets the changed tool at its first list: hidden as well.
    const fresh = await connect(gw.url);
    clients.push(fresh.client);
    expect(await names(fresh.client)).toEqual(["account_snapshot", "echo"]);
    // The other tools are untouched.
    expect(textOf(await client.callTool({ name: "echo", arguments: { text: "hi" } }))).toBe("hi");

    // Audit: one definition record with both digests; the denied call carries them too.
    const audit = auditLines(gw.dir);
    const changed = audit.filter((l) => l.event === "tool_definition_changed");
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({
      tool: "place_order",
      upstream: "fixture",
      oldDigest: pin,
      action: "hide",
      mode: "enforce",
      shadow: false,
    });
    expect(changed[0]?.newDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(changed[0]?.newDigest).not.toBe(pin);
    expect(changed[0]?.changed).toEqual(
      expect.arrayContaining(["description", "inputSchema.properties.qty.maximum"]),
    );
    const call = audit.filter((l) => l.tool === "place_order" && l.code === "PIN_MISMATCH");
    expect(call.at(-1)).toMatchObject({
      effect: "deny",
      outcome: "denied",
      pin: { expected: pin, actual: changed[0]?.newDigest, action: "hide" },
    });

    // Metrics and the admin page.
    const metrics = (await adminGet(gw, "/metrics")) as string;
    expect(metrics).toMatch(
      /toolgate_pin_mismatches_total\{upstream="fixture",tool="place_order",action="hide",mode="enforce"\} 1/,
    );
    const page = (await adminGet(gw, "/admin/api/guardrails")) as {
      recent: Array<{ kind: string; tool: string; summary: string; oldDigest?: string }>;
    };
    expect(page.recent.find((l) => l.kind === "pin_mismatch")).toMatchObject({
      tool: "place_order",
      oldDigest: pin,
      summary: expect.stringMatching(/changed since it was approved: hidden and denied/),
    });
  }, 30_000);

  it.skipIf(!chromiumPath)(
    "shows the changed definition on the approvals page",
    async () => {
      // Runs after the test above, which changed place_order on this gateway.
      const browser = await launchChromium(chromiumPath as string);
      try {
        const page = await browser.newPage();
        await page.goto(`${gw.url}/admin?token=${ADMIN}`);
        const line = page.locator('#guardrails [data-guardrail="pin_mismatch"]');
        await line.first().waitFor();
        const text = (await line.first().textContent()) ?? "";
        expect(text).toContain("place_order");
        expect(text).toContain("hidden and denied");
        expect(text).toContain(pin.slice(0, 15));
        expect(text).toMatch(/changed: description, inputSchema\.properties\.qty\.maximum/);
      } finally {
        await browser.close();
      }
    },
    30_000,
  );

  it("redacts every secret consistently in text, structured content, resource and progress", async () => {
    const { client } = await connect(gw.url);
    clients.push(client);
    const progress: string[] = [];
    const r = (await client.callTool({ name: "account_snapshot", arguments: {} }, undefined, {
      onprogress: (p) => progress.push(String(p.message)),
    })) as CallToolResult;
    const all = JSON.stringify({ r, progress });
    for (const s of Object.values(SECRETS)) expect(all).not.toContain(s);
    expect(r.structuredContent).toEqual({
      listenKey: "[REDACTED:binance_listen_key]",
      session: "[REDACTED:jwt]",
      card: "[REDACTED:card_number]",
      owner: "test-account",
    });
    expect((r.content[0] as { text: string }).text).toBe(
      "listenKey=[REDACTED:binance_listen_key]\nAuthorization: Bearer [REDACTED:bearer]\ncard [REDACTED:card_number]",
    );
    const resource = (r.content[1] as { resource: { text: string } }).resource.text;
    expect(resource).toBe("[REDACTED:private_key]\nsession [REDACTED:jwt]");
    expect(progress).toEqual(["using Bearer [REDACTED:bearer]", "session [REDACTED:jwt]"]);

    // The audit record says how many, per detector, never what.
    const record = auditLines(gw.dir)
      .filter((l) => l.tool === "account_snapshot")
      .at(-1);
    expect(record?.result).toEqual({
      ruleId: "tools.account_snapshot.results",
      action: "redacted",
      redactions: { binance_listen_key: 2, bearer: 1, card_number: 2, private_key: 1, jwt: 2 },
      progressRedactions: { bearer: 1, jwt: 1 },
      bytesIn: expect.any(Number),
      bytesOut: expect.any(Number),
    });
    const file = readFileSync(join(gw.dir, "audit.jsonl"), "utf8");
    for (const s of Object.values(SECRETS)) expect(file).not.toContain(s);
    for (const s of Object.values(SECRETS)) expect(file).not.toContain(s.slice(0, 24));

    const metrics = (await adminGet(gw, "/metrics")) as string;
    expect(metrics).toMatch(
      /toolgate_result_redactions_total\{tool="account_snapshot",detector="jwt",where="result"\} 2/,
    );
    expect(metrics).toMatch(
      /toolgate_result_redactions_total\{tool="account_snapshot",detector="bearer",where="progress"\} 1/,
    );
    expect(metrics).toMatch(
      /toolgate_result_actions_total\{tool="account_snapshot",action="redacted"\} 1/,
    );
  }, 30_000);
});

describe("pins checked at start-up, before any agent connects, on the real gateway process", () => {
  let upstream: GuardrailUpstream;
  let gw: Gateway;
  let pin: string;
  const clients: Client[] = [];
  beforeAll(async () => {
    upstream = await startGuardrailUpstream();
    pin = await currentPin(upstream);
    // Changed while the gateway was down: it must notice at start-up, not at a first list.
    upstream.change();
    const policy = [
      'version: "1"',
      "default: allow",
      "tools:",
      `  place_order: { pin: "${pin}" }`,
    ].join("\n");
    gw = await startGatewayProcess(writeSetup(upstream.url, policy));
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw?.stop();
    await upstream?.close();
  });

  it("reports the changed definition in the audit, the metrics and the admin page with no session", async () => {
    // No MCP client has connected yet: every finding below comes from the start-up probe.
    const changed = auditLines(gw.dir).filter((l) => l.event === "tool_definition_changed");
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({
      tool: "place_order",
      upstream: "fixture",
      oldDigest: pin,
      action: "hide",
      mode: "enforce",
      grant: "demo",
    });
    expect(changed[0]?.newDigest).not.toBe(pin);
    const metrics = (await adminGet(gw, "/metrics")) as string;
    expect(metrics).toMatch(
      /toolgate_pin_mismatches_total\{upstream="fixture",tool="place_order",action="hide",mode="enforce"\} 1/,
    );
    const page = (await adminGet(gw, "/admin/api/guardrails")) as {
      recent: Array<{ kind: string; tool: string }>;
    };
    expect(page.recent.find((l) => l.kind === "pin_mismatch")).toMatchObject({
      tool: "place_order",
    });
    // The first agent meets the tool hidden; the finding is not reported twice.
    const { client } = await connect(gw.url);
    clients.push(client);
    expect(await names(client)).toEqual(["account_snapshot", "echo"]);
    expect(auditLines(gw.dir).filter((l) => l.event === "tool_definition_changed")).toHaveLength(1);
  }, 30_000);
});

describe("result policies on log notifications and resources/read, on the real gateway process", () => {
  let upstream: GuardrailUpstream;
  let gw: Gateway;
  const clients: Client[] = [];
  beforeAll(async () => {
    upstream = await startGuardrailUpstream({ logs: true });
    const policy = [
      'version: "1"',
      "default: allow",
      "tools:",
      `  account_snapshot: { results: { redact: ${REDACT} } }`,
      "resources:",
      `  "memory://account/*": { results: { redact: ${REDACT} } }`,
    ].join("\n");
    gw = await startGatewayProcess(writeSetup(upstream.url, policy));
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw?.stop();
    await upstream?.close();
  });

  it("no secret of a log notification or a resource reaches the client or the audit", async () => {
    const { client } = await connect(gw.url);
    clients.push(client);
    const logs: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params);
    });
    await client.callTool({ name: "account_snapshot", arguments: {} });
    await until(() => logs.length >= 2);
    expect(logs).toEqual([
      { level: "info", data: "stream open, listenKey=[REDACTED:binance_listen_key]" },
      { level: "debug", data: { session: "[REDACTED:jwt]", card: "[REDACTED:card_number]" } },
    ]);
    const read = await client.readResource({ uri: "memory://account/keys" });
    expect((read.contents[0] as { text: string }).text).toBe(
      "listenKey=[REDACTED:binance_listen_key]\n[REDACTED:private_key]",
    );
    const seen = JSON.stringify({ logs, read });
    for (const s of Object.values(SECRETS)) expect(seen).not.toContain(s);

    const audit = auditLines(gw.dir);
    expect(audit.filter((l) => l.tool === "account_snapshot").at(-1)?.result).toMatchObject({
      logRedactions: { binance_listen_key: 1, jwt: 1, card_number: 1 },
    });
    expect(audit.find((l) => l.event === "resource_result")).toMatchObject({
      grant: "demo",
      result: {
        ruleId: 'resources."memory://account/*".results',
        action: "redacted",
        redactions: { binance_listen_key: 1, private_key: 1 },
      },
    });
    const file = readFileSync(join(gw.dir, "audit.jsonl"), "utf8");
    for (const s of Object.values(SECRETS)) expect(file).not.toContain(s);
    for (const s of Object.values(SECRETS)) expect(file).not.toContain(s.slice(0, 24));
    const metrics = (await adminGet(gw, "/metrics")) as string;
    expect(metrics).toMatch(
      /toolgate_result_redactions_total\{tool="account_snapshot",detector="jwt",where="log"\} 1/,
    );
    expect(metrics).toMatch(
      /toolgate_result_redactions_total\{tool="resource",detector="private_key",where="resource"\} 1/,
    );
  }, 30_000);
});

describe("shadow mode on the real gateway process: only reports", () => {
  let upstream: GuardrailUpstream;
  let gw: Gateway;
  const clients: Client[] = [];
  beforeAll(async () => {
    upstream = await startGuardrailUpstream();
    const pin = await currentPin(upstream);
    const policy = [
      'version: "1"',
      "default: allow",
      "pins: { mode: shadow }",
      "tools:",
      `  place_order: { pin: "${pin}" }`,
      `  account_snapshot: { mode: shadow, results: { redact: ${REDACT} } }`,
    ].join("\n");
    gw = await startGatewayProcess(writeSetup(upstream.url, policy));
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw?.stop();
    await upstream?.close();
  });

  it("keeps the changed tool and the secrets, and audits what enforce would have done", async () => {
    const { client } = await connect(gw.url);
    clients.push(client);
    await names(client);
    upstream.change();
    await until(() => auditLines(gw.dir).some((l) => l.event === "tool_definition_changed"));
    expect(await names(client)).toEqual(["account_snapshot", "echo", "place_order"]);
    expect(textOf(await client.callTool({ name: "place_order", arguments: { qty: 3 } }))).toBe(
      "ordered 3",
    );
    const r = await client.callTool({ name: "account_snapshot", arguments: {} });
    expect(JSON.stringify(r)).toContain(SECRETS.listenKey); // delivered as it was
    const audit = auditLines(gw.dir);
    expect(audit.find((l) => l.event === "tool_definition_changed")).toMatchObject({
      action: "report",
      shadow: true,
      mode: "shadow",
    });
    expect(audit.filter((l) => l.tool === "place_order").at(-1)).toMatchObject({
      effect: "allow",
      outcome: "forwarded",
      shadow: true,
      shadowEffect: "deny",
      pin: { action: "report", shadow: true },
    });
    expect(audit.filter((l) => l.tool === "account_snapshot").at(-1)?.result).toMatchObject({
      action: "pass",
      shadowAction: "redacted",
      redactions: { binance_listen_key: 2, jwt: 2 },
    });
    const file = readFileSync(join(gw.dir, "audit.jsonl"), "utf8");
    for (const s of Object.values(SECRETS)) expect(file).not.toContain(s);
    const metrics = (await adminGet(gw, "/metrics")) as string;
    expect(metrics).toMatch(
      /toolgate_pin_mismatches_total\{[^}]*action="report",mode="shadow"\} 1/,
    );
    expect(metrics).toMatch(
      /toolgate_result_actions_total\{tool="account_snapshot",action="shadow_redacted"\} 1/,
    );
  }, 30_000);
});

describe("on_mismatch: approval on the real gateway process", () => {
  let upstream: GuardrailUpstream;
  let gw: Gateway;
  const clients: Client[] = [];
  beforeAll(async () => {
    upstream = await startGuardrailUpstream();
    const pin = await currentPin(upstream);
    const policy = [
      'version: "1"',
      "default: allow",
      "pins: { on_mismatch: approval }",
      "tools:",
      `  place_order: { pin: "${pin}" }`,
    ].join("\n");
    gw = await startGatewayProcess(writeSetup(upstream.url, policy));
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw?.stop();
    await upstream?.close();
  });

  it("holds calls of the changed tool for a person, saying why", async () => {
    const { client } = await connect(gw.url);
    clients.push(client);
    upstream.change();
    // Still listed: only its calls are held.
    expect(await names(client)).toEqual(["account_snapshot", "echo", "place_order"]);
    const held = client.callTool({ name: "place_order", arguments: { qty: 5 } });
    type Pending = { id: string; tool: string; reason: string };
    let pending: Pending[] = [];
    await until(async () => {
      pending = ((await adminGet(gw, "/admin/api/approvals")) as { pending: Pending[] }).pending;
      return pending.length > 0;
    });
    expect(pending[0]).toMatchObject({
      tool: "place_order",
      reason: "tool definition changed since it was approved; a person must approve the call",
    });
    const r = await fetch(`${gw.url}/admin/api/approvals/${pending[0]?.id}/reject`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ reason: "new definition not reviewed" }),
    });
    expect(r.status).toBe(200);
    expect(textOf(await held)).toBe(
      "denied by policy: approval rejected: new definition not reviewed",
    );
    const record = auditLines(gw.dir)
      .filter((l) => l.tool === "place_order")
      .at(-1);
    expect(record).toMatchObject({
      effect: "require_approval",
      code: "PIN_MISMATCH",
      outcome: "approval_rejected",
      approver: "admin",
      pin: { action: "approval" },
    });
  }, 30_000);
});

describe("trust on first use across two gateway processes on one Redis", () => {
  let upstream: GuardrailUpstream;
  const gws: Gateway[] = [];
  const clients: Client[] = [];
  let prefix: string;
  beforeAll(async () => {
    upstream = await startGuardrailUpstream();
    prefix = `tg-pins-${process.pid}-${Date.now()}:`;
    const policy = ['version: "1"', "default: allow", "pins: { mode: trust_on_first_use }"].join(
      "\n",
    );
    const store = [`store: "${inject("redisUrl")}/0?prefix=${prefix}"`];
    const a = writeSetup(upstream.url, policy, store);
    const b = writeSetup(upstream.url, policy, store);
    // One after the other: each checks the upstream's tools at start-up, so A is first.
    gws.push(await startGatewayProcess(a));
    gws.push(await startGatewayProcess(b));
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.all(gws.map((g) => g.stop()));
    await upstream?.close();
  });

  it("the second gateway holds a tool to the digest the first one saw first", async () => {
    const [a, b] = gws as [Gateway, Gateway];
    const first = await connect(a.url);
    clients.push(first.client);
    // Gateway A met place_order first (at its start-up) and recorded its digest in Redis.
    expect(await names(first.client)).toEqual(["account_snapshot", "echo", "place_order"]);
    const redis = new Redis(inject("redisUrl"));
    try {
      const keys = await redis.keys(`${prefix}pins:first-seen:*`);
      expect(keys).toHaveLength(3);
      const v1 = await currentPin(upstream);
      expect(await Promise.all(keys.map((k) => redis.get(k)))).toContain(v1);

      upstream.change();
      await until(() => first.changes.n >= 1);
      // Gateway B never saw v1; on its own it would trust v2. On Redis it does not.
      const second = await connect(b.url);
      clients.push(second.client);
      expect(await names(second.client)).toEqual(["account_snapshot", "echo"]);
      const denied = await second.client.callTool({ name: "place_order", arguments: { qty: 1 } });
      expect(textOf(denied)).toBe(
        "denied by policy: tool definition changed since it was approved",
      );
      expect(await names(first.client)).toEqual(["account_snapshot", "echo"]);
      // Nothing new was trusted: still the three first digests.
      expect(await redis.keys(`${prefix}pins:first-seen:*`)).toHaveLength(3);
      expect(auditLines(b.dir).find((l) => l.event === "tool_definition_changed")).toMatchObject({
        tool: "place_order",
        oldDigest: v1,
        mode: "trust_on_first_use",
        action: "hide",
      });
      expect(auditLines(a.dir).filter((l) => l.event === "tool_definition_trusted")).toHaveLength(
        3,
      );
      expect(auditLines(b.dir).filter((l) => l.event === "tool_definition_trusted")).toHaveLength(
        0,
      );
    } finally {
      redis.disconnect();
    }
  }, 30_000);
});
