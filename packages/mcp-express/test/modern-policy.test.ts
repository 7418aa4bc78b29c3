/**
 * Policy is the same on all four paths through the gateway — 2025 client to 2025
 * upstream, 2026 client to 2025 upstream (held session), 2026 client to 2026 upstream,
 * 2025 client to 2026 upstream (bridged) — with the seed fixtures: 10 creates a minute,
 * 60 keepalives a minute, default deny. Every answer (admitted or denied, the denial's
 * text, retry time and `toolgate/decision` `_meta`) and what the upstream ran must match.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from "@modelcontextprotocol/client";
import { toNodeHandler } from "@modelcontextprotocol/node";
import { McpServer as LegacyServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { createMcpHandler, McpServer as ModernServer } from "@modelcontextprotocol/server";
import { compilePolicy, type PolicyDocument } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { z as z3 } from "zod/v3";
import type { UpstreamConfig } from "../src/index.js";
import { FakeTime } from "./fake-time.js";
import { connect, type RunningGateway, startGateway } from "./harness.js";

const fixture = (name: string): PolicyDocument =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));

type Ran = Record<string, number>;
const TOOLS = [
  "binance_us_create_listen_key",
  "binance_us_keepalive_listen_key",
  "binance_us_close_listen_key",
];

function legacyUpstream(ran: Ran): () => LegacyServer {
  return () => {
    const s = new LegacyServer({ name: "legacy", version: "1.0.0" });
    for (const t of TOOLS) {
      s.registerTool(t, { inputSchema: { listenKey: z3.string().optional() } }, async () => {
        ran[t] = (ran[t] ?? 0) + 1;
        return { content: [{ type: "text", text: `${t} ok` }] };
      });
    }
    return s;
  };
}

async function modernUpstream(ran: Ran): Promise<{ url: string; server: Server }> {
  const handler = createMcpHandler(
    () => {
      const s = new ModernServer({ name: "modern", version: "2.0.0" });
      for (const t of TOOLS) {
        s.registerTool(
          t,
          { inputSchema: z.object({ listenKey: z.string().optional() }) },
          async () => {
            ran[t] = (ran[t] ?? 0) + 1;
            return { content: [{ type: "text", text: `${t} ok` }] };
          },
        );
      }
      return s;
    },
    { legacy: "reject" },
  );
  const node = toNodeHandler(handler);
  const server = createServer((req, res) => void node(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server };
}

interface AnyClient {
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<{
    isError?: boolean;
    content?: unknown;
    _meta?: Record<string, unknown>;
  }>;
  close(): Promise<void>;
}

async function client(era: "2025" | "2026", url: string, key: string): Promise<AnyClient> {
  if (era === "2025") return (await connect(url, key)).client as unknown as AnyClient;
  const c = new ModernClient({ name: "m", version: "1" }, { versionNegotiation: { mode: "auto" } });
  await c.connect(
    new ModernTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return c as unknown as AnyClient;
}

/** One answer, normalized: what the caller may rely on, without per-call ids and timing. */
function answer(r: Awaited<ReturnType<AnyClient["callTool"]>>) {
  const d = r._meta?.["toolgate/decision"] as Record<string, unknown> | undefined;
  const decision = d && { ...d, id: "-", decideUs: 0 };
  return { isError: r.isError ?? false, content: r.content, decision };
}

const PATHS = [
  { path: "2025 client -> 2025 upstream", client: "2025", upstream: "2025" },
  { path: "2026 client -> 2025 upstream", client: "2026", upstream: "2025" },
  { path: "2026 client -> 2026 upstream", client: "2026", upstream: "2026" },
  { path: "2025 client -> 2026 upstream", client: "2025", upstream: "2026" },
] as const;

describe("the seed policies give the same answers on all four paths", () => {
  const outcomes = new Map<string, unknown>();
  const servers: Server[] = [];
  const gateways: RunningGateway[] = [];

  beforeAll(async () => {
    for (const p of PATHS) {
      const ran: Ran = {};
      let up: UpstreamConfig;
      if (p.upstream === "2025") up = { name: "binance", server: legacyUpstream(ran) };
      else {
        const m = await modernUpstream(ran);
        servers.push(m.server);
        up = { name: "binance", url: m.url, protocol: "2026-07-28" };
      }
      const time = new FakeTime();
      const gw = await startGateway({
        upstreams: [up],
        apiKeys: { "create-key": "creator", "keepalive-key": "keeper" },
        policy: (grant) =>
          compilePolicy(
            fixture(
              grant === "creator"
                ? "binance-us-create-listen-key.json"
                : "binance-us-keepalive-listen-key.json",
            ),
          ),
        now: time.clock,
        scheduler: time,
      });
      gateways.push(gw);
      const creator = await client(p.client, gw.url, "create-key");
      const keeper = await client(p.client, gw.url, "keepalive-key");
      const seen: unknown[] = [];
      seen.push((await creator.listTools()).tools.map((t) => t.name));
      seen.push((await keeper.listTools()).tools.map((t) => t.name));
      const create = () => creator.callTool({ name: TOOLS[0]!, arguments: {} });
      const keep = () => keeper.callTool({ name: TOOLS[1]!, arguments: { listenKey: "k" } });
      for (let i = 0; i < 11; i++) seen.push(answer(await create()));
      time.advance(15_000);
      seen.push(answer(await create())); // still denied, 45 s left
      for (let i = 0; i < 61; i++) seen.push(answer(await keep()));
      seen.push(answer(await creator.callTool({ name: TOOLS[2]!, arguments: { listenKey: "k" } })));
      seen.push(answer(await keeper.callTool({ name: TOOLS[0]!, arguments: {} })));
      time.advance(45_000);
      seen.push(answer(await create())); // a new minute
      seen.push({ ran });
      outcomes.set(p.path, seen);
      await creator.close();
      await keeper.close();
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });

  it.each(PATHS.map((p) => [p.path]))("%s", (path) => {
    const base = outcomes.get(PATHS[0].path) as unknown[];
    const seen = outcomes.get(path) as unknown[];
    // The baseline itself is what the seed policies promise.
    const calls = base as Array<{ isError: boolean; decision?: { retryAfterMs?: number } }>;
    expect(calls.slice(2, 12).every((c) => !c.isError)).toBe(true);
    expect(calls[12]!.isError).toBe(true);
    expect(calls[12]!.decision?.retryAfterMs).toBe(60_000);
    expect(calls[13]!.decision?.retryAfterMs).toBe(45_000);
    expect(calls.slice(14, 74).every((c) => !c.isError)).toBe(true);
    expect(calls[74]!.isError).toBe(true);
    expect(calls[75]!.isError).toBe(true);
    expect(calls[76]!.isError).toBe(true);
    expect(calls[77]!.isError).toBe(false);
    expect(base.at(-1)).toEqual({
      ran: { binance_us_create_listen_key: 11, binance_us_keepalive_listen_key: 60 },
    });
    expect(seen).toEqual(base);
  });
});
