import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { TSX_IMPORT, textOf } from "./helpers/gateway.js";

const KEY = "scale-out-key-0123456789";
const ADMIN = "scale-out-admin-0123456789";

interface Instance {
  child: ChildProcess;
  url: string;
  out: string;
}

async function startInstance(cwd: string): Promise<Instance> {
  const bin = new URL("../src/bin.ts", import.meta.url).pathname;
  const child = spawn(
    process.execPath,
    [...TSX_IMPORT, bin, "serve", "--config", "toolgate.config.yaml"],
    {
      cwd,
      env: {
        ...process.env,
        PORT: "0",
        TOOLGATE_API_KEY: KEY,
        TOOLGATE_ADMIN_TOKEN: ADMIN,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const inst: Instance = { child, url: "", out: "" };
  let err = "";
  child.stdout?.on("data", (d) => {
    inst.out += String(d);
  });
  child.stderr?.on("data", (d) => {
    err += String(d);
  });
  for (let i = 0; i < 600 && !inst.out.includes("Try it:"); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = /MCP endpoint\s+(http:\/\/\S+)\/mcp/.exec(inst.out);
  if (!m) throw new Error(`gateway did not start:\n${inst.out}\n${err}`);
  inst.url = m[1] as string;
  return inst;
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: "scale", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${KEY}` } },
    }),
  );
  return client;
}

describe("scale-out on Redis", () => {
  const instances: Instance[] = [];
  const clients: Client[] = [];
  beforeAll(async () => {
    const cwd = mkdtempSync(join(tmpdir(), "toolgate-scale-"));
    const policy = JSON.parse(
      readFileSync(new URL("../policies/default.json", import.meta.url), "utf8"),
    ) as { tools: Record<string, unknown> };
    policy.tools.binance_us_close_listen_key = {
      action: "require_approval",
      reason: "closing the stream affects every process on the account",
    };
    writeFileSync(join(cwd, "policy.json"), JSON.stringify(policy));
    const prefix = `tg-scale-${process.pid}-${Date.now()}:`;
    writeFileSync(
      join(cwd, "toolgate.config.yaml"),
      [
        "grants:",
        `  demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.json }`,
        // A loaded CI machine may stall a Redis reply past the 500 ms default, failing a
        // call closed (a "denied" in the tally); exactness is what this test is about.
        `store: "${inject("redisUrl")}/0?prefix=${prefix}&timeout=5000"`,
        "audit: { enabled: false }",
        "approvals: { timeoutMs: 30000 }",
      ].join("\n"),
    );
    instances.push(...(await Promise.all([0, 1, 2].map(() => startInstance(cwd)))));
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.all(
      instances.map(
        (i) =>
          new Promise<void>((r) => {
            if (i.child.exitCode !== null) return r();
            i.child.once("exit", () => r());
            i.child.kill("SIGTERM");
          }),
      ),
    );
  });

  it("admits exactly 10 of 50 concurrent creates for one grant across three instances", async () => {
    expect(new Set(instances.map((i) => i.url)).size).toBe(3);
    // Three sessions per instance; calls go round-robin over all nine.
    for (const inst of instances) for (let k = 0; k < 3; k++) clients.push(await connect(inst.url));
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, n) =>
        (clients[n % clients.length] as Client).callTool({
          name: "binance_us_create_listen_key",
          arguments: {},
        }),
      ),
    );
    const admitted = results.filter((r) => !r.isError);
    const limited = results.filter((r) => r.isError && /retry in/.test(textOf(r)));
    expect(admitted).toHaveLength(10);
    expect(limited).toHaveLength(40);
    // Every instance's approvals page shows the decisions of all three, each once.
    const headers = { Authorization: `Bearer ${ADMIN}` };
    for (const inst of instances) {
      let tally: Record<string, number> | undefined;
      for (let i = 0; i < 200; i++) {
        const r = await fetch(`${inst.url}/admin/api/decisions`, { headers });
        const j = (await r.json()) as {
          tallies: Record<string, Record<string, number>>;
          scope: string;
        };
        expect(j.scope).toMatch(/all instances/);
        tally = j.tallies.demo;
        if ((tally?.allowed ?? 0) + (tally?.rateLimited ?? 0) >= 50) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(tally).toMatchObject({ allowed: 10, rateLimited: 40 });
    }
  }, 30_000);

  it("approves on instance B a call held on instance A", async () => {
    const [a, b] = instances as [Instance, Instance];
    const client = await connect(a.url);
    clients.push(client);
    const held = client.callTool({
      name: "binance_us_close_listen_key",
      arguments: { listenKey: "x".repeat(64) },
    });
    const headers = { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" };
    let pending: Array<{ id: string; tool: string; arguments: Record<string, unknown> }> = [];
    for (let i = 0; i < 200 && pending.length === 0; i++) {
      const r = await fetch(`${b.url}/admin/api/approvals`, { headers });
      pending = ((await r.json()) as { pending: typeof pending }).pending;
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 25));
    }
    expect(pending).toHaveLength(1);
    expect(pending[0]?.arguments).toEqual({ listenKey: "••••••(masked: credential name)" });
    const res = await fetch(`${b.url}/admin/api/approvals/${pending[0]?.id}/approve`, {
      method: "POST",
      headers,
      body: "{}",
    });
    expect(res.status).toBe(200);
    const result = await held;
    // Forwarded to the (mock) exchange, which does not know that key: an upstream answer,
    // not a policy denial.
    expect(textOf(result)).not.toMatch(/approval/i);
    const c = await fetch(`${a.url}/admin/api/approvals`, { headers });
    expect(((await c.json()) as { recent: Array<{ status: string }> }).recent[0]?.status).toBe(
      "approved",
    );
  }, 30_000);
});
