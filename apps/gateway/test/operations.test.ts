import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../src/logger.js";
import { serveCommand } from "../src/serve.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import {
  ADMIN_TOKEN,
  API_KEY,
  startTestGateway,
  type TestGateway,
  TSX_IMPORT,
  textOf,
} from "./helpers/gateway.js";
import { CapturedIo } from "./helpers/io.js";

let t: TestGateway | undefined;

/** Waits until one call is held and returns its approval id. */
async function waitForPending(g: TestGateway): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const p = await g.gw.approvals.listPending();
    if (p[0]) return p[0].id;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("no call was held");
}
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const POLICY = `version: "1"
default: deny
tools:
  transfer_funds: { action: require_approval, reason: "moving money needs a person" }
  get_time: { action: allow }
`;

describe("operations", () => {
  it("elicitation never lets the caller approve its own call; it may withdraw it; the approver is audited", async () => {
    const calls: string[] = [];
    t = await startTestGateway({
      config: `upstreams: []\ngrants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: p.yaml } }\n`,
      files: { "p.yaml": POLICY },
      extraUpstreams: [{ name: "fake", server: fakeUpstream(calls) }],
    });
    const client = await t.connect(undefined, { elicitation: {} });
    const asked: string[] = [];
    let answer: "approve" | "withdraw" = "approve";
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push(String(req.params.message));
      // A hostile agent approves whatever it is asked, in every shape it can think of.
      return answer === "approve"
        ? { action: "accept", content: { approve: true, withdraw: false } }
        : { action: "accept", content: { withdraw: true } };
    });
    const held = client.callTool({
      name: "transfer_funds",
      arguments: { amount: 999999, apiSecret: "s3cr3t" },
    });
    const pending = await waitForPending(t);
    for (let i = 0; i < 200 && asked.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(asked[0]).toContain("transfer_funds");
    expect(asked[0]).not.toContain("s3cr3t");
    // Still held: the caller's "approval" did nothing. Only the admin approves.
    expect(calls).toEqual([]);
    const r = await fetch(`${t.gw.adminUrl}/api/approvals/${pending}/approve`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(r.status).toBe(200);
    expect(textOf(await held)).toBe("moved 999999");
    // The caller may withdraw its own call.
    answer = "withdraw";
    const no = await client.callTool({
      name: "transfer_funds",
      arguments: { amount: 4, apiSecret: "x" },
    });
    expect(no.isError).toBe(true);
    expect(textOf(no)).toContain("withdrew");
    expect(calls).toEqual(["transfer:999999"]);
    const recent = (await t.gw.approvals.listRecent(5)).map((a) => [a.status, a.resolvedBy]);
    expect(recent).toEqual([
      ["rejected", "caller:withdrawn"],
      ["approved", "admin"],
    ]);
    // Audit log and decision feed say who decided, never with the caller's key.
    const audit = readFileSync(join(t.dir, "audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { approver?: string; outcome?: string });
    expect(audit.filter((a) => a.approver).map((a) => [a.outcome, a.approver])).toEqual([
      ["forwarded", "admin"],
      ["approval_rejected", "caller:withdrawn"],
    ]);
    expect(JSON.stringify(audit)).not.toContain(API_KEY);
    expect(t.gw.feed.recent(5).map((d) => d.approver)).toContain("admin");
  });

  it("approvals.callerMayApprove lets a sole session approve itself, and warns at start-up", async () => {
    const calls: string[] = [];
    t = await startTestGateway({
      config: `upstreams: []\ngrants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: p.yaml } }\napprovals: { callerMayApprove: true }\n`,
      files: { "p.yaml": POLICY },
      extraUpstreams: [{ name: "fake", server: fakeUpstream(calls) }],
    });
    expect(t.logs.join("")).toContain("approvals.callerMayApprove is on");
    const client = await t.connect(undefined, { elicitation: {} });
    client.setRequestHandler(ElicitRequestSchema, async () => ({
      action: "accept",
      content: { approve: true },
    }));
    expect(
      textOf(
        await client.callTool({ name: "transfer_funds", arguments: { amount: 1, apiSecret: "x" } }),
      ),
    ).toBe("moved 1");
    // A second session of the grant: the grant is shared, the caller can no longer approve.
    await t.connect(undefined, { elicitation: {} });
    const held = client.callTool({
      name: "transfer_funds",
      arguments: { amount: 2, apiSecret: "x" },
    });
    const id = await waitForPending(t);
    expect(calls).toEqual(["transfer:1"]);
    await fetch(`${t.gw.adminUrl}/api/approvals/${id}/reject`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect((await held).isError).toBe(true);
    expect(t.logs.join("")).toContain("shared by several sessions");
  });

  it("answers 403 to a browser origin that is not allowed", async () => {
    t = await startTestGateway({
      config: `upstreams: []\ngrants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: p.yaml } }\nallowedOrigins: ["http://good.example"]\n`,
      files: { "p.yaml": POLICY },
      extraUpstreams: [{ name: "fake", server: fakeUpstream() }],
    });
    const res = await fetch(t.gw.mcpUrl, {
      method: "POST",
      headers: { Origin: "http://evil.example", "Content-Type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(403);
  });

  it("reports not ready when the store cannot reach Redis", async () => {
    t = await startTestGateway({
      config: `upstreams: []\ngrants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: p.yaml } }\nstore: "redis://127.0.0.1:9/0?timeout=200"\n`,
      files: { "p.yaml": POLICY },
      extraUpstreams: [{ name: "fake", server: fakeUpstream() }],
    });
    const res = await fetch(`${t.gw.url}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { ok: boolean; store: { ok: boolean } };
    expect(body.ok).toBe(false);
    expect((await fetch(`${t.gw.url}/healthz`)).status).toBe(200);
  });

  it("redacts credentials from log lines", () => {
    let out = "";
    const destination = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    });
    const log = createLogger({ level: "info", destination });
    log.info(
      {
        req: {
          headers: { authorization: "Bearer tg_secret_value", "x-mbx-apikey": "binance-key-value" },
        },
        apiKey: "api-key-value",
        upstream: { apiSecret: "binance-secret-value", url: "http://u" },
      },
      "request",
    );
    expect(out).toContain("http://u");
    for (const secret of [
      "tg_secret_value",
      "binance-key-value",
      "api-key-value",
      "binance-secret-value",
    ]) {
      expect(out).not.toContain(secret);
    }
  });

  it("proxies configured HTTP and stdio upstreams side by side", async () => {
    const inner = await startTestGateway({
      config: `upstreams: []\ngrants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: p.yaml } }\n`,
      files: { "p.yaml": 'version: "1"\ndefault: allow\n' },
      extraUpstreams: [{ name: "fake", server: fakeUpstream() }],
    });
    try {
      const script = new URL("./helpers/stdio-server.ts", import.meta.url).pathname;
      t = await startTestGateway({
        config: [
          "upstreams:",
          `  - { name: remote, url: "${inner.gw.mcpUrl}", headers: { Authorization: "Bearer ${API_KEY}" } }`,
          `  - { name: local, command: "${process.execPath}", args: ${JSON.stringify([...TSX_IMPORT, script])} }`,
          `grants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: p.yaml } }`,
        ].join("\n"),
        files: { "p.yaml": 'version: "1"\ndefault: allow\n' },
      });
      const client = await t.connect();
      const names = (await client.listTools()).tools.map((x) => x.name);
      expect(names).toContain("get_time");
      expect(names).toContain("list_files");
      const r = await client.callTool({ name: "get_time", arguments: {} });
      expect(textOf(r)).toBe("now");
    } finally {
      await inner.close();
    }
  }, 30_000);

  it("serve refuses to start on a bad config and lists every problem", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const cwd = mkdtempSync(join(tmpdir(), "toolgate-badserve-"));
    writeFileSync(join(cwd, "bad.yaml"), 'version: "1"\ndefault: nope\n');
    writeFileSync(
      join(cwd, "toolgate.config.yaml"),
      "listen: { port: -1 }\ngrants: { a: { apiKey: short } }\nstore: mysql://x\n",
    );
    const io = new CapturedIo(cwd);
    const code = await serveCommand([], io, { stopSignal: new Promise(() => {}) });
    expect(code).toBe(1);
    expect(io.err).toContain("listen.port");
    expect(io.err).toContain("grants.a.apiKey");
    expect(io.err).toContain("store");

    writeFileSync(
      join(cwd, "toolgate.config.yaml"),
      'grants: { a: { apiKey: "long-enough-key-0123", policy: bad.yaml } }\n',
    );
    io.err = "";
    expect(await serveCommand([], io, { stopSignal: new Promise(() => {}) })).toBe(1);
    expect(io.err).toMatch(/grants\.a\.policy .*default/);
  });

  it("answers unknown paths and malformed admin bodies in JSON, never with a stack trace", async () => {
    t = await startTestGateway({
      config: `upstreams: []\ngrants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: p.yaml } }\n`,
      files: { "p.yaml": POLICY },
      extraUpstreams: [{ name: "fake", server: fakeUpstream() }],
    });
    const missing = await fetch(`${t.gw.url}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: "not_found" });
    const bad = await fetch(`${t.gw.url}/admin/api/approvals/x/approve`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
      body: '{"reason": ',
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toContain("application/json");
    const text = await bad.text();
    expect(JSON.parse(text)).toMatchObject({ error: "bad_request" });
    expect(text).not.toMatch(/\bat .*\.(ts|js):\d+/);
  });
});
