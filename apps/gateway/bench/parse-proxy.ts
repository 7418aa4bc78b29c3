/**
 * The least a proxy that reads JSON-RPC must do, as a second floor next to the bare proxy
 * (which reads nothing): parse each request, give it an id of its own, send it upstream
 * on an undici pool through the handler API (no body stream, no promise per chunk), parse
 * the answer, put the client's id back, and write it in one response. No policy, audit,
 * metrics, sessions or checks: the gateway's CPU per call above this one is what its
 * enforcement and protocol handling cost, below it is what any JSON-RPC-aware hop costs.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Dispatcher, Pool } from "undici";

/** A listening minimal proxy. */
export interface ParseProxy {
  readonly port: number;
  close(): Promise<void>;
}

/** Session headers passed through both ways (the rest are the proxy's own). */
const PASSED = ["mcp-session-id", "mcp-protocol-version"] as const;

function relay(pool: Pool, req: IncomingMessage, res: ServerResponse, text: string): void {
  const msg = JSON.parse(text) as { id?: unknown };
  const clientId = msg.id;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  for (const h of PASSED) {
    const v = req.headers[h];
    if (typeof v === "string") headers[h] = v;
  }
  if (clientId !== undefined) msg.id = nextId++;
  const chunks: Buffer[] = [];
  let status = 0;
  const back: Record<string, string> = {};
  const handler: Dispatcher.DispatchHandler = {
    onConnect() {},
    onHeaders(code, raw) {
      status = code;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const k = raw[i]!.toString("latin1").toLowerCase();
        if (k === "mcp-session-id") back[k] = raw[i + 1]!.toString("latin1");
      }
      return true;
    },
    onData(chunk) {
      chunks.push(chunk);
      return true;
    },
    onComplete() {
      const body = chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString();
      let out = body;
      if (clientId !== undefined && body.length > 0) {
        const answer = JSON.parse(body) as { id?: unknown };
        answer.id = clientId;
        out = JSON.stringify(answer);
      }
      back["content-type"] = "application/json";
      back["content-length"] = String(Buffer.byteLength(out));
      res.writeHead(status, back).end(out);
    },
    onError() {
      res.destroy();
    },
  };
  pool.dispatch(
    { path: req.url ?? "/", method: "POST", headers, body: JSON.stringify(msg) },
    handler,
  );
}

let nextId = 1;

/** Starts the proxy on a free port in front of `127.0.0.1:<target>` (POST only). */
export async function startParseProxy(target: number): Promise<ParseProxy> {
  const pool = new Pool(`http://127.0.0.1:${target}`, { connections: 256, pipelining: 1 });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString();
      try {
        relay(pool, req, res, text);
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await pool.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
