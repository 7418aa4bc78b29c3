/**
 * MCP 2026-07-28 clients to a 2025 upstream (an SDK v1 server) through the sessions the
 * gateway holds: progress and cancellation survive the bridge, a client that drops its
 * request cancels the upstream call and rolls its reservation back, and the held
 * sessions are swept when idle and capped in number (fake time, no sleeps).
 */
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from "@modelcontextprotocol/client";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { compilePolicy } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionEvent } from "../src/index.js";
import { FakeTime } from "./fake-time.js";
import { post, type RunningGateway, startGateway } from "./harness.js";

const V = "2026-07-28";

const seen = { opened: 0, closed: 0, hanging: 0, aborted: 0 };

function upstream(): McpServer {
  seen.opened++;
  const s = new McpServer({ name: "legacy", version: "1.0.0" });
  s.server.onclose = () => {
    seen.closed++;
  };
  s.registerTool("tick", { description: "reports progress" }, async (extra) => {
    const token = extra._meta?.progressToken;
    if (token !== undefined) {
      await extra.sendNotification({
        method: "notifications/progress",
        params: { progressToken: token, progress: 1, total: 1, message: "tock" },
      });
    }
    return { content: [{ type: "text", text: "ticked" }] };
  });
  const waitForCancel = (extra: { signal: AbortSignal }) => {
    seen.hanging++;
    return new Promise<{ content: Array<{ type: "text"; text: string }> }>((resolve) => {
      extra.signal.addEventListener("abort", () => {
        seen.aborted++;
        seen.hanging--;
        resolve({ content: [{ type: "text", text: "aborted" }] });
      });
    });
  };
  s.registerTool("hold", { description: "waits for its cancel, no limit" }, waitForCancel);
  s.registerTool("hang", { description: "waits for its cancel" }, (extra) => {
    seen.hanging++;
    return new Promise((resolve) => {
      extra.signal.addEventListener("abort", () => {
        seen.aborted++;
        seen.hanging--;
        resolve({ content: [{ type: "text", text: "aborted" }] });
      });
    });
  });
  return s;
}

function callBody(name: string, id = 1): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: {
      name,
      arguments: {},
      _meta: {
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": {},
      },
    },
  });
}

const headersFor = (user: string, name: string) => ({
  "x-user": user,
  "mcp-protocol-version": V,
  "mcp-method": "tools/call",
  "mcp-name": name,
});

describe("2026 clients through held sessions to a 2025 upstream", () => {
  const time = new FakeTime();
  const events: DecisionEvent[] = [];
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [{ name: "legacy", server: upstream }],
      identify: (req) => ({ grant: "g", sub: String(req.headers["x-user"] ?? "modern") }),
      policy: compilePolicy({
        version: "1",
        default: "allow",
        tools: { hang: { limits: [{ counter: "hangs", window: "hour", max: 1, scope: "grant" }] } },
      }),
      onDecision: (e) => events.push(e),
      maxHeldSessions: 2,
      heldSessionIdleMs: 10_000,
      now: time.clock,
      scheduler: time,
    });
  });
  afterAll(async () => gw?.stop());

  it("relays progress to the SDK v2 client with its own token", async () => {
    const client = new ModernClient(
      { name: "modern", version: "1.0.0" },
      { versionNegotiation: { mode: "auto" } },
    );
    await client.connect(new ModernTransport(new URL(gw.url)));
    const progress: unknown[] = [];
    const r = await client.callTool({ name: "tick", arguments: {} }, {
      onprogress: (p: unknown) => progress.push(p),
    } as never);
    expect(r.content).toEqual([{ type: "text", text: "ticked" }]);
    expect(progress).toEqual([{ progress: 1, total: 1, message: "tock" }]);
    await client.close();
  });

  it("a cancelled SDK v2 call cancels upstream and gives its unit back", async () => {
    events.length = 0;
    const client = new ModernClient(
      { name: "modern", version: "1.0.0" },
      { versionNegotiation: { mode: "auto" } },
    );
    await client.connect(new ModernTransport(new URL(gw.url)));
    const ac = new AbortController();
    const p = client.callTool({ name: "hang", arguments: {} }, { signal: ac.signal } as never);
    await expect.poll(() => seen.hanging, { timeout: 5000 }).toBe(1);
    ac.abort("enough");
    await expect(p).rejects.toThrow();
    await expect.poll(() => seen.aborted, { timeout: 5000 }).toBe(1);
    await expect.poll(() => events.map((e) => e.outcome), { timeout: 5000 }).toEqual(["cancelled"]);
    // The hour's only unit was rolled back: the next call is admitted (then dropped too).
    const raw = new AbortController();
    const again = fetch(gw.url, {
      method: "POST",
      headers: {
        ...headersFor("modern", "hang"),
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: callBody("hang"),
      signal: raw.signal,
    }).catch(() => undefined);
    await expect.poll(() => seen.hanging, { timeout: 5000 }).toBe(1);
    raw.abort();
    await again;
    await expect.poll(() => seen.aborted, { timeout: 5000 }).toBe(2);
    await expect
      .poll(() => events.map((e) => e.outcome), { timeout: 5000 })
      .toEqual(["cancelled", "cancelled"]);
    await client.close();
  });

  it("closes idle held sessions and caps how many are held", async () => {
    // Start from nothing held.
    time.advance(30_000);
    await expect.poll(() => seen.opened - seen.closed, { timeout: 5000 }).toBe(0);
    const opened = seen.opened;
    const tick = async (user: string) => {
      const r = await post(gw.url, callBody("tick"), headersFor(user, "tick"));
      return r.status;
    };
    const first = await post(gw.url, callBody("tick"), headersFor("a", "tick"));
    expect(first.status).toBe(200);
    // The held session is the gateway's own: no answer names it.
    expect(first.headers.get("mcp-session-id")).toBeNull();
    time.advance(1);
    expect(await tick("b")).toBe(200);
    expect(seen.opened - opened).toBe(2);
    // At the cap: the least recently used idle one (a) makes room for c.
    time.advance(1);
    expect(await tick("c")).toBe(200);
    expect(seen.opened - opened).toBe(3);
    await expect.poll(() => seen.opened - seen.closed, { timeout: 5000 }).toBe(2);
    // Idle past the limit: swept.
    time.advance(25_000);
    await expect.poll(() => seen.opened - seen.closed, { timeout: 5000 }).toBe(0);
  });

  it("refuses a new caller with 503 while every held session is busy", async () => {
    const holds = ["d", "e"].map((user) => {
      const ac = new AbortController();
      const done = fetch(gw.url, {
        method: "POST",
        headers: {
          ...headersFor(user, "hold"),
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: callBody("hold"),
        signal: ac.signal,
      }).catch(() => undefined);
      return { ac, done };
    });
    await expect.poll(() => seen.hanging, { timeout: 5000 }).toBe(2);
    const before = seen.opened;
    const r = await post(gw.url, callBody("tick"), headersFor("f", "tick"));
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { code: number; message: string } }).error).toMatchObject({
      code: -32603,
      message: expect.stringMatching(/too many callers/),
    });
    expect(seen.opened).toBe(before);
    for (const h of holds) h.ac.abort();
    await Promise.all(holds.map((h) => h.done));
    await expect.poll(() => seen.hanging, { timeout: 5000 }).toBe(0);
  });
});
