import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { compilePolicy, createInProcessCounterStore } from "@toolgate/policy-engine";
import { describe, expect, it } from "vitest";
import { type ApprovalRequest, createToolgateMcp, type DecisionEvent } from "../src/index.js";
import { FakeTime } from "./fake-time.js";
import { connect, initBody, post, startGateway, until } from "./harness.js";

function server(): McpServer {
  const s = new McpServer({ name: "life", version: "1.0.0" });
  s.registerTool("guarded", {}, async () => ({ content: [{ type: "text", text: "ran" }] }));
  return s;
}

const INIT = initBody("raw", "2025-06-18");

describe("session lifecycle (fake time)", () => {
  it("closes idle sessions; a later request gets 404", async () => {
    const time = new FakeTime();
    const gw = await startGateway({
      upstreams: [{ name: "life", server }],
      apiKeys: { k: "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
      sessionIdleMs: 1_000,
      now: time.clock,
      scheduler: time,
    });
    const r = await post(gw.url, INIT, { "x-api-key": "k" });
    const sid = r.headers.get("mcp-session-id")!;
    await r.text();
    expect(gw.gw.sessions()).toHaveLength(1);
    time.advance(500);
    expect(gw.gw.sessions()).toHaveLength(1);
    time.advance(2_000);
    expect(gw.gw.sessions()).toHaveLength(0);
    const late = await post(gw.url, JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }), {
      "x-api-key": "k",
      "mcp-session-id": sid,
    });
    expect(late.status).toBe(404);
    await gw.stop();
  });

  it("close() waits for in-flight calls, then rolls back what is still held", async () => {
    const time = new FakeTime();
    const store = createInProcessCounterStore({ now: time.clock });
    const policy = compilePolicy({
      version: "1",
      default: "deny",
      tools: {
        guarded: {
          action: "require_approval",
          limits: [{ counter: "guarded", window: "hour", max: 5, scope: "grant" }],
        },
      },
    });
    const held: ApprovalRequest[] = [];
    const events: DecisionEvent[] = [];
    const gw = await startGateway({
      upstreams: [{ name: "life", server }],
      apiKeys: { k: "g" },
      policy,
      store,
      approve: (req) =>
        new Promise((resolve) => {
          held.push(req);
          req.signal.addEventListener("abort", () => resolve("rejected"));
        }),
      onDecision: (e) => events.push(e),
      now: time.clock,
      scheduler: time,
    });
    const { client } = await connect(gw.url, "k");
    const call = client.callTool({ name: "guarded", arguments: {} }).catch((e: Error) => e);
    await until(() => held.length === 1);
    const limit = [...policy.limitsById.values()][0]!;
    const spec = { key: limit.keyPrefix + "g", windowMs: limit.windowMs, max: limit.max };
    expect((await store.peek([spec]))[0]?.used).toBe(1);
    expect(gw.gw.inFlight()).toBe(1);
    const closing = gw.gw.close({ graceMs: 5_000 });
    time.advance(5_000);
    await closing;
    await until(() => events.length === 1);
    expect(events[0]?.outcome).toBe("approval_rejected");
    expect((await store.peek([spec]))[0]?.used).toBe(0);
    expect(gw.gw.sessions()).toHaveLength(0);
    await call;
    await gw.stop();
  });
});

describe("response modes and unavailable upstreams", () => {
  const ping = JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/list" });

  async function session(url: string): Promise<Record<string, string>> {
    const r = await post(url, INIT, { "x-api-key": "k" });
    await r.text();
    return { "x-api-key": "k", "mcp-session-id": r.headers.get("mcp-session-id")! };
  }

  it("responseMode sse streams every answer; json answers with plain JSON", async () => {
    for (const mode of ["sse", "json"] as const) {
      const gw = await startGateway({
        upstreams: [{ name: "life", server }],
        apiKeys: { k: "g" },
        policy: compilePolicy({ version: "1", default: "allow" }),
        responseMode: mode,
      });
      const h = await session(gw.url);
      const r = await post(gw.url, ping, h);
      const body = await r.text();
      if (mode === "sse") {
        expect(r.headers.get("content-type")).toBe("text/event-stream");
        expect(body).toMatch(/^id: p1\.\d+\nretry: \d+\ndata: \n\n/);
        expect(body).toContain(
          'data: {"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"guarded"',
        );
      } else {
        expect(r.headers.get("content-type")).toBe("application/json");
        expect(JSON.parse(body).result.tools[0].name).toBe("guarded");
      }
      await gw.stop();
    }
  });

  it("reports an unreachable upstream and answers initialize with an error, leaking nothing", async () => {
    const gw = await startGateway({
      upstreams: [{ name: "gone", url: "http://127.0.0.1:9/mcp" }],
      apiKeys: { k: "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
    const [h] = gw.gw.upstreamHealth();
    expect(h?.ok).toBe(false);
    expect(h?.detail).toMatch(/upstream request failed/);
    const r = await post(gw.url, INIT, { "x-api-key": "k" });
    expect(r.status).toBe(502);
    expect(((await r.json()) as { error: { code: number } }).error.code).toBe(-32603);
    expect(gw.gw.sessions()).toHaveLength(0);
    await gw.stop();
  });
});

describe("plain Node listener (no Express)", () => {
  it("serves the same endpoint from http.createServer", async () => {
    const gw = createToolgateMcp({
      upstreams: [{ name: "life", server }],
      apiKeys: { k: "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
    const srv = createServer(gw.listener);
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/mcp`;
    const { client } = await connect(url, "k");
    const r = await client.callTool({ name: "guarded", arguments: {} });
    expect(r.content).toEqual([{ type: "text", text: "ran" }]);
    const unauth = await post(url, INIT, {});
    expect(unauth.status).toBe(401);
    await client.close();
    await gw.close({ graceMs: 10 });
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  });
});

describe("shutdown racing a new session", () => {
  it("answers an initialize caught by close() with 'shutting down', not an upstream failure", async () => {
    // A bare HTTP upstream that answers at once, except the initializes it is told to hold.
    let hold = false;
    const held: Array<() => void> = [];
    const upstream = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => {
        body += String(d);
      });
      req.on("end", () => {
        const msg = body ? (JSON.parse(body) as { id?: number; method?: string }) : {};
        const answer = () => {
          if (msg.id === undefined) {
            res.writeHead(req.method === "DELETE" ? 200 : 202).end();
            return;
          }
          const result =
            msg.method === "initialize"
              ? {
                  protocolVersion: "2025-06-18",
                  capabilities: { tools: {} },
                  serverInfo: { name: "held", version: "1.0.0" },
                }
              : msg.method === "tools/list"
                ? { tools: [] }
                : {};
          res
            .writeHead(200, { "content-type": "application/json", "mcp-session-id": "up-1" })
            .end(JSON.stringify({ jsonrpc: "2.0", id: msg.id, result }));
        };
        if (hold && msg.method === "initialize") held.push(answer);
        else answer();
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
    const port = (upstream.address() as AddressInfo).port;
    const gw = await startGateway({
      upstreams: [{ name: "held", url: `http://127.0.0.1:${port}/mcp` }],
      apiKeys: { k: "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
    hold = true;
    const pending = post(gw.url, INIT, { "x-api-key": "k" });
    await until(() => held.length === 1);
    // Shutdown begins while the session is still being opened upstream.
    const closed = gw.gw.close({ graceMs: 1000 });
    for (const answer of held) answer();
    const r = await pending;
    expect(r.status).toBe(503);
    const body = (await r.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/shutting down/);
    await closed;
    expect(gw.gw.sessions()).toHaveLength(0);
    await gw.stop();
    await new Promise<void>((r) => upstream.close(() => r()));
  });
});
