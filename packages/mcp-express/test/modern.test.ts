/**
 * MCP 2026-07-28 clients on the same /mcp endpoint: the SDK v2 client (stateless)
 * through the gateway to a 2025 (SDK v1) upstream, the same policy answers as the 2025
 * path, and hostile 2026 input refused before anything is decided or forwarded.
 */
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from "@modelcontextprotocol/client";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { compilePolicy, type PolicyDocument } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod/v3";
import type { DecisionEvent, RefusedEvent } from "../src/index.js";
import { FakeTime } from "./fake-time.js";
import { connect, everythingBin, post, type RunningGateway, startGateway } from "./harness.js";

const V = "2026-07-28";
/** What both clients' callTool resolve to, as far as these tests read it. */
type Called = { content?: unknown; _meta?: Record<string, unknown> };
let upstreamCalls = 0;

function upstream(): McpServer {
  const s = new McpServer({ name: "legacy", version: "1.0.0" });
  s.registerTool(
    "add",
    { description: "a+b", inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => {
      upstreamCalls++;
      return { content: [{ type: "text", text: String(a + b) }] };
    },
  );
  s.registerTool("secret", { description: "hidden by policy" }, async () => {
    upstreamCalls++;
    return { content: [{ type: "text", text: "leak" }] };
  });
  return s;
}

const policies: Record<string, PolicyDocument> = {
  limited: {
    version: "1",
    default: "deny",
    tools: {
      add: { limits: [{ counter: "adds", window: "minute", max: 2, scope: "session" }] },
    },
  },
};

async function modernClient(url: string, key: string): Promise<ModernClient> {
  const client = new ModernClient(
    { name: "modern", version: "1.0.0" },
    { versionNegotiation: { mode: "auto" } },
  );
  await client.connect(
    new ModernTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

const envelope = (extra: Record<string, unknown> = {}) => ({
  "io.modelcontextprotocol/protocolVersion": V,
  "io.modelcontextprotocol/clientCapabilities": {},
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
  ...extra,
});
const callBody = (meta: unknown, name = "add") =>
  JSON.stringify({
    jsonrpc: "2.0",
    id: 7,
    method: "tools/call",
    params: { name, arguments: { a: 1, b: 2 }, _meta: meta },
  });
const goodHeaders = {
  authorization: "Bearer k",
  "mcp-protocol-version": V,
  "mcp-method": "tools/call",
  "mcp-name": "add",
};

describe("MCP 2026-07-28 clients", () => {
  const time = new FakeTime();
  const events: DecisionEvent[] = [];
  const refused: RefusedEvent[] = [];
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [{ name: "legacy", server: upstream }],
      apiKeys: { k: "limited" },
      policy: (grant) => {
        const doc = policies[grant];
        return doc ? compilePolicy(doc) : undefined;
      },
      onDecision: (e) => events.push(e),
      onRefused: (e) => refused.push(e),
      now: time.clock,
      scheduler: time,
    });
  });
  afterAll(async () => gw?.stop());

  it("the SDK v2 client negotiates 2026 and is served statelessly by a 2025 upstream", async () => {
    const client = await modernClient(gw.url, "k");
    expect(client.getProtocolEra()).toBe("modern");
    expect(client.getNegotiatedProtocolVersion()).toBe(V);
    const tools = await client.listTools();
    // Policy-filtered exactly as on the 2025 path: default deny hides `secret`.
    expect(tools.tools.map((t) => t.name)).toEqual(["add"]);
    const r = await client.callTool({ name: "add", arguments: { a: 2, b: 3 } });
    expect(r.content).toEqual([{ type: "text", text: "5" }]);
    expect(r._meta?.["io.modelcontextprotocol/serverInfo"]).toMatchObject({ name: "toolgate" });
    await client.close();
  });

  it("server/discover is answered locally, list results carry the 2026 fields", async () => {
    const h = { ...goodHeaders, "mcp-method": "server/discover" } as Record<string, string>;
    delete h["mcp-name"];
    const d = await post(
      gw.url,
      JSON.stringify({
        jsonrpc: "2.0",
        id: "d",
        method: "server/discover",
        params: { _meta: envelope() },
      }),
      h,
    );
    expect(d.status).toBe(200);
    const body = (await d.json()) as { id: string; result: Record<string, unknown> };
    expect(body.id).toBe("d");
    expect(body.result).toMatchObject({
      supportedVersions: [V],
      resultType: "complete",
      cacheScope: "private",
      ttlMs: 0,
    });
    expect((body.result.capabilities as Record<string, unknown>).tools).toEqual({});
    const l = await post(
      gw.url,
      JSON.stringify({
        jsonrpc: "2.0",
        id: 3,
        method: "tools/list",
        params: { _meta: envelope() },
      }),
      { ...h, "mcp-method": "tools/list" },
    );
    const list = (await l.json()) as { id: number; result: Record<string, unknown> };
    expect(list.id).toBe(3);
    expect(list.result).toMatchObject({ resultType: "complete", cacheScope: "private", ttlMs: 0 });
  });

  it("enforces the same limit with the same denial as the 2025 path (scope session counts by the grant)", async () => {
    events.length = 0;
    const modern = await modernClient(gw.url, "k");
    // One call was made in the first test: one more admitted, then denied.
    const ok = await modern.callTool({ name: "add", arguments: { a: 1, b: 1 } });
    expect(ok.isError).toBeFalsy();
    const denied2026 = await modern.callTool({ name: "add", arguments: { a: 1, b: 1 } });
    // A 2025 session of the same grant has its own session counter: spend it to the denial.
    const { client: legacy } = await connect(gw.url, "k");
    await legacy.callTool({ name: "add", arguments: { a: 1, b: 1 } });
    await legacy.callTool({ name: "add", arguments: { a: 1, b: 1 } });
    const denied2025 = await legacy.callTool({ name: "add", arguments: { a: 1, b: 1 } });
    expect(denied2026.isError).toBe(true);
    const text = (r: Called) => (r.content as Array<{ text: string }>)[0]?.text;
    expect(text(denied2026)).toBe(text(denied2025));
    expect(text(denied2026)).toMatch(/^denied by policy: /);
    // Same decision apart from its id, timing and counter key: the 2026 call has no
    // session, so its `scope: session` counter is the grant's.
    const stable = (r: Called) => {
      const {
        id: _i,
        decideUs: _d,
        limits,
        ...rest
      } = r._meta?.["toolgate/decision"] as {
        id: string;
        decideUs: number;
        limits: Array<{ key: string }>;
      };
      return {
        ...rest,
        limits: limits.map(({ key: _k, ...l }) => l),
        keys: limits.map((l) => l.key),
      };
    };
    const d26 = stable(denied2026);
    const d25 = stable(denied2025);
    expect(d26.keys).toEqual(["adds|session|limited"]);
    expect({ ...d26, keys: [] }).toEqual({ ...d25, keys: [] });
    const outcomes = events.map((e) => e.outcome);
    expect(outcomes).toEqual(["forwarded", "denied", "forwarded", "forwarded", "denied"]);
    // The stateless calls name no session in the audit.
    expect(events[0]!.session).toBeUndefined();
    await modern.close();
    await legacy.close();
  });

  it("refuses hostile 2026 input with the spec's errors, nothing decided or forwarded", async () => {
    events.length = 0;
    refused.length = 0;
    const before = upstreamCalls;
    const cases: Array<[string, Record<string, string | undefined>, number, number]> = [
      [callBody(envelope()), { ...goodHeaders, "mcp-name": "secret" }, 400, -32020],
      [callBody(envelope()), { ...goodHeaders, "mcp-name": "=?base64?c2VjcmV0?=" }, 400, -32020],
      [callBody(envelope()), { ...goodHeaders, "mcp-name": undefined }, 400, -32020],
      [callBody(envelope()), { ...goodHeaders, "mcp-method": "tools/list" }, 400, -32020],
      [callBody(envelope()), { ...goodHeaders, "mcp-method": undefined }, 400, -32020],
      [callBody(envelope()), { ...goodHeaders, "mcp-protocol-version": "2025-11-25" }, 400, -32020],
      [callBody(envelope()), { ...goodHeaders, "mcp-protocol-version": undefined }, 400, -32020],
      [
        callBody(envelope({ "io.modelcontextprotocol/protocolVersion": "2099-01-01" })),
        { ...goodHeaders, "mcp-protocol-version": "2099-01-01" },
        400,
        -32022,
      ],
      [
        callBody(envelope({ "io.modelcontextprotocol/clientCapabilities": "x" })),
        goodHeaders,
        400,
        -32602,
      ],
      [callBody(envelope({ "io.modelcontextprotocol/clientInfo": 5 })), goodHeaders, 400, -32602],
      [callBody("x"), goodHeaders, 400, -32602],
    ];
    for (const [body, hdrs, status, code] of cases) {
      const headers = Object.fromEntries(
        Object.entries(hdrs).filter((e): e is [string, string] => e[1] !== undefined),
      );
      const r = await post(gw.url, body, headers);
      const j = (await r.json()) as { id: unknown; error: { code: number; data?: unknown } };
      expect([r.status, j.error.code], JSON.stringify(hdrs)).toEqual([status, code]);
      expect(j.id).toBe(7);
    }
    const unsupported = await post(
      gw.url,
      callBody(envelope({ "io.modelcontextprotocol/protocolVersion": "2099-01-01" })),
      { ...goodHeaders, "mcp-protocol-version": "2099-01-01" },
    );
    expect(((await unsupported.json()) as { error: { data: unknown } }).error.data).toEqual({
      supported: [V],
      requested: "2099-01-01",
    });
    for (const method of ["ping", "logging/setLevel", "foo/bar"]) {
      const r = await post(
        gw.url,
        JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: { _meta: envelope() } }),
        { ...goodHeaders, "mcp-method": method },
      );
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: { code: number } }).error.code).toBe(-32601);
    }
    expect(upstreamCalls).toBe(before);
    expect(events).toEqual([]);
    expect(refused.length).toBeGreaterThanOrEqual(cases.length);
    expect(refused.every((e) => e.code.startsWith("modern_"))).toBe(true);
  });

  it("a 2026 claim never falls into the 2025 session path", async () => {
    const r = await post(
      gw.url,
      JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
      { authorization: "Bearer k", "mcp-protocol-version": V, "mcp-method": "tools/list" },
    );
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: number } }).error.code).toBe(-32602);
  });

  it("still refuses an unauthenticated 2026 request before reading it", async () => {
    const r = await post(gw.url, callBody(envelope()), {
      ...goodHeaders,
      authorization: "Bearer nope",
    });
    expect(r.status).toBe(401);
  });
});

describe("MCP 2026-07-28 client to a stdio upstream", () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [
        { name: "everything", command: process.execPath, args: [everythingBin, "stdio"] },
      ],
      apiKeys: { k: "all" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
  });
  afterAll(async () => gw?.stop());

  it("lists and calls the stdio server's tools statelessly", async () => {
    const client = await modernClient(gw.url, "k");
    expect(client.getNegotiatedProtocolVersion()).toBe(V);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("echo");
    const r = await client.callTool({ name: "echo", arguments: { message: "over stdio" } });
    expect(JSON.stringify(r.content)).toContain("over stdio");
    await client.close();
  });
});
