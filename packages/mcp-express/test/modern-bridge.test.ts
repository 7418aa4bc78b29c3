/**
 * Bridging to an MCP 2026-07-28 upstream (an SDK v2 server, stateless) and MRTR through
 * the gateway: the SDK v2 client with multi round-trip answers sealed by the gateway,
 * the SDK v1 (2025) client with the handshake, progress, cancellation, errors and input
 * requests translated, and forged/replayed/rebound `requestState` refused before
 * anything is decided or forwarded.
 */
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from "@modelcontextprotocol/client";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { compilePolicy, type PolicyDocument } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionEvent, RefusedEvent } from "../src/index.js";
import { FakeTime } from "./fake-time.js";
import { type ModernUpstream, startModernUpstream } from "./fixtures/modern-server.js";
import {
  connect,
  post,
  type RunningGateway,
  startEverythingHttp,
  startGateway,
} from "./harness.js";

const V = "2026-07-28";
const SECRET = "test-state-secret-0123456789abcdef";

const policies: Record<string, PolicyDocument> = {
  k: {
    version: "1",
    default: "allow",
    tools: {
      confirm: { limits: [{ counter: "confirms", window: "minute", max: 2, scope: "grant" }] },
    },
  },
};

async function modernClient(url: string, key: string): Promise<ModernClient> {
  const client = new ModernClient({ name: "modern", version: "1.0.0" }, {
    versionNegotiation: { mode: "auto" },
    capabilities: { elicitation: { form: {} } },
  } as never);
  (client as unknown as { setRequestHandler(m: string, h: () => unknown): void }).setRequestHandler(
    "elicitation/create",
    () => ({ action: "accept", content: { yes: true } }),
  );
  await client.connect(
    new ModernTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

const envelope = {
  "io.modelcontextprotocol/protocolVersion": V,
  "io.modelcontextprotocol/clientCapabilities": { elicitation: { form: {} } },
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
};

/** One raw 2026 `tools/call` through the gateway. */
async function rawCall(
  url: string,
  key: string,
  args: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  name = "confirm",
): Promise<{
  status: number;
  body: {
    result?: Record<string, unknown>;
    error?: { code: number; message: string; data?: unknown };
  };
}> {
  const r = await post(
    url,
    JSON.stringify({
      jsonrpc: "2.0",
      id: 9,
      method: "tools/call",
      params: { name, arguments: args, ...extra, _meta: envelope },
    }),
    {
      authorization: `Bearer ${key}`,
      "mcp-protocol-version": V,
      "mcp-method": "tools/call",
      "mcp-name": name,
    },
  );
  return { status: r.status, body: (await r.json()) as never };
}

const yes = { ok: { action: "accept", content: { yes: true } } };

describe("MCP 2026-07-28 upstream behind the gateway", () => {
  const time = new FakeTime();
  const events: DecisionEvent[] = [];
  const refused: RefusedEvent[] = [];
  let up: ModernUpstream;
  let gw: RunningGateway;
  beforeAll(async () => {
    up = await startModernUpstream();
    gw = await startGateway({
      upstreams: [{ name: "modern", url: up.url, protocol: "2026-07-28" }],
      apiKeys: { k: "k", other: "k2" },
      policy: (grant) => {
        const doc = policies[grant] ?? policies.k;
        return doc ? compilePolicy(doc) : undefined;
      },
      stateSecret: SECRET,
      stateTtlMs: 60_000,
      onDecision: (e) => events.push(e),
      onRefused: (e) => refused.push(e),
      now: time.clock,
      scheduler: time,
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await up?.stop();
  });

  it("SDK v2 client: lists, calls, gets progress, and completes an MRTR round through the gateway", async () => {
    const client = await modernClient(gw.url, "k");
    expect(client.getNegotiatedProtocolVersion()).toBe(V);
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(["add", "confirm", "fails", "slow"]);
    const progress: unknown[] = [];
    const r = await client.callTool({ name: "add", arguments: { a: 2, b: 5 } }, {
      onprogress: (p: unknown) => progress.push(p),
    } as never);
    expect(r.content).toEqual([{ type: "text", text: "7" }]);
    expect(progress).toEqual([{ progress: 1, total: 2, message: "half" }]);
    // The upstream saw the real client's envelope, not the gateway's.
    expect(up.log.envelopes.at(-1)).toMatchObject({
      "io.modelcontextprotocol/clientInfo": { name: "modern" },
    });
    const c = await client.callTool({ name: "confirm", arguments: { what: "deploy" } });
    expect(c.content).toEqual([{ type: "text", text: "deploy: done" }]);
    // The upstream got its own state back, unwrapped from the gateway's seal.
    expect(up.log.states.at(-1)).toBe("upstream-state:deploy");
    await client.close();
  });

  it("seals the upstream's requestState; a retry counts once; forged, rebound, replayed and expired states are refused untouched", async () => {
    events.length = 0;
    refused.length = 0;
    const first = await rawCall(gw.url, "other", { what: "x" });
    const result = first.body.result!;
    expect(result.resultType).toBe("input_required");
    const token = result.requestState as string;
    expect(token).toMatch(/^tgs1\./);
    expect(token).not.toContain("upstream-state");
    const runs = () => JSON.stringify(up.log.runs);
    const before = runs();
    const posts = up.log.posts;
    const refusedWith = async (
      args: Record<string, unknown>,
      state: unknown,
      key = "other",
    ): Promise<void> => {
      const r = await rawCall(gw.url, key, args, { inputResponses: yes, requestState: state });
      expect(r.body.error, JSON.stringify(r.body)).toMatchObject({
        code: -32602,
        data: { reason: "invalid_request_state" },
      });
    };
    await refusedWith({ what: "y" }, token); // other arguments
    await refusedWith({ what: "x" }, token, "k"); // other grant
    await refusedWith({ what: "x" }, `${token.slice(0, -3)}AAA`); // bad signature
    await refusedWith({ what: "x" }, "upstream-state:x"); // the bare upstream state
    await refusedWith({ what: "x" }, 42); // wrong type
    expect(runs()).toBe(before);
    expect(up.log.posts).toBe(posts);
    expect(refused.map((e) => e.reason)).toEqual([
      "requestState refused: binding_mismatch",
      "requestState refused: binding_mismatch",
      "requestState refused: bad_signature",
      "requestState refused: malformed",
      "requestState refused: malformed",
    ]);
    // The first round was decided and counted once; nothing since.
    expect(events.map((e) => e.outcome)).toEqual(["forwarded"]);
    const ok = await rawCall(
      gw.url,
      "other",
      { what: "x" },
      { inputResponses: yes, requestState: token },
    );
    expect(ok.body.result?.content).toEqual([{ type: "text", text: "x: done" }]);
    // The continuation is decided (by the rules) but takes no unit of the 2/min limit.
    expect(events.map((e) => e.outcome)).toEqual(["forwarded", "forwarded"]);
    expect(events[1]!.decision.limits).toBeUndefined();
    await refusedWith({ what: "x" }, token); // replay
    expect(refused.at(-1)!.reason).toBe("requestState refused: replayed");
    // Second call: its first round takes the second unit; the third is denied.
    const second = await rawCall(gw.url, "other", { what: "z" });
    expect(second.body.result?.resultType).toBe("input_required");
    const third = await rawCall(gw.url, "other", { what: "w" });
    expect(third.body.result?.isError).toBe(true);
    expect(JSON.stringify(third.body.result)).toMatch(/denied by policy/);
    // The second call's continuation still goes through (not counted again) — until its
    // state expires.
    const late = second.body.result!.requestState;
    time.advance(60_000);
    await refusedWith({ what: "z" }, late);
    expect(refused.at(-1)!.reason).toBe("requestState refused: expired");
  });

  it("SDK v1 (2025) client: handshake from server/discover, calls, progress, input requests bridged, errors, unbridgeable methods", async () => {
    const { client } = await connect(gw.url, "k", { elicitation: {} });
    expect(client.getServerVersion()).toMatchObject({ name: "modern-up" });
    // No subscriptions through the bridge: not advertised.
    expect(client.getServerCapabilities()?.resources).toBeUndefined();
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(["add", "confirm", "fails", "slow"]);
    const progress: unknown[] = [];
    const r = await client.callTool({ name: "add", arguments: { a: 1, b: 2 } }, undefined, {
      onprogress: (p) => progress.push(p),
    });
    expect(r.content).toEqual([{ type: "text", text: "3" }]);
    expect(progress).toEqual([{ progress: 1, total: 2, message: "half" }]);
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, (req) => {
      asked.push(req.params.message);
      return { action: "accept", content: { yes: true } };
    });
    time.advance(120_000); // a fresh minute for the confirm limit
    const c = await client.callTool({ name: "confirm", arguments: { what: "ship" } });
    expect(asked).toEqual(["really ship?"]);
    expect(c.content).toEqual([{ type: "text", text: "ship: done" }]);
    expect(up.log.states.at(-1)).toBe("upstream-state:ship");
    const failed = await client.callTool({ name: "fails", arguments: {} });
    expect(failed.isError).toBe(true);
    expect(JSON.stringify(failed.content)).toContain("upstream tool broke");
    await expect(
      client.request(
        { method: "resources/subscribe", params: { uri: "x://y" } },
        (await import("@modelcontextprotocol/sdk/types.js")).EmptyResultSchema,
      ),
    ).rejects.toThrow(/-32601|not available/);
    await client.close();
  });

  it("SDK v1 client without elicitation: the upstream's refusal reaches it, the call is not counted", async () => {
    events.length = 0;
    const { client } = await connect(gw.url, "other");
    time.advance(120_000);
    // The envelope carries the client's real capabilities: the upstream refuses itself.
    await expect(client.callTool({ name: "confirm", arguments: { what: "nope" } })).rejects.toThrow(
      /-32021/,
    );
    expect(events.map((e) => e.outcome)).toEqual(["upstream_error"]);
    await client.close();
  });

  it("SDK v1 client cancel: the upstream POST is aborted and the call rolled back", async () => {
    events.length = 0;
    const { client } = await connect(gw.url, "k");
    const aborted = up.log.aborted;
    const ac = new AbortController();
    const p = client.callTool({ name: "slow", arguments: {} }, undefined, { signal: ac.signal });
    await expect.poll(() => up.log.runs.slow ?? 0, { timeout: 5000 }).toBeGreaterThan(0);
    ac.abort("changed my mind");
    await expect(p).rejects.toThrow();
    await expect.poll(() => up.log.aborted, { timeout: 5000 }).toBe(aborted + 1);
    await expect.poll(() => events.map((e) => e.outcome), { timeout: 5000 }).toEqual(["cancelled"]);
    await client.close();
  });
});

describe('protocol: "auto" asks the upstream with server/discover', () => {
  let up: ModernUpstream;
  let legacy: { url: string; stop: () => Promise<void> };
  let gw: RunningGateway;
  beforeAll(async () => {
    up = await startModernUpstream();
    legacy = await startEverythingHttp();
    gw = await startGateway({
      upstreams: [
        { name: "modern", url: up.url, protocol: "auto" },
        { name: "everything", url: legacy.url, protocol: "auto" },
      ],
      apiKeys: { k: "k" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await up?.stop();
    await legacy?.stop();
  });

  it("speaks 2026 to the SDK v2 server and 2025 to server-everything, for a 2025 client", async () => {
    const { client } = await connect(gw.url, "k");
    const names = (await client.listTools()).tools.map((t) => t.name);
    // The SDK v2 server refuses 2025 traffic, so its tools are only there through 2026.
    expect(names).toEqual(expect.arrayContaining(["add", "confirm", "echo"]));
    const sum = await client.callTool({ name: "add", arguments: { a: 20, b: 22 } });
    expect(sum.content).toEqual([{ type: "text", text: "42" }]);
    const echo = await client.callTool({ name: "echo", arguments: { message: "via 2025" } });
    expect(JSON.stringify(echo.content)).toContain("via 2025");
    await client.close();
  });
});
