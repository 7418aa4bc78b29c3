import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { compilePolicy } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthThrottle, type DecisionEvent, deniedResult, type RefusedEvent } from "../src/index.js";
import { REQUEST_METHODS } from "../src/jsonrpc.js";
import { FakeTime } from "./fake-time.js";
import { connect, initBody, post, type RunningGateway, startGateway, until } from "./harness.js";

/** Attacks on the middleware itself: hung upstreams, dropped clients, forged messages. */
describe("hung upstreams, cancelled and dropped calls", () => {
  const time = new FakeTime();
  let gw: RunningGateway;
  const events: DecisionEvent[] = [];
  const refused: RefusedEvent[] = [];
  const started: string[] = [];
  const aborted: string[] = [];
  const strayNotifications: string[] = [];
  let echoed = 0;

  function upstream(): McpServer {
    const s = new McpServer({ name: "hangs", version: "1.0.0" });
    for (const name of ["hang", "hang_fast"]) {
      s.registerTool(name, {}, (extra) => {
        started.push(name);
        extra.signal.addEventListener("abort", () => aborted.push(name));
        return new Promise(() => undefined);
      });
    }
    s.registerTool("echo", {}, async () => {
      echoed++;
      return { content: [{ type: "text", text: "echo" }] };
    });
    // Whatever arrives as a notification the server has no handler for lands here: a
    // request method relayed without id would show up.
    s.server.fallbackNotificationHandler = async (n) => {
      strayNotifications.push(n.method);
    };
    return s;
  }

  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [{ name: "slowpoke", server: upstream, timeoutMs: 30_000 }],
      apiKeys: { k: "g" },
      policy: compilePolicy({
        version: "1",
        default: "allow",
        tools: {
          hang: { limits: [{ counter: "hang_rate", window: "hour", max: 1 }] },
          hang_fast: {
            timeoutMs: 2_000,
            limits: [{ counter: "fast_rate", window: "hour", max: 1 }],
          },
        },
      }),
      onDecision: (e) => events.push(e),
      onRefused: (e) => refused.push(e),
      now: time.clock,
      scheduler: time,
    });
  });
  afterAll(async () => gw?.stop());

  it("times out a hung upstream: cancels it there, rolls back, names the upstream", async () => {
    const { client } = await connect(gw.url, "k");
    const call = client.callTool({ name: "hang", arguments: {} }).catch((e: Error) => e);
    await until(() => started.includes("hang"));
    time.advance(29_999);
    expect(aborted).not.toContain("hang");
    time.advance(1);
    const err = (await call) as Error & { code?: number };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(-32001);
    expect(err.message).toContain("upstream slowpoke did not answer tools/call within 30 s");
    await until(() => aborted.includes("hang"));
    expect(events.at(-1)).toMatchObject({ tool: "hang", outcome: "upstream_timeout" });
    // The reservation was rolled back: the one call per hour is still available.
    started.length = 0;
    const again = client.callTool({ name: "hang", arguments: {} }).catch((e: Error) => e);
    await until(() => started.includes("hang"));
    time.advance(30_000);
    expect(((await again) as { code?: number }).code).toBe(-32001);
    expect(gw.gw.inFlight()).toBe(0);
    await client.close();
  });

  it("a tool's policy timeoutMs overrides the upstream's", async () => {
    const { client } = await connect(gw.url, "k");
    const call = client.callTool({ name: "hang_fast", arguments: {} }).catch((e: Error) => e);
    await until(() => started.includes("hang_fast"));
    time.advance(2_000);
    expect((await call).message).toContain("within 2 s");
    expect(events.at(-1)).toMatchObject({ tool: "hang_fast", outcome: "upstream_timeout" });
    await client.close();
  });

  it("notifications/cancelled from the client cancels upstream and rolls back as `cancelled`", async () => {
    const { client } = await connect(gw.url, "k");
    aborted.length = 0;
    started.length = 0;
    const ac = new AbortController();
    const call = client
      .callTool({ name: "hang_fast", arguments: {} }, undefined, { signal: ac.signal })
      .catch((e: Error) => e);
    await until(() => started.includes("hang_fast"));
    ac.abort();
    await call;
    await until(() => aborted.includes("hang_fast") && gw.gw.inFlight() === 0);
    expect(events.at(-1)).toMatchObject({ tool: "hang_fast", outcome: "cancelled" });
    // Rolled back: max 1 per hour, and the next call is admitted (and times out).
    started.length = 0;
    const next = client.callTool({ name: "hang_fast", arguments: {} }).catch((e: Error) => e);
    await until(() => started.includes("hang_fast"));
    time.advance(2_000);
    await next;
    await client.close();
  });

  it("a client that disconnects before a JSON answer gets its call cancelled and rolled back", async () => {
    const init = await post(gw.url, initBody("dropper"), { authorization: "Bearer k" });
    const sid = init.headers.get("mcp-session-id") as string;
    await init.text();
    const h = { authorization: "Bearer k", "mcp-session-id": sid };
    await (
      await post(gw.url, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }), h)
    ).text();
    aborted.length = 0;
    started.length = 0;
    const ac = new AbortController();
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: { name: "hang", arguments: {} },
    });
    const pending = fetch(gw.url, {
      method: "POST",
      headers: {
        ...h,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body,
      signal: ac.signal,
    }).catch((e: Error) => e);
    await until(() => started.includes("hang"));
    ac.abort();
    await pending;
    await until(() => aborted.includes("hang") && gw.gw.inFlight() === 0);
    expect(events.at(-1)).toMatchObject({ tool: "hang", outcome: "cancelled" });
  });

  it("never relays a request method sent without an id, answers -32600 and reports it", async () => {
    const { client, transport } = await connect(gw.url, "k");
    const sid = transport.sessionId as string;
    const h = { authorization: "Bearer k", "mcp-session-id": sid };
    refused.length = 0;
    strayNotifications.length = 0;
    const before = echoed;
    for (const method of REQUEST_METHODS) {
      const params =
        method === "tools/call"
          ? { name: "echo", arguments: { amount: 1e9 } }
          : method === "resources/read"
            ? { uri: "file:///etc/passwd" }
            : {};
      const r = await post(gw.url, JSON.stringify({ jsonrpc: "2.0", method, params }), h);
      expect(r.status, method).toBe(400);
      const b = (await r.json()) as { id: unknown; error: { code: number; message: string } };
      expect(b.error.code).toBe(-32600);
      expect(b.error.message).toContain(`${method} is a request and needs an id`);
    }
    expect(refused.map((e) => e.method)).toEqual([...REQUEST_METHODS]);
    expect(refused[0]).toMatchObject({ grant: "g", session: sid, code: "request_as_notification" });
    // A real notification still passes, proving the path to the upstream is open.
    await (
      await post(
        gw.url,
        JSON.stringify({ jsonrpc: "2.0", method: "notifications/x-custom", params: {} }),
        h,
      )
    ).text();
    await until(() => strayNotifications.length > 0);
    expect(strayNotifications).toEqual(["notifications/x-custom"]);
    expect(echoed).toBe(before);
    await client.close();
  });
});

describe("sessions per grant", () => {
  let gw: RunningGateway;
  const releases: Array<() => void> = [];
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [
        {
          name: "up",
          server: () => {
            const s = new McpServer({ name: "up", version: "1.0.0" });
            s.registerTool("wait", {}, async () => {
              await new Promise<void>((r) => {
                releases.push(r);
              });
              return { content: [{ type: "text", text: "done" }] };
            });
            return s;
          },
        },
      ],
      apiKeys: { k: "g", other: "h" },
      policy: compilePolicy({ version: "1", default: "allow" }),
      maxSessionsPerGrant: 2,
    });
  });
  afterAll(async () => gw?.stop());

  it("closes the least recently used idle session at the cap, refuses when all are busy", async () => {
    const a = await connect(gw.url, "k");
    const b = await connect(gw.url, "k");
    await b.client.ping();
    // A third session of the grant: the idle one used least recently (a) makes room.
    const c = await connect(gw.url, "k");
    await expect(a.client.ping()).rejects.toThrow();
    expect(gw.gw.sessions().filter((s) => s.grant === "g")).toHaveLength(2);
    // Another grant is not affected by g's cap.
    const other = await connect(gw.url, "other");
    await other.client.ping();
    // Both sessions busy: the next initialize is refused, naming the cap.
    const pb = b.client.callTool({ name: "wait", arguments: {} });
    await until(() => releases.length === 1);
    const pc = c.client.callTool({ name: "wait", arguments: {} });
    await until(() => releases.length === 2);
    const r = await post(gw.url, initBody("flood"), { authorization: "Bearer k" });
    expect(r.status).toBe(429);
    const body = (await r.json()) as { id: unknown; error: { message: string } };
    expect(body.id).toBe(1);
    expect(body.error.message).toContain("2 open sessions (maxSessionsPerGrant)");
    for (const r of releases) r();
    await Promise.all([pb, pc]);
    await Promise.all([b.client.close(), c.client.close(), other.client.close()]);
  });
});

describe("failed authentication throttle", () => {
  const time = new FakeTime();
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [{ name: "up", server: () => new McpServer({ name: "up", version: "1" }) }],
      apiKeys: { "good-key": "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
      authThrottle: { freeFailures: 3, baseMs: 1_000, maxMs: 8_000 },
      now: time.clock,
      scheduler: time,
    });
  });
  afterAll(async () => gw?.stop());

  const tryKey = async (key: string) => {
    const r = await post(gw.url, initBody("guesser"), { authorization: `Bearer ${key}` });
    await r.text();
    return { status: r.status, retryAfter: r.headers.get("retry-after") };
  };

  it("answers 429 with an exponential Retry-After after the free failures, then lets the user in", async () => {
    for (let i = 0; i < 3; i++) expect((await tryKey(`wrong-${i}`)).status).toBe(401);
    // The 4th failure is still checked (401) and blocks the address for 1 s.
    expect((await tryKey("wrong-3")).status).toBe(401);
    // Blocked: even the right key is not looked at (a guess learns nothing).
    expect(await tryKey("good-key")).toEqual({ status: 429, retryAfter: "1" });
    time.advance(1_000);
    expect((await tryKey("wrong-4")).status).toBe(401);
    expect(await tryKey("wrong-5")).toEqual({ status: 429, retryAfter: "2" });
    time.advance(2_000);
    // The real user gets in as soon as the wait is over, and that clears the record.
    expect((await tryKey("good-key")).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await tryKey(`again-${i}`)).status).toBe(401);
  });

  it("is per address and capped, so an attacker cannot lock anyone else out", () => {
    let t = 0;
    const th = new AuthThrottle({ freeFailures: 2, baseMs: 1_000, maxMs: 5_000, now: () => t });
    for (let i = 0; i < 50; i++) th.failed("10.0.0.66");
    expect(th.blockedFor("10.0.0.66")).toBe(5_000);
    expect(th.blockedFor("10.0.0.7")).toBe(0);
    t += 5_000;
    expect(th.blockedFor("10.0.0.66")).toBe(0);
    const small = new AuthThrottle({ maxAddresses: 3, now: () => t });
    for (let i = 0; i < 10; i++) small.failed(`192.0.2.${i}`);
    expect(small.size).toBe(3);
  });
});

describe("tools/list result fields", () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    const make = (prefix: string, ttlMs: number) => () => {
      const s = new McpServer({ name: prefix, version: "1" }, { capabilities: { tools: {} } });
      s.server.setRequestHandler(ListToolsRequestSchema, async () => ({
        tools: [{ name: `${prefix}_tool`, inputSchema: { type: "object" as const } }],
        ttlMs,
        cacheScope: "session",
        _meta: { [`${prefix}/hint`]: true },
      }));
      return s;
    };
    gw = await startGateway({
      upstreams: [
        { name: "a", server: make("a", 30_000) },
        { name: "b", server: make("b", 5_000) },
      ],
      apiKeys: { k: "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
  });
  afterAll(async () => gw?.stop());

  it("keeps ttlMs (the smallest), fields all upstreams agree on, and merged _meta", async () => {
    const { client, transport } = await connect(gw.url, "k");
    const r = await post(gw.url, JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" }), {
      authorization: "Bearer k",
      "mcp-session-id": transport.sessionId as string,
    });
    const body = (await r.json()) as { result: Record<string, unknown> };
    expect(body.result).toEqual({
      tools: [
        { name: "a_tool", inputSchema: { type: "object" } },
        { name: "b_tool", inputSchema: { type: "object" } },
      ],
      ttlMs: 5_000,
      cacheScope: "session",
      _meta: { "a/hint": true, "b/hint": true },
    });
    await client.close();
  });
});

describe("store outage denials", () => {
  it("tell the agent the store is unavailable, never its address or driver error", () => {
    const r = deniedResult(
      {
        id: "d1",
        effect: "deny",
        code: "STORE_UNAVAILABLE",
        reason: "limit store unavailable; retry in 1s",
        ruleId: "tools.t.limits[0]",
        retryAfterMs: 1000,
        policyVersion: "sha256:x",
        tool: "t",
        degraded: {
          mode: "fail_closed",
          store: "redis",
          reason:
            "limit store unavailable: not connected to Redis (connect ECONNREFUSED 127.0.0.1:6390)",
        },
        decideUs: 1,
      },
      "limit store unavailable; retry in 1s",
    );
    const text = JSON.stringify(r);
    expect(text).not.toContain("ECONNREFUSED");
    expect(text).not.toContain("6390");
    expect(r._meta).toMatchObject({
      "toolgate/decision": { degraded: { mode: "fail_closed", store: "redis" } },
    });
  });
});
