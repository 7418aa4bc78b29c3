import { readFileSync, writeFileSync } from "node:fs";
import { Agent as HttpAgent, get as httpGet } from "node:http";
import { join } from "node:path";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway, textOf } from "./helpers/gateway.js";

const POLICY = `version: "1"
default: deny
tools:
  binance_us_create_listen_key:
    limits: [{ counter: create_rate, window: minute, max: 2, scope: grant }]
  get_time: { action: allow }
  transfer_funds: { action: require_approval, reason: "moving money needs a person" }
`;

const CONFIG = `
upstreams: []
grants:
  demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.yaml }
approvals: { timeoutMs: 60000 }
watchDebounceMs: 20
`;

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function start(policy = POLICY, config = CONFIG) {
  const calls: string[] = [];
  t = await startTestGateway({
    config,
    files: { "policy.yaml": policy },
    extraUpstreams: [{ name: "fake", server: fakeUpstream(calls) }],
  });
  return { t, calls };
}

// biome-ignore lint/suspicious/noExplicitAny: JSON from our own API, asserted field by field
const json = async (r: Response | Promise<Response>): Promise<any> => (await r).json();

const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${t?.gw.url}/admin/api${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
  });

async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("gateway", () => {
  it("enforces the policy, filters tools/list, audits without values and counts metrics", async () => {
    const { t, calls } = await start();
    const client = await t.connect();
    const tools = (await client.listTools()).tools.map((x) => x.name).sort();
    expect(tools).toEqual(["binance_us_create_listen_key", "get_time", "transfer_funds"]);
    for (let i = 0; i < 2; i++) {
      const r = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
      expect(r.isError).toBeFalsy();
    }
    const third = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    expect(third.isError).toBe(true);
    expect(textOf(third)).toMatch(/retry in \d+s/);
    const denied = await client.callTool({
      name: "binance_us_keepalive_listen_key",
      arguments: { listenKey: "secret-listen-key" },
    });
    expect(denied.isError).toBe(true);
    expect(calls).toEqual(["create", "create"]);
    const unknown = await client.callTool({ name: "no_such_tool_42", arguments: {} });
    expect(unknown.isError).toBe(true);

    const audit = readFileSync(join(t.dir, "audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(audit).toHaveLength(5);
    expect(audit[4]).toMatchObject({ tool: "no_such_tool_42", code: "DEFAULT_DENY" });
    expect(audit[2]).toMatchObject({
      grant: "demo",
      tool: "binance_us_create_listen_key",
      effect: "deny",
      code: "RATE_LIMITED",
      shadow: false,
    });
    expect(audit[3]).toMatchObject({ argumentKeys: ["listenKey"], code: "DEFAULT_DENY" });
    expect(JSON.stringify(audit)).not.toContain("secret-listen-key");

    const metrics = await (await fetch(`${t.gw.url}/metrics`)).text();
    expect(metrics).toContain(
      'toolgate_decisions_total{tool="binance_us_create_listen_key",effect="allow",code="ALLOWED"} 2',
    );
    expect(metrics).toContain(
      'toolgate_decisions_total{tool="binance_us_create_listen_key",effect="deny",code="RATE_LIMITED"} 1',
    );
    expect(metrics).toContain(
      'toolgate_decisions_total{tool="(unknown)",effect="deny",code="DEFAULT_DENY"} 1',
    );
    expect(metrics).not.toContain("no_such_tool_42");
    expect(metrics).toContain("toolgate_pending_approvals 0");
    expect(metrics).toMatch(
      /toolgate_upstream_duration_seconds_count\{upstream="fake",outcome="ok"\} 2/,
    );

    expect((await fetch(`${t.gw.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.gw.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true, store: { ok: true } });

    const counters = await json(admin("/counters"));
    expect(counters.counters).toEqual([
      expect.objectContaining({ grant: "demo", counter: "create_rate", used: 2, max: 2 }),
    ]);
    const decisions = await json(admin("/decisions"));
    expect(decisions.tallies.demo).toMatchObject({ allowed: 2, rateLimited: 1, denied: 2 });
  });

  it("answers 401 for a wrong API key and for the admin API without the token", async () => {
    const { t } = await start();
    await expect(t.connect("wrong-key-0123456789")).rejects.toThrow(/401|nauthorized/);
    expect((await fetch(`${t.gw.url}/admin/api/approvals`)).status).toBe(401);
    const bad = await fetch(`${t.gw.url}/admin/api/approvals`, {
      headers: { Authorization: "Bearer nope" },
    });
    expect(bad.status).toBe(401);
    const page = await fetch(`${t.gw.url}/admin`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Pending approvals");
  });

  it("holds a call for approval: approve forwards it, reject denies with the reason", async () => {
    const { t, calls } = await start();
    const client = await t.connect();
    const held = client.callTool({
      name: "transfer_funds",
      arguments: { amount: 5, apiSecret: "hunter2" },
    });
    const pending = await waitFor(async () => (await json(admin("/approvals"))).pending[0]);
    expect(pending).toMatchObject({
      tool: "transfer_funds",
      grant: "demo",
      reason: "moving money needs a person",
    });
    expect(pending.arguments).toEqual({ amount: 5, apiSecret: "••••••(masked: credential name)" });
    expect(pending.masked).toEqual(["args.apiSecret"]);
    expect(
      (await admin(`/approvals/${pending.id}/approve`, { method: "POST", body: "{}" })).status,
    ).toBe(200);
    const r = await held;
    expect(textOf(r)).toBe("moved 5");
    expect(calls).toEqual(["transfer:5"]);
    // Single use.
    expect(
      (await admin(`/approvals/${pending.id}/reject`, { method: "POST", body: "{}" })).status,
    ).toBe(409);
    expect((await admin("/approvals/nope/approve", { method: "POST", body: "{}" })).status).toBe(
      404,
    );
    const badBody = await admin("/approvals/nope/approve", { method: "POST", body: "{bad" });
    expect(badBody.status).toBe(400);
    expect((await json(badBody)).message).toContain('send {"reason":"..."}');

    const held2 = client.callTool({
      name: "transfer_funds",
      arguments: { amount: 7, apiSecret: "x" },
    });
    const p2 = await waitFor(async () => (await json(admin("/approvals"))).pending[0]);
    await admin(`/approvals/${p2.id}/reject`, {
      method: "POST",
      body: JSON.stringify({ reason: "not today" }),
    });
    const r2 = await held2;
    expect(r2.isError).toBe(true);
    expect(textOf(r2)).toContain("not today");
    expect(calls).toEqual(["transfer:5"]);
    const metrics = await (await fetch(`${t.gw.url}/metrics`)).text();
    expect(metrics).toContain('toolgate_approvals_total{outcome="rejected"} 1');
  });

  it("reloads a valid policy change and keeps the last good policy on an invalid one", async () => {
    const { t } = await start();
    const client = await t.connect();
    let listChanged = 0;
    const { ToolListChangedNotificationSchema } = await import(
      "@modelcontextprotocol/sdk/types.js"
    );
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      listChanged++;
    });
    const file = join(t.dir, "policy.yaml");
    writeFileSync(
      file,
      POLICY.replace("get_time: { action: allow }", "get_time: { action: deny }"),
    );
    await waitFor(async () => {
      const r = await client.callTool({ name: "get_time", arguments: {} });
      return r.isError === true ? true : undefined;
    });
    await waitFor(() => (listChanged > 0 ? true : undefined));
    expect((await client.listTools()).tools.map((x) => x.name)).not.toContain("get_time");

    writeFileSync(file, "version: '1'\ndefault: maybe\n");
    await waitFor(() =>
      t.logs.some((l) => l.includes("keeping the last good policy")) ? true : undefined,
    );
    expect(t.logs.find((l) => l.includes("keeping the last good policy"))).toContain("default");
    const still = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    expect(still.isError).toBeFalsy();
  });

  it("keeps a held call alive past the client's timeout with progress notifications", async () => {
    const { t, calls } = await start(
      POLICY,
      CONFIG.replace(
        "approvals: { timeoutMs: 60000 }",
        "approvals: { timeoutMs: 60000, progressMs: 50 }",
      ),
    );
    const client = await t.connect();
    let progress = 0;
    const held = client.callTool(
      { name: "transfer_funds", arguments: { amount: 3, apiSecret: "s" } },
      undefined,
      {
        timeout: 250,
        resetTimeoutOnProgress: true,
        onprogress: () => {
          progress++;
        },
      },
    );
    const pending = await waitFor(async () => (await json(admin("/approvals"))).pending[0]);
    // Eight progress ticks of 50 ms: the call has outlived its 250 ms client timeout.
    await waitFor(() => (progress >= 8 ? true : undefined));
    await admin(`/approvals/${pending.id}/approve`, { method: "POST", body: "{}" });
    const r = await held;
    expect(textOf(r)).toBe("moved 3");
    expect(calls).toEqual(["transfer:3"]);
    await client.close();
  });

  it("serves /mcp through the plain listener, with the same auth and the rest on Express", async () => {
    const { t } = await start();
    const listener = vi.spyOn(t.gw.mcp, "listener");
    const client = await t.connect();
    const r = await client.callTool({ name: "get_time", arguments: {} });
    expect(r.isError).toBeFalsy();
    expect(listener).toHaveBeenCalled();
    const seen = listener.mock.calls.length;
    const wrong = await fetch(`${t.gw.mcpUrl}?x=1`, {
      method: "POST",
      headers: { Authorization: "Bearer nope-nope-nope-nope", "Content-Type": "application/json" },
      body: "{}",
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toContain("Bearer");
    expect(listener.mock.calls.length).toBe(seen + 1);
    // Everything else is still Express.
    expect((await fetch(`${t.gw.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.gw.url}/admin/api/approvals`)).status).toBe(401);
    expect(listener.mock.calls.length).toBe(seen + 1);
    await client.close();
  });

  it("on close finishes in-flight calls, and refuses new work", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started = 0;
    const slow = () => {
      const server = new McpServer({ name: "slow", version: "1.0.0" });
      server.registerTool("slow_job", { description: "slow" }, async () => {
        started++;
        await gate;
        return { content: [{ type: "text", text: "finished" }] };
      });
      return server;
    };
    t = await startTestGateway({
      config: CONFIG,
      files: {
        "policy.yaml":
          'version: "1"\ndefault: deny\ntools:\n  slow_job:\n    limits: [{ counter: slow, window: hour, max: 5 }]\n',
      },
      extraUpstreams: [{ name: "slow", server: slow }],
    });
    const gw = t.gw;
    const client = await t.connect();
    const call = client.callTool({ name: "slow_job", arguments: {} });
    await waitFor(() => (started === 1 ? true : undefined));
    expect(gw.mcp.inFlight()).toBeGreaterThan(0);
    // A kept-alive connection, idle when the shutdown starts.
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    const viaAgent = (path: string) =>
      new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
        httpGet(`${gw.url}${path}`, { agent }, (res) => {
          let body = "";
          res.on("data", (c) => {
            body += String(c);
          });
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }),
          );
        }).on("error", reject);
      });
    expect((await viaAgent("/healthz")).status).toBe(200);
    const closed = gw.close();
    // Requests racing the shutdown, on a new connection or the kept-alive one, are told
    // "shutting down" (503): never a refused connection or a reset socket.
    const during = await fetch(`${gw.url}/healthz`);
    expect(during.status).toBe(503);
    expect(await during.json()).toMatchObject({ error: "shutting_down" });
    const kept = await viaAgent("/healthz");
    expect(kept).toMatchObject({ status: 503, connection: "close" });
    const mcpDuring = await fetch(gw.mcpUrl, { method: "POST", body: "{}" });
    expect(mcpDuring.status).toBe(503);
    expect(await mcpDuring.json()).toMatchObject({
      error: { message: "Service Unavailable: gateway is shutting down" },
    });
    agent.destroy();
    release();
    const r = await call;
    expect(textOf(r)).toBe("finished");
    await closed;
    // The call went through and was audited as forwarded (its reservation committed).
    const audit = readFileSync(join(t.dir, "audit.jsonl"), "utf8").trim().split("\n");
    expect(JSON.parse(audit.at(-1) as string)).toMatchObject({
      tool: "slow_job",
      outcome: "forwarded",
    });
    t = undefined;
  });
});
