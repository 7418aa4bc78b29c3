import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { type Logger, silentLogger } from "./logger.js";
import { BinanceUsMcpServer } from "./server.js";
import type { BinanceUsConnector } from "./tools.js";

/** A running Streamable HTTP endpoint for the Binance.US tools. */
export interface BinanceUsHttpServer {
  /** `http://host:port/mcp` */
  readonly url: string;
  readonly port: number;
  /** Stops accepting requests and closes every session (not the shared connector). */
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);
const MAX_BODY = 1 << 20;

/**
 * Serves the tools over MCP Streamable HTTP at `/mcp` with one `McpServer` per session,
 * all sharing one connector (one listen key per account). Uses `node:http` only. When bound
 * to a loopback address, requests whose `Host` is not a loopback name are refused
 * (DNS-rebinding protection).
 *
 * @example
 * ```ts
 * const http = await startBinanceUsHttpServer(createBinanceUsConnector(), { port: 3333 });
 * console.log(http.url);
 * ```
 */
export async function startBinanceUsHttpServer(
  connector: BinanceUsConnector,
  options: { host?: string; port?: number; logger?: Logger } = {},
): Promise<BinanceUsHttpServer> {
  const host = options.host ?? "127.0.0.1";
  const logger = options.logger ?? silentLogger;
  const sessions = new Map<
    string,
    { transport: StreamableHTTPServerTransport; server: BinanceUsMcpServer }
  >();
  const loopbackOnly = LOOPBACK.has(host);

  const reply = (res: ServerResponse, status: number, message: string) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://placeholder");
    if (url.pathname !== "/mcp") return reply(res, 404, "not found: the MCP endpoint is /mcp");
    if (loopbackOnly) {
      const hostname = (req.headers.host ?? "").replace(/:\d+$/, "");
      if (!LOOPBACK.has(hostname)) return reply(res, 403, "forbidden host");
    }
    const sessionId = req.headers["mcp-session-id"];
    const existing = typeof sessionId === "string" ? sessions.get(sessionId) : undefined;
    if (req.method === "POST") {
      const body = await readJson(req);
      if (body === undefined) return reply(res, 400, "invalid JSON body");
      if (existing) return existing.transport.handleRequest(req, res, body);
      if (sessionId !== undefined) return reply(res, 404, "unknown session: initialize again");
      if (!isInitializeRequest(body)) {
        return reply(res, 400, "no session: the first request must be initialize");
      }
      const server = new BinanceUsMcpServer(connector);
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, { transport, server });
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await server.connect(transport);
      return transport.handleRequest(req, res, body);
    }
    if (req.method === "GET" || req.method === "DELETE") {
      if (!existing) return reply(res, 404, "unknown session");
      return existing.transport.handleRequest(req, res);
    }
    res.setHeader("allow", "GET, POST, DELETE");
    return reply(res, 405, "method not allowed");
  };

  const http: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error("MCP HTTP request failed", {
        message: error instanceof Error ? error.message : String(error),
      });
      if (!res.headersSent) reply(res, 500, "internal error");
      else res.end();
    });
  });
  const port = await listen(http, options.port ?? 0, host);
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/mcp`,
    port,
    close: async () => {
      for (const { server } of [...sessions.values()]) await server.close();
      sessions.clear();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** Listens and resolves to the bound port. */
async function listen(http: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  return (http.address() as AddressInfo).port;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return undefined;
  }
}
