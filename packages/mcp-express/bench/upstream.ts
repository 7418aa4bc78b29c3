/**
 * Bench upstream: a minimal Streamable HTTP MCP server with an `echo` tool and JSON
 * responses, one SDK transport per session. Prints `PORT <n>` once listening.
 */
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express from "express";
import { z } from "zod";

const transports = new Map<string, StreamableHTTPServerTransport>();
const app = express();
app.use(express.json());
app.all("/mcp", async (req, res) => {
  const sid = req.headers["mcp-session-id"];
  let t = typeof sid === "string" ? transports.get(sid) : undefined;
  if (!t) {
    if (sid !== undefined) {
      res.status(404).end();
      return;
    }
    const server = new McpServer({ name: "bench-echo", version: "1.0.0" });
    server.registerTool("echo", { inputSchema: { message: z.string() } }, async ({ message }) => ({
      content: [{ type: "text", text: message }],
    }));
    const created = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      enableJsonResponse: true,
      onsessioninitialized: (id) => {
        transports.set(id, created);
      },
    });
    created.onclose = () => {
      if (created.sessionId) transports.delete(created.sessionId);
    };
    await server.connect(created);
    t = created;
  }
  await t.handleRequest(req, res, req.body);
});
const s = app.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${(s.address() as AddressInfo).port}\n`);
});

// Exit cleanly on SIGTERM so --cpu-prof (BENCH_CPU_PROF) can write its profile.
process.on("SIGTERM", () => process.exit(0));
