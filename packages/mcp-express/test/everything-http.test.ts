import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { compilePolicy, type PolicyDocument, PolicyHolder } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionEvent } from "../src/index.js";
import {
  connect,
  initBody,
  post,
  type RunningGateway,
  startEverythingHttp,
  startGateway,
  until,
} from "./harness.js";

const basePolicy: PolicyDocument = {
  version: "1",
  default: "allow",
  hide: ["get-env"],
  tools: {
    "get-sum": { action: "deny", reason: "arithmetic is not allowed here" },
    "get-tiny-image": {
      limits: [{ counter: "img", window: "minute", max: 2, scope: "session" }],
    },
  },
};

let up: { url: string; stop: () => Promise<void> };
let gw: RunningGateway;
const holder = new PolicyHolder(compilePolicy(basePolicy));
const events: DecisionEvent[] = [];

beforeAll(async () => {
  up = await startEverythingHttp();
  gw = await startGateway({
    upstreams: [{ name: "everything", url: up.url }],
    apiKeys: { "key-1": "g1", "key-2": "g2" },
    policy: holder,
    onDecision: (e) => events.push(e),
  });
}, 20_000);

afterAll(async () => {
  await gw?.stop();
  await up?.stop();
});

const INIT = initBody("raw");

async function rawSession(): Promise<string> {
  const r = await post(gw.url, INIT, { "x-api-key": "key-1" });
  expect(r.status).toBe(200);
  await r.text();
  const sid = r.headers.get("mcp-session-id");
  expect(sid).toBeTruthy();
  const n = await post(
    gw.url,
    JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    { "x-api-key": "key-1", "mcp-session-id": sid!, "mcp-protocol-version": "2025-11-25" },
  );
  expect(n.status).toBe(202);
  return sid!;
}

describe("tools through the gateway (Streamable HTTP upstream)", () => {
  let client: Client;
  beforeAll(async () => {
    ({ client } = await connect(gw.url, "key-1", { sampling: {}, elicitation: {} }));
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
      model: "test-model",
      role: "assistant",
      content: {
        type: "text",
        text: `sampled: ${JSON.stringify(req.params.messages[0]?.content)}`,
      },
    }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "decline" }));
  });
  afterAll(async () => client?.close());

  it("lists only what the grant may see and keeps upstream definitions intact", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain("echo");
    expect(names).toContain("trigger-sampling-request");
    expect(names).not.toContain("get-env");
    expect(names).not.toContain("get-sum");
    const echo = tools.find((t) => t.name === "echo");
    expect(echo?.inputSchema.properties).toHaveProperty("message");
  });

  it("forwards an allowed call and returns the upstream result unchanged", async () => {
    const r = await client.callTool({ name: "echo", arguments: { message: "hello" } });
    expect(r).toEqual({ content: [{ type: "text", text: "Echo: hello" }] });
  });

  it("denies by policy with a readable text and the decision in _meta", async () => {
    events.length = 0;
    const r = await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    expect(r.isError).toBe(true);
    expect(r.content).toEqual([
      { type: "text", text: "denied by policy: arithmetic is not allowed here" },
    ]);
    const d = (r._meta as Record<string, { code: string; ruleId: string }>)["toolgate/decision"];
    expect(d?.code).toBe("TOOL_DENIED");
    expect(d?.ruleId).toBe("tools.get-sum");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      outcome: "denied",
      tool: "get-sum",
      argumentKeys: ["a", "b"],
    });
    expect(events[0]?.argumentsDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(events[0])).not.toContain('"a":1');
  });

  it("denies hidden tools too", async () => {
    const r = await client.callTool({ name: "get-env", arguments: {} });
    expect(r.isError).toBe(true);
    expect(JSON.stringify(r.content)).toContain("denied by policy");
  });

  it("rate-limits with a retry time and commits successful calls", async () => {
    const { client: c2 } = await connect(gw.url, "key-1");
    for (let i = 0; i < 2; i++) {
      const ok = await c2.callTool({ name: "get-tiny-image", arguments: {} });
      expect(ok.isError).toBeFalsy();
    }
    const limited = await c2.callTool({ name: "get-tiny-image", arguments: {} });
    expect(limited.isError).toBe(true);
    const text = (limited.content as Array<{ text: string }>)[0]?.text ?? "";
    expect(text).toMatch(/^denied by policy: rate limit "img" .*retry in \d+s$/);
    const d = (limited._meta as Record<string, { code: string; retryAfterMs: number }>)[
      "toolgate/decision"
    ];
    expect(d?.code).toBe("RATE_LIMITED");
    expect(d?.retryAfterMs).toBeGreaterThan(0);
    await c2.close();
  });

  it("routes sampling from the upstream to this client and the answer back", async () => {
    const r = await client.callTool({
      name: "trigger-sampling-request",
      arguments: { prompt: "ping?", maxTokens: 5 },
    });
    expect(JSON.stringify(r.content)).toContain("sampled:");
    expect(JSON.stringify(r.content)).toContain("ping?");
  });

  it("routes elicitation to the client", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("trigger-elicitation-request");
    const r = await client.callTool({ name: "trigger-elicitation-request", arguments: {} });
    expect(JSON.stringify(r.content)).toContain("decline");
  });

  it("relays progress notifications for the call's progressToken", async () => {
    const seen: number[] = [];
    const r = await client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 0.2, steps: 2 } },
      undefined,
      { onprogress: (p) => seen.push(p.progress) },
    );
    expect(JSON.stringify(r.content)).toContain("completed");
    expect(seen).toEqual([1, 2]);
  });

  it("answers ping", async () => {
    await expect(client.ping()).resolves.toEqual({});
  });
});

describe("everything else passes through", () => {
  let client: Client;
  beforeAll(async () => {
    ({ client } = await connect(gw.url, "key-2", { roots: { listChanged: true } }));
    client.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: [{ uri: "file:///projects/root-a", name: "a" }],
    }));
  });
  afterAll(async () => client?.close());

  it("resources: list, templates, read", async () => {
    const { resources } = await client.listResources();
    expect(resources.length).toBeGreaterThan(0);
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toContain(
      "demo://resource/dynamic/text/{resourceId}",
    );
    const read = await client.readResource({ uri: "demo://resource/dynamic/text/1" });
    expect(read.contents[0]?.uri).toBe("demo://resource/dynamic/text/1");
  });

  it("subscriptions deliver resources/updated on the GET stream", async () => {
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    await client.subscribeResource({ uri: "demo://resource/dynamic/text/1" });
    await client.callTool({ name: "toggle-subscriber-updates", arguments: {} });
    await until(() => updates.length > 0);
    expect(updates[0]).toBe("demo://resource/dynamic/text/1");
    await client.callTool({ name: "toggle-subscriber-updates", arguments: {} });
    await client.unsubscribeResource({ uri: "demo://resource/dynamic/text/1" });
  });

  it("prompts and completion", async () => {
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toContain("args-prompt");
    const p = await client.getPrompt({ name: "args-prompt", arguments: { city: "Paris" } });
    expect(JSON.stringify(p.messages)).toContain("Paris");
    const c = await client.complete({
      ref: { type: "ref/prompt", name: "completable-prompt" },
      argument: { name: "department", value: "Eng" },
    });
    expect(c.completion.values).toContain("Engineering");
  });

  it("logging/setLevel and log notifications", async () => {
    const logs: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params.level);
    });
    await client.setLoggingLevel("debug");
    await client.callTool({ name: "toggle-simulated-logging", arguments: {} });
    await until(() => logs.length > 0);
    await client.callTool({ name: "toggle-simulated-logging", arguments: {} });
    expect(logs.length).toBeGreaterThan(0);
  });

  it("server-to-client roots/list reaches the client", async () => {
    const r = await client
      .callTool({ name: "get-roots-list", arguments: {} })
      .catch(() => undefined);
    // The tool exists only when the client declares roots; the upstream asked us for roots.
    if (r) expect(JSON.stringify(r.content)).toContain("root-a");
  });

  it("sends tools/list_changed when a policy reload changes what the client may see", async () => {
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    const before = (await client.listTools()).tools.map((t) => t.name);
    expect(before).toContain("echo");
    const r = holder.reload({ ...basePolicy, hide: ["get-env", "echo"] });
    expect(r.ok).toBe(true);
    await until(() => changed > 0);
    const after = (await client.listTools()).tools.map((t) => t.name);
    expect(after).not.toContain("echo");
    holder.reload(basePolicy);
    await until(() => changed > 1);
  });
});

describe("transport behaviour", () => {
  it("opens a GET SSE stream, refuses a second one, and ends the session on DELETE", async () => {
    const sid = await rawSession();
    const h = { "x-api-key": "key-1", "mcp-session-id": sid };
    const ac = new AbortController();
    const g = await fetch(gw.url, {
      headers: { ...h, accept: "text/event-stream" },
      signal: ac.signal,
    });
    expect(g.status).toBe(200);
    expect(g.headers.get("content-type")).toContain("text/event-stream");
    const second = await fetch(gw.url, { headers: { ...h, accept: "text/event-stream" } });
    expect(second.status).toBe(409);
    ac.abort();
    const before = gw.gw.sessions().length;
    const del = await fetch(gw.url, { method: "DELETE", headers: h });
    expect(del.status).toBe(200);
    expect(gw.gw.sessions().length).toBe(before - 1);
    const after = await post(gw.url, JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }), h);
    expect(after.status).toBe(404);
  });

  it("resumes a dropped POST stream with Last-Event-ID", async () => {
    const sid = await rawSession();
    const h = { "x-api-key": "key-1", "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" };
    const ac = new AbortController();
    const r = await post(
      gw.url,
      JSON.stringify({
        jsonrpc: "2.0",
        id: 7,
        method: "tools/call",
        params: {
          name: "trigger-long-running-operation",
          arguments: { duration: 0.3, steps: 3 },
          _meta: { progressToken: "tok" },
        },
      }),
      h,
    );
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    const reader = r.body!.getReader();
    let text = "";
    while (!text.includes('"progress":1')) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    const ids = [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]!);
    await reader.cancel();
    ac.abort();
    const last = ids[ids.length - 1]!;
    const g = await fetch(gw.url, {
      headers: { ...h, accept: "text/event-stream", "last-event-id": last },
    });
    expect(g.status).toBe(200);
    const rest = await g.text();
    expect(rest).toContain('"progress":2');
    expect(rest).toContain('"id":7');
    expect(rest).toContain("Long running operation completed");
  });

  it("rejects an unsupported MCP-Protocol-Version with 400", async () => {
    const sid = await rawSession();
    const r = await post(gw.url, JSON.stringify({ jsonrpc: "2.0", id: 3, method: "ping" }), {
      "x-api-key": "key-1",
      "mcp-session-id": sid,
      "mcp-protocol-version": "1999-01-01",
    });
    expect(r.status).toBe(400);
  });

  it("validates Origin (403) and allows loopback origins", async () => {
    const bad = await post(gw.url, INIT, { "x-api-key": "key-1", origin: "https://evil.example" });
    expect(bad.status).toBe(403);
    const ok = await post(gw.url, INIT, { "x-api-key": "key-1", origin: "http://localhost:3000" });
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it("answers 401 with WWW-Authenticate for missing or unknown keys", async () => {
    const before = gw.gw.sessions().length;
    for (const headers of [{}, { authorization: "Bearer nope" }, { "x-api-key": "nope" }] as Array<
      Record<string, string>
    >) {
      const r = await post(gw.url, INIT, headers);
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toBe('Bearer realm="toolgate"');
      const body = await r.text();
      expect(body).not.toContain("nope");
    }
    expect(gw.gw.sessions().length).toBe(before);
  });

  it("handles bad input without crashing, leaking sessions or reservations", async () => {
    const sid = await rawSession();
    const before = gw.gw.sessions().length;
    const h = { "x-api-key": "key-1", "mcp-session-id": sid };
    const parse = await post(gw.url, "{not json", h);
    expect(parse.status).toBe(400);
    expect(((await parse.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const notRpc = await post(gw.url, JSON.stringify({ hello: "world" }), h);
    expect(notRpc.status).toBe(400);
    expect(((await notRpc.json()) as { error: { code: number } }).error.code).toBe(-32600);
    const batch = await post(
      gw.url,
      JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "ping" }]),
      h,
    );
    expect(((await batch.json()) as { error: { code: number } }).error.code).toBe(-32600);
    const unknown = await post(gw.url, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), {
      "x-api-key": "key-1",
      "mcp-session-id": "no-such-session",
    });
    expect(unknown.status).toBe(404);
    const missing = await post(gw.url, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), {
      "x-api-key": "key-1",
    });
    expect(missing.status).toBe(400);
    const big = await post(
      gw.url,
      JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "ping",
        params: { pad: "x".repeat(5 * 1024 * 1024) },
      }),
      h,
    );
    expect(big.status).toBe(413);
    const otherGrant = await post(
      gw.url,
      JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      {
        "x-api-key": "key-2",
        "mcp-session-id": sid,
      },
    );
    expect(otherGrant.status).toBe(404);
    expect(gw.gw.sessions().length).toBe(before);
    expect(gw.gw.inFlight()).toBe(0);
    // The session still works.
    const ping = await post(gw.url, JSON.stringify({ jsonrpc: "2.0", id: 9, method: "ping" }), h);
    expect(await ping.json()).toEqual({ jsonrpc: "2.0", id: 9, result: {} });
  });
});
