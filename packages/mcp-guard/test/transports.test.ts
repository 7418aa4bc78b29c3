import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioV2 } from "@modelcontextprotocol/client/stdio";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as StdioV1 } from "@modelcontextprotocol/sdk/client/stdio.js";
import { compilePolicy, parsePolicyText } from "@toolgate/policy-engine";
import { createCounterStore } from "@toolgate/rate-limit-store";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { guardMcpServer } from "../src/index.js";
import { type CallResult, decisionOf, sdkV1, sdkV2, type TestClient, text } from "./sdks.js";

const fixture = fileURLToPath(new URL("./fixtures/stdio-server.ts", import.meta.url));
const packageDir = fileURLToPath(new URL("..", import.meta.url));

describe("a guarded server keeps its own stdio transport", () => {
  it.each([
    ["v1", () => new ClientV1({ name: "stdio-v1", version: "1.0.0" }), StdioV1],
    ["v2", () => new ClientV2({ name: "stdio-v2", version: "1.0.0" }), StdioV2],
  ] as const)(
    "SDK %s server over stdio, driven by the same SDK's client",
    async (v, mk, Stdio) => {
      const client = mk();
      await client.connect(
        new Stdio({
          command: process.execPath,
          args: ["--import", "tsx", fixture, v],
          cwd: packageDir,
          stderr: "inherit",
        }),
      );
      try {
        const tools = (await client.listTools()).tools.map((t) => t.name);
        expect(tools).toEqual(["ping"]);
        const call = (name: string) =>
          client.callTool({ name, arguments: {} }) as Promise<CallResult>;
        expect(text(await call("ping"))).toBe("pong");
        expect(text(await call("ping"))).toBe("pong");
        const third = await call("ping");
        expect(third.isError).toBe(true);
        expect(text(third)).toMatch(/rate limit "ping_rate" reached: 2 .*retry in/);
        expect(decisionOf(await call("secret_admin"))).toMatchObject({ code: "TOOL_HIDDEN" });
      } finally {
        await client.close();
      }
    },
    30_000,
  );
});

describe("servers of both SDK majors share one Redis store", () => {
  const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const prefix = `tg-guard-test-${randomUUID().slice(0, 8)}:`;
  const clients: TestClient[] = [];
  const stores: Array<{ close(): Promise<void> }> = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(stores.map((s) => s.close()));
    const redis = new Redis(url);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it("a limit of 2 per grant holds across a v1 and a v2 server, as across processes", async () => {
    const policy = compilePolicy(
      parsePolicyText(`version: "1"
default: deny
tools:
  ping: { limits: [{ counter: ping_rate, window: minute, max: 2, scope: grant }] }
`),
    );
    let ran = 0;
    const connected: TestClient[] = [];
    for (const sdk of [sdkV1, sdkV2]) {
      // One store per server, as two processes would each have their own connection.
      const u = new URL(url);
      u.searchParams.set("prefix", prefix);
      u.searchParams.set("fail", "closed");
      const store = createCounterStore(u.toString());
      stores.push(store);
      const s = sdk.server();
      s.tool("ping", () => {
        ran++;
        return { content: [{ type: "text", text: "pong" }] };
      });
      guardMcpServer(s.server, { policy, store, grant: "team-a" });
      const c = await sdk.connect(s.server);
      clients.push(c);
      connected.push(c);
    }
    const [v1, v2] = connected as [TestClient, TestClient];
    expect((await v1.callTool({ name: "ping" })).isError).toBeFalsy();
    expect((await v2.callTool({ name: "ping" })).isError).toBeFalsy();
    const third = (await v1.callTool({ name: "ping" })) as CallResult;
    expect(decisionOf(third)).toMatchObject({ code: "RATE_LIMITED" });
    expect(decisionOf((await v2.callTool({ name: "ping" })) as CallResult)).toMatchObject({
      code: "RATE_LIMITED",
    });
    expect(ran).toBe(2);
  });
});

describe("a guarded server keeps its own Streamable HTTP transport", () => {
  it("SDK v1 over HTTP: the grant comes from the server's auth (req.auth), limits per grant", async () => {
    const { createServer } = await import("node:http");
    const { StreamableHTTPServerTransport } = await import(
      "@modelcontextprotocol/sdk/server/streamableHttp.js"
    );
    const { StreamableHTTPClientTransport } = await import(
      "@modelcontextprotocol/sdk/client/streamableHttp.js"
    );
    const policy = compilePolicy(
      parsePolicyText(`version: "1"
default: allow
tools:
  ping: { limits: [{ counter: ping_rate, window: minute, max: 1, scope: grant }] }
`),
    );
    const grants: Record<string, string> = { "key-alice": "alice", "key-bob": "bob" };
    // Stateless: one server per request, all guarded, all counting in one shared store.
    const engineStore = createCounterStore("memory");
    const http = createServer(async (req, res) => {
      const key = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
      const grant = grants[key];
      if (grant === undefined) {
        res.writeHead(401).end();
        return;
      }
      (req as { auth?: unknown }).auth = { clientId: grant, token: key, scopes: [] };
      const s = sdkV1.server();
      s.tool("ping", () => ({ content: [{ type: "text", text: `pong ${grant}` }] }));
      guardMcpServer(s.server, { policy, store: engineStore });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on("close", () => void transport.close());
      await (s.server as import("@modelcontextprotocol/sdk/server/mcp.js").McpServer).connect(
        transport,
      );
      await transport.handleRequest(req, res);
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const port = (http.address() as { port: number }).port;
    const connect = async (key: string) => {
      const c = new ClientV1({ name: "http", version: "1.0.0" });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), {
          requestInit: { headers: { Authorization: `Bearer ${key}` } },
        }),
      );
      return c;
    };
    const alice = await connect("key-alice");
    const bob = await connect("key-bob");
    try {
      const call = (c: ClientV1) =>
        c.callTool({ name: "ping", arguments: {} }) as Promise<CallResult>;
      expect(text(await call(alice))).toBe("pong alice");
      expect(decisionOf(await call(alice))).toMatchObject({ code: "RATE_LIMITED" });
      expect(text(await call(bob))).toBe("pong bob");
    } finally {
      await alice.close();
      await bob.close();
      await engineStore.close();
      await new Promise((r) => http.close(r));
    }
  }, 30_000);
});
