import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  type EventStore,
  StreamableHTTPServerTransport,
} from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { compilePolicy } from "@toolgate/policy-engine";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type RunningGateway, startGateway } from "./harness.js";

/** Minimal event store so the upstream supports resumption. */
class MemoryEvents implements EventStore {
  private readonly events: Array<{ id: string; stream: string; message: JSONRPCMessage }> = [];
  async storeEvent(stream: string, message: JSONRPCMessage): Promise<string> {
    const id = randomUUID();
    this.events.push({ id, stream, message });
    return id;
  }
  async replayEventsAfter(
    last: string,
    { send }: { send: (id: string, m: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const i = this.events.findIndex((e) => e.id === last);
    const stream = this.events[i]?.stream ?? "";
    for (const e of this.events.slice(i + 1)) if (e.stream === stream) await send(e.id, e.message);
    return stream;
  }
}

describe("Streamable HTTP upstream that closes its SSE stream mid-call", () => {
  let upstream: Server;
  let gw: RunningGateway;
  beforeAll(async () => {
    const transports = new Map<string, StreamableHTTPServerTransport>();
    const app = express();
    app.use(express.json());
    app.all("/mcp", async (req, res) => {
      const sid = req.headers["mcp-session-id"];
      let t = typeof sid === "string" ? transports.get(sid) : undefined;
      if (!t) {
        const server = new McpServer({ name: "polling", version: "1.0.0" });
        server.registerTool("polled", {}, async (extra) => {
          const token = extra._meta?.progressToken;
          const progress = async (n: number): Promise<void> => {
            if (token === undefined) return;
            await extra.sendNotification({
              method: "notifications/progress",
              params: { progressToken: token, progress: n, total: 2 },
            });
          };
          await progress(1);
          // Drop the POST stream: the gateway must resume it with Last-Event-ID.
          extra.closeSSEStream?.();
          await new Promise((r) => setTimeout(r, 30));
          await progress(2);
          return { content: [{ type: "text", text: "survived the drop" }] };
        });
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: randomUUID,
          eventStore: new MemoryEvents(),
          retryInterval: 1,
          onsessioninitialized: (id) => {
            transports.set(id, created);
          },
        });
        await server.connect(created);
        t = created;
      }
      await t.handleRequest(req, res, req.body);
    });
    upstream = await new Promise<Server>((r) => {
      const s = app.listen(0, "127.0.0.1", () => r(s));
    });
    gw = await startGateway({
      upstreams: [
        {
          name: "polling",
          url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`,
        },
      ],
      apiKeys: { k: "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
  });
  afterAll(async () => {
    await gw?.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it("resumes the upstream stream and delivers the rest to the client", async () => {
    const { client } = await connect(gw.url, "k");
    const seen: number[] = [];
    const r = await client.callTool({ name: "polled", arguments: {} }, undefined, {
      onprogress: (p) => seen.push(p.progress),
    });
    expect(r.content).toEqual([{ type: "text", text: "survived the drop" }]);
    expect(seen).toEqual([1, 2]);
    await client.close();
  });
});

describe("Streamable HTTP upstream that dies mid-stream", () => {
  let upstream: Server;
  let gw: RunningGateway;
  let calls = 0;
  let initializes = 0;
  /** When set, initialize answers late, and other requests meanwhile are refused (400). */
  let slowInit = false;
  let initializing = false;
  beforeAll(async () => {
    const app = express();
    app.use(express.json());
    app.get("/mcp", (_req, res) => {
      res.status(405).end();
    });
    app.delete("/mcp", (_req, res) => {
      res.status(200).end();
    });
    app.post("/mcp", (req, res) => {
      const m = req.body as { id?: number; method: string; params?: { name?: string } };
      if (m.id === undefined) {
        res.status(202).end();
        return;
      }
      const reply = (result: unknown): void => {
        res.set("mcp-session-id", "fixed").json({ jsonrpc: "2.0", id: m.id, result });
      };
      if (m.method === "initialize") {
        initializes++;
        initializing = slowInit;
        setTimeout(
          () => {
            initializing = false;
            reply({
              protocolVersion: "2025-11-25",
              capabilities: { tools: {} },
              serverInfo: { name: "dies", version: "1" },
            });
          },
          slowInit ? 300 : 0,
        );
      } else if (initializing) {
        res.status(400).json({
          jsonrpc: "2.0",
          id: null,
          error: { code: -32000, message: "Server not initialized" },
        });
      } else if (m.method === "tools/list") {
        reply({
          tools: [
            { name: "boom", inputSchema: { type: "object" } },
            { name: "forget", inputSchema: { type: "object" } },
            { name: "fine", inputSchema: { type: "object" } },
          ],
        });
      } else if (m.params?.name === "fine") {
        reply({ content: [{ type: "text", text: "fine" }] });
      } else if (m.params?.name === "forget") {
        res.status(404).json({
          jsonrpc: "2.0",
          id: null,
          error: { code: -32001, message: "Session not found" },
        });
      } else {
        calls++;
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(
          `data: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "about to die" } })}\n\n`,
        );
        setTimeout(() => res.destroy(), 5);
      }
    });
    upstream = await new Promise<Server>((r) => {
      const s = app.listen(0, "127.0.0.1", () => r(s));
    });
    gw = await startGateway({
      upstreams: [
        { name: "dies", url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp` },
      ],
      apiKeys: { k: "g" },
      policy: compilePolicy({
        version: "1",
        default: "deny",
        tools: {
          boom: { limits: [{ counter: "boom", window: "hour", max: 1, scope: "grant" }] },
          forget: {},
          fine: {},
        },
      }),
    });
  });
  afterAll(async () => {
    await gw?.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it("fails the call instead of hanging, and the failed call costs no quota", async () => {
    const { client } = await connect(gw.url, "k");
    for (let i = 0; i < 2; i++) {
      await expect(client.callTool({ name: "boom", arguments: {} })).rejects.toThrow(
        /upstream failed/,
      );
    }
    expect(calls).toBe(2);
    expect(gw.gw.inFlight()).toBe(0);
    await client.close();
  });

  it("keeps the client session when the upstream forgets its session, and opens a new one upstream", async () => {
    const { client, transport } = await connect(gw.url, "k");
    const sid = transport.sessionId!;
    const before = initializes;
    slowInit = true;
    // The call that met the forgotten session fails (the upstream never ran it)...
    await expect(client.callTool({ name: "forget", arguments: {} })).rejects.toThrow(
      /upstream dies: (connection closed|HTTP 404)/,
    );
    // ...and the link initializes again by itself: the same client session works on.
    // Calls made while it reconnects fail naming the upstream: never as an unknown tool,
    // and never sent on the new connection before it is initialized.
    const errors: string[] = [];
    let r: Awaited<ReturnType<typeof client.callTool>> | undefined;
    for (let i = 0; i < 200 && !r; i++) {
      r = await client.callTool({ name: "fine", arguments: {} }).catch((e: Error) => {
        errors.push(e.message);
        return undefined;
      });
      if (!r) await new Promise((ok) => setTimeout(ok, 5));
    }
    expect(r?.content).toEqual([{ type: "text", text: "fine" }]);
    for (const e of errors) expect(e).toMatch(/upstream dies (is not connected|: )/);
    slowInit = false;
    expect(initializes).toBeGreaterThan(before);
    expect(gw.gw.sessions().map((x) => x.id)).toContain(sid);
    expect(gw.gw.upstreamHealth()).toEqual([{ name: "dies", ok: true }]);
    await client.close();
  });
});
