/**
 * The upstream MCP server of the reliability suite, run as its own process so a test can
 * kill and restart it: over Streamable HTTP (`--http PORT`, stateful sessions, so a
 * restart really forgets them) or over stdio (`--stdio`, spawned by the gateway).
 *
 * It records every call it executes: over HTTP `GET /stats` answers
 * `{ calls: { [id]: count }, pid }`; over stdio each call is appended as a line to the
 * file named by `FIXTURE_CALLS_FILE`, and the pid to `FIXTURE_PIDS_FILE`, so a test can
 * prove each admitted call ran exactly once and find the process to kill.
 *
 * Tools:
 * - `work { id, fail?, delayMs? }`: answers `done:<id>`; `fail: true` answers a JSON-RPC
 *   error instead (the gateway must roll the reservation back).
 * - `echo { text }`: answers the text.
 */
import { randomUUID } from "node:crypto";
import { appendFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const { values } = parseArgs({
  options: {
    http: { type: "string" },
    stdio: { type: "boolean" },
    token: { type: "string" },
  },
});

const calls = new Map<string, number>();
/** `hang` calls received, and the ones the gateway then cancelled (by id). */
const hung: string[] = [];
const cancelled: string[] = [];
const callsFile = process.env.FIXTURE_CALLS_FILE;
const pidsFile = process.env.FIXTURE_PIDS_FILE;
if (pidsFile) appendFileSync(pidsFile, `${process.pid}\n`);

function build(): McpServer {
  const server = new McpServer({ name: "reliability-fixture", version: "1.0.0" });
  server.registerTool(
    "work",
    {
      description: "does a unit of work and says which",
      inputSchema: { id: z.string(), fail: z.boolean().optional(), delayMs: z.number().optional() },
    },
    // `fail: true` never gets here: see the tools/call handler below.
    async ({ id, delayMs }) => {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      calls.set(id, (calls.get(id) ?? 0) + 1);
      if (callsFile) appendFileSync(callsFile, `${id}\n`);
      return { content: [{ type: "text", text: `done:${id}` }] };
    },
  );
  // A hung upstream: never answers; records that the call arrived and whether the gateway
  // cancelled it (notifications/cancelled aborts the handler's signal).
  server.registerTool(
    "hang",
    { description: "never answers", inputSchema: { id: z.string() } },
    ({ id }, extra) =>
      new Promise(() => {
        hung.push(id);
        extra.signal.addEventListener("abort", () => cancelled.push(id));
      }),
  );
  server.registerTool(
    "echo",
    { description: "echoes", inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  // McpServer turns whatever a tool throws into an `isError` result, which the gateway
  // rightly counts as a call that ran. `work { fail: true }` must reach it as a JSON-RPC
  // error (the case where it rolls the reservation back), so it is answered here, ahead
  // of McpServer's own tools/call handler, which gets every other call.
  type Handler = (request: unknown, extra: unknown) => Promise<unknown>;
  const own = (server.server as unknown as { _requestHandlers: Map<string, Handler> })
    ._requestHandlers;
  const toolsCall = own.get("tools/call");
  if (!toolsCall) throw new Error("McpServer installed no tools/call handler");
  server.server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const a = request.params.arguments ?? {};
    if (request.params.name === "work" && a.fail === true) {
      const delayMs = typeof a.delayMs === "number" ? a.delayMs : 0;
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      throw new McpError(-32000, `work ${String(a.id)} failed upstream`);
    }
    return (await toolsCall(request, extra)) as { content: [] };
  });
  return server;
}

if (values.stdio) {
  await build().connect(new StdioServerTransport());
} else {
  const port = Number(values.http ?? 0);
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === "/stats") {
      return json(res, 200, {
        calls: Object.fromEntries(calls),
        hung,
        cancelled,
        sessions: transports.size,
        pid: process.pid,
      });
    }
    // The gateway forwards its own upstream credentials; a missing one is a 401 here.
    if (values.token && req.headers.authorization !== `Bearer ${values.token}`) {
      return json(res, 401, { error: "unauthorized" });
    }
    const sid = req.headers["mcp-session-id"];
    if (typeof sid === "string") {
      const t = transports.get(sid);
      if (!t)
        return json(res, 404, {
          jsonrpc: "2.0",
          id: null,
          error: { code: -32001, message: "Session not found" },
        });
      return t.handleRequest(req, res);
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (id) => {
        transports.set(id, transport);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) transports.delete(transport.sessionId);
    };
    await build().connect(transport);
    await transport.handleRequest(req, res);
  };
  const http = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(e) });
    });
  });
  http.listen(port, "127.0.0.1", () => {
    const addr = http.address();
    const p = typeof addr === "object" && addr ? addr.port : port;
    process.stdout.write(`fixture listening http://127.0.0.1:${p}/mcp\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
