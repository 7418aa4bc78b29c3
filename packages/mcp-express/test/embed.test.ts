import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  ElicitRequestSchema,
  ToolListChangedNotificationSchema,
  UrlElicitationRequiredError,
} from "@modelcontextprotocol/sdk/types.js";
import { compilePolicy, type PolicyDocument } from "@toolgate/policy-engine";
import express from "express";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type ApprovalOutcome,
  type ApprovalRequest,
  argumentsDigest,
  type DecisionEvent,
} from "../src/index.js";
import { FakeTime } from "./fake-time.js";
import { connect, type RunningGateway, startGateway, until } from "./harness.js";

function fixture(name: string): PolicyDocument {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

/** An in-process server offering the Binance.US listen-key tools (fake bodies). */
function binanceServer(): McpServer {
  const s = new McpServer({ name: "binance-fake", version: "1.0.0" });
  s.registerTool("binance_us_create_listen_key", { description: "create" }, async () => ({
    content: [{ type: "text", text: "listenKey=abc" }],
  }));
  s.registerTool(
    "binance_us_keepalive_listen_key",
    { description: "keepalive", inputSchema: { listenKey: z.string() } },
    async () => ({ content: [{ type: "text", text: "ok" }] }),
  );
  s.registerTool("binance_us_close_listen_key", { description: "close" }, async () => ({
    content: [{ type: "text", text: "closed" }],
  }));
  return s;
}

describe("fixture policies enforced over the wire (embed mode)", () => {
  const time = new FakeTime();
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [{ name: "binance", server: binanceServer }],
      apiKeys: { "create-key": "creator", "keepalive-key": "keeper", "other-key": "creator2" },
      policy: (grant) =>
        grant.startsWith("creator")
          ? compilePolicy(fixture("binance-us-create-listen-key.json"))
          : compilePolicy(fixture("binance-us-keepalive-listen-key.json")),
      now: time.clock,
      scheduler: time,
    });
  });
  afterAll(async () => gw?.stop());

  it("create-listen-key: only that tool, 10 per minute per grant, then retry after", async () => {
    const { client } = await connect(gw.url, "create-key");
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(["binance_us_create_listen_key"]);
    for (let i = 0; i < 10; i++) {
      const r = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
      expect(r.isError).toBeFalsy();
    }
    const limited = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    expect(limited.isError).toBe(true);
    expect((limited.content as Array<{ text: string }>)[0]?.text).toBe(
      'denied by policy: rate limit "binance_us_create_listen_key_rate" reached: 10 per minute per grant; retry in 60s',
    );
    const denied = await client.callTool({
      name: "binance_us_keepalive_listen_key",
      arguments: { listenKey: "abc" },
    });
    expect(denied.isError).toBe(true);
    // Another grant has its own counter.
    const { client: other } = await connect(gw.url, "other-key");
    expect(
      (await other.callTool({ name: "binance_us_create_listen_key", arguments: {} })).isError,
    ).toBeFalsy();
    // A new session of the same grant shares the grant's counter.
    const { client: again } = await connect(gw.url, "create-key");
    expect(
      (await again.callTool({ name: "binance_us_create_listen_key", arguments: {} })).isError,
    ).toBe(true);
    time.advance(60_000);
    expect(
      (await client.callTool({ name: "binance_us_create_listen_key", arguments: {} })).isError,
    ).toBeFalsy();
    await Promise.all([client.close(), other.close(), again.close()]);
  });

  it("keepalive-listen-key: only that tool, 60 per minute per grant", async () => {
    const { client } = await connect(gw.url, "keepalive-key");
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(["binance_us_keepalive_listen_key"]);
    for (let i = 0; i < 60; i++) {
      const r = await client.callTool({
        name: "binance_us_keepalive_listen_key",
        arguments: { listenKey: "abc" },
      });
      expect(r.isError).toBeFalsy();
    }
    const limited = await client.callTool({
      name: "binance_us_keepalive_listen_key",
      arguments: { listenKey: "abc" },
    });
    expect((limited.content as Array<{ text: string }>)[0]?.text).toMatch(
      /rate limit "binance_us_keepalive_listen_key_rate" reached: 60 per minute per grant; retry in 60s$/,
    );
    const create = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    expect(create.isError).toBe(true);
    await client.close();
  });
});

describe("approvals, cancellation, rollback, validation (embed mode)", () => {
  const time = new FakeTime();
  let gw: RunningGateway;
  let approve: (req: ApprovalRequest) => Promise<ApprovalOutcome> = async () => "approved";
  const requests: ApprovalRequest[] = [];
  const events: DecisionEvent[] = [];
  let cancelledSeen = false;
  let flakyFailures = 0;

  function server(): McpServer {
    const s = new McpServer({ name: "app", version: "2.0.0" });
    s.registerTool(
      "transfer",
      { description: "move funds", inputSchema: { to: z.string(), amount: z.number() } },
      async ({ to, amount }) => ({ content: [{ type: "text", text: `sent ${amount} to ${to}` }] }),
    );
    s.registerTool("slow", { description: "waits until cancelled" }, async (extra) => {
      await new Promise<void>((resolve) => {
        extra.signal.addEventListener("abort", () => {
          cancelledSeen = true;
          resolve();
        });
      });
      return { content: [{ type: "text", text: "never seen" }] };
    });
    s.registerTool("flaky", { description: "fails at protocol level twice" }, async () => {
      if (flakyFailures < 2) {
        flakyFailures++;
        throw new UrlElicitationRequiredError([
          { mode: "url", elicitationId: "e1", url: "https://example.com", message: "visit" },
        ]);
      }
      return { content: [{ type: "text", text: "finally" }] };
    });
    s.registerTool(
      "typed",
      { description: "typed input", inputSchema: { n: z.number().int() } },
      async ({ n }) => ({ content: [{ type: "text", text: String(n * 2) }] }),
    );
    return s;
  }

  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [{ name: "app", server }],
      apiKeys: { k: "g" },
      policy: compilePolicy({
        version: "1",
        default: "allow",
        tools: {
          transfer: { action: "require_approval", reason: "moves money" },
          flaky: { limits: [{ counter: "flaky", window: "minute", max: 1, scope: "grant" }] },
        },
      }),
      approve: (req) => {
        requests.push(req);
        return approve(req);
      },
      approvalTimeoutMs: 30_000,
      approvalProgressMs: 1_000,
      validateArguments: true,
      onDecision: (e) => events.push(e),
      now: time.clock,
      scheduler: time,
    });
  });
  afterAll(async () => gw?.stop());
  afterEach(() => {
    requests.length = 0;
    events.length = 0;
  });

  it("holds a require_approval call until approved, bound to grant, tool and digest", async () => {
    const { client } = await connect(gw.url, "k");
    approve = async () => ({ outcome: "approved", by: "alice" });
    const args = { to: "bob", amount: 5 };
    const r = await client.callTool({ name: "transfer", arguments: args });
    expect(r.content).toEqual([{ type: "text", text: "sent 5 to bob" }]);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      grant: "g",
      tool: "transfer",
      upstream: "app",
      arguments: args,
    });
    expect(requests[0]?.argumentsDigest).toBe(argumentsDigest({ amount: 5, to: "bob" }));
    expect(requests[0]?.decision.code).toBe("APPROVAL_REQUIRED");
    expect(events.at(-1)?.outcome).toBe("forwarded");
    await client.close();
  });

  it("rejected approvals deny with the reason", async () => {
    const { client } = await connect(gw.url, "k");
    approve = async () => ({ outcome: "rejected", reason: "not today" });
    const r = await client.callTool({ name: "transfer", arguments: { to: "bob", amount: 1 } });
    expect(r.isError).toBe(true);
    expect((r.content as Array<{ text: string }>)[0]?.text).toBe(
      "denied by policy: approval rejected: not today",
    );
    expect(events.at(-1)?.outcome).toBe("approval_rejected");
    await client.close();
  });

  it("times out (fake time) and sends progress while held", async () => {
    const { client } = await connect(gw.url, "k");
    approve = () => new Promise(() => undefined);
    const progress: string[] = [];
    const call = client.callTool(
      { name: "transfer", arguments: { to: "x", amount: 1 } },
      undefined,
      {
        onprogress: (p) => progress.push(String(p.message)),
        timeout: 60_000,
      },
    );
    await until(() => requests.length === 1);
    time.advance(1_000);
    time.advance(1_000);
    await until(() => progress.length >= 2);
    expect(progress[0]).toBe("waiting for approval of transfer");
    time.advance(30_000);
    const r = await call;
    expect((r.content as Array<{ text: string }>)[0]?.text).toBe(
      "denied by policy: approval timed out",
    );
    expect(events.at(-1)?.outcome).toBe("approval_timeout");
    expect(gw.gw.inFlight()).toBe(0);
    await client.close();
  });

  it("can ask the client itself through elicitation and reports the answer as given", async () => {
    const { client } = await connect(gw.url, "k", { elicitation: {} });
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      expect(req.params.message).toContain("transfer");
      expect(JSON.stringify(req.params)).toContain("withdraw");
      return { action: "accept", content: { withdraw: true } };
    });
    let answer: unknown;
    approve = async (req) => {
      expect(req.elicit).toBeTypeOf("function");
      expect(req.grantSessions).toBeGreaterThanOrEqual(1);
      answer = await req.elicit!(`Your call to ${req.tool} is held. Withdraw it?`, {
        type: "object",
        properties: { withdraw: { type: "boolean", title: "Withdraw this call" } },
        required: ["withdraw"],
      });
      return { outcome: "rejected", reason: "withdrawn by the caller", by: "caller:withdrawn" };
    };
    const r = await client.callTool({ name: "transfer", arguments: { to: "carol", amount: 2 } });
    expect(answer).toEqual({ action: "accept", content: { withdraw: true } });
    expect(r.isError).toBe(true);
    expect(events.at(-1)?.outcome).toBe("approval_rejected");
    expect(events.at(-1)?.approver).toBe("caller:withdrawn");
    await client.close();
  });

  it("a cancelled held call aborts the approval signal", async () => {
    const { client } = await connect(gw.url, "k");
    let aborted = false;
    approve = (req) =>
      new Promise((resolve) => {
        req.signal.addEventListener("abort", () => {
          aborted = true;
          resolve("rejected");
        });
      });
    const ac = new AbortController();
    const call = client
      .callTool({ name: "transfer", arguments: { to: "x", amount: 1 } }, undefined, {
        signal: ac.signal,
      })
      .catch((e: Error) => e);
    await until(() => requests.length === 1);
    ac.abort();
    expect(await call).toBeInstanceOf(Error);
    await until(() => aborted && gw.gw.inFlight() === 0);
    await client.close();
  });

  it("forwards cancellation to the upstream with the rewritten id", async () => {
    const { client } = await connect(gw.url, "k");
    const ac = new AbortController();
    const call = client
      .callTool({ name: "slow", arguments: {} }, undefined, { signal: ac.signal })
      .catch((e: Error) => e);
    await until(() => gw.gw.inFlight() === 1);
    ac.abort();
    await call;
    await until(() => cancelledSeen);
    // The upstream never answers a cancelled request; the gateway must not wait for it.
    await until(() => gw.gw.inFlight() === 0);
    await client.close();
  });

  it("rolls back the reservation when the upstream fails at protocol level", async () => {
    const { client } = await connect(gw.url, "k");
    for (let i = 0; i < 2; i++) {
      await expect(client.callTool({ name: "flaky", arguments: {} })).rejects.toThrow();
    }
    expect(events.map((e) => e.outcome)).toEqual(["upstream_error", "upstream_error"]);
    const ok = await client.callTool({ name: "flaky", arguments: {} });
    expect(ok.content).toEqual([{ type: "text", text: "finally" }]);
    const limited = await client.callTool({ name: "flaky", arguments: {} });
    expect(limited.isError).toBe(true);
    await client.close();
  });

  it("validates arguments against the upstream inputSchema before forwarding", async () => {
    const { client } = await connect(gw.url, "k");
    const bad = await client.callTool({ name: "typed", arguments: { n: "seven" } });
    expect(bad.isError).toBe(true);
    expect((bad.content as Array<{ text: string }>)[0]?.text).toMatch(
      /^invalid arguments for typed: \/n must be/,
    );
    const good = await client.callTool({ name: "typed", arguments: { n: 4 } });
    expect(good.content).toEqual([{ type: "text", text: "8" }]);
    await client.close();
  });
});

describe("aggregation and sharing", () => {
  let gw: RunningGateway;
  const shared = new McpServer({ name: "shared", version: "1.0.0" });
  shared.registerTool("echo", { inputSchema: { m: z.string() } }, async ({ m }) => ({
    content: [{ type: "text", text: `shared:${m}` }],
  }));
  shared.registerTool("only_shared", {}, async () => ({ content: [{ type: "text", text: "s" }] }));
  shared.registerResource("a-doc", "mem://a/doc", {}, async (uri) => ({
    contents: [{ uri: uri.href, text: "from a" }],
  }));
  shared.registerPrompt("greet", {}, async () => ({
    messages: [{ role: "user", content: { type: "text", text: "hello from a" } }],
  }));
  let sharedInitialized = 0;
  shared.server.oninitialized = () => {
    sharedInitialized++;
  };
  function other(): McpServer {
    const s = new McpServer({ name: "other", version: "1.0.0" });
    s.registerResource("b-doc", "mem://b/doc", {}, async (uri) => ({
      contents: [{ uri: uri.href, text: "from b" }],
    }));
    s.registerPrompt("greet", {}, async () => ({
      messages: [{ role: "user", content: { type: "text", text: "hello from b" } }],
    }));
    s.registerTool("echo", { inputSchema: { m: z.string() } }, async ({ m }) => ({
      content: [{ type: "text", text: `other:${m}` }],
    }));
    return s;
  }
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [
        { name: "a", server: shared },
        { name: "b", server: other },
      ],
      apiKeys: { k: "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
  });
  afterAll(async () => gw?.stop());

  it("namespaces colliding names only (auto) and routes calls", async () => {
    const { client } = await connect(gw.url, "k");
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(["a__echo", "b__echo", "only_shared"]);
    const a = await client.callTool({ name: "a__echo", arguments: { m: "1" } });
    const b = await client.callTool({ name: "b__echo", arguments: { m: "2" } });
    expect(a.content).toEqual([{ type: "text", text: "shared:1" }]);
    expect(b.content).toEqual([{ type: "text", text: "other:2" }]);
    await expect(client.callTool({ name: "echo", arguments: { m: "3" } })).rejects.toThrow(
      /not found/,
    );
    await client.close();
  });

  it("aggregates resources (routed by URI owner) and prompts (namespaced)", async () => {
    const { client } = await connect(gw.url, "k");
    // Reading before listing still reaches the owner.
    const first = await client.readResource({ uri: "mem://b/doc" });
    expect(first.contents[0]).toMatchObject({ text: "from b" });
    const uris = (await client.listResources()).resources.map((r) => r.uri).sort();
    expect(uris).toEqual(["mem://a/doc", "mem://b/doc"]);
    const a = await client.readResource({ uri: "mem://a/doc" });
    const b = await client.readResource({ uri: "mem://b/doc" });
    expect(a.contents[0]).toMatchObject({ text: "from a" });
    expect(b.contents[0]).toMatchObject({ text: "from b" });
    const prompts = (await client.listPrompts()).prompts.map((p) => p.name).sort();
    expect(prompts).toEqual(["a__greet", "b__greet"]);
    const g = await client.getPrompt({ name: "b__greet" });
    expect(JSON.stringify(g.messages)).toContain("hello from b");
    await client.close();
  });

  it("one McpServer instance serves several sessions", async () => {
    const c1 = await connect(gw.url, "k");
    const c2 = await connect(gw.url, "k");
    const [r1, r2] = await Promise.all([
      c1.client.callTool({ name: "a__echo", arguments: { m: "x" } }),
      c2.client.callTool({ name: "a__echo", arguments: { m: "y" } }),
    ]);
    expect(r1.content).toEqual([{ type: "text", text: "shared:x" }]);
    expect(r2.content).toEqual([{ type: "text", text: "shared:y" }]);
    // Initialized once by the gateway, never again per session.
    expect(sharedInitialized).toBe(1);
    await c1.client.close();
    await c2.client.close();
  });
});

describe("client credentials never reach the upstream", () => {
  let upstream: Server;
  let gw: RunningGateway;
  const seen: Array<Record<string, string | string[] | undefined>> = [];
  beforeAll(async () => {
    const app = express();
    app.use(express.json());
    app.all("/mcp", async (req, res) => {
      seen.push({ ...req.headers });
      const s = new McpServer({ name: "plain", version: "1.0.0" });
      s.registerTool("hi", {}, async () => ({ content: [{ type: "text", text: "hi" }] }));
      const t = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      res.on("close", () => void t.close());
      await s.connect(t);
      await t.handleRequest(req, res, req.body);
    });
    upstream = await new Promise<Server>((r) => {
      const s = app.listen(0, "127.0.0.1", () => r(s));
    });
    const port = (upstream.address() as AddressInfo).port;
    gw = await startGateway({
      upstreams: [
        {
          name: "plain",
          url: `http://127.0.0.1:${port}/mcp`,
          headers: { authorization: "Bearer upstream-own-token" },
        },
      ],
      apiKeys: { "client-secret-key": "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
  });
  afterAll(async () => {
    await gw?.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it("uses the upstream's own credentials", async () => {
    const { client } = await connect(gw.url, "client-secret-key");
    const r = await client.callTool({ name: "hi", arguments: {} });
    expect(r.content).toEqual([{ type: "text", text: "hi" }]);
    await client.close();
    expect(seen.length).toBeGreaterThan(0);
    for (const h of seen) {
      expect(h.authorization).toBe("Bearer upstream-own-token");
      expect(h["x-api-key"]).toBeUndefined();
      expect(JSON.stringify(h)).not.toContain("client-secret-key");
    }
  });
});

describe("upstream list changes", () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [
        {
          name: "grow",
          server: () => {
            const s = new McpServer({ name: "grow", version: "1.0.0" });
            s.registerTool("unlock", {}, async () => {
              s.registerTool("secret_door", {}, async () => ({
                content: [{ type: "text", text: "opened" }],
              }));
              return { content: [{ type: "text", text: "unlocked" }] };
            });
            return s;
          },
        },
      ],
      apiKeys: { k: "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
  });
  afterAll(async () => gw?.stop());

  it("relays tools/list_changed from the upstream and refreshes the routed list", async () => {
    const { client } = await connect(gw.url, "k");
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["unlock"]);
    await client.callTool({ name: "unlock", arguments: {} });
    await until(() => changed > 0);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual([
      "secret_door",
      "unlock",
    ]);
    const r = await client.callTool({ name: "secret_door", arguments: {} });
    expect(r.content).toEqual([{ type: "text", text: "opened" }]);
    await client.close();
  });
});
