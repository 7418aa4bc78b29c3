/**
 * A small load generator for the concurrent part of the gateway benchmark: raw JSON-RPC
 * POSTs over keep-alive sockets. The SDK client would spend more CPU per call than the
 * gateway does, and this process shares two cores with the servers it measures.
 */
import { Agent, request } from "node:http";

const PROTOCOL_VERSION = "2025-11-25";

/** One MCP endpoint with an open session (or none, for a stateless upstream). */
export interface LoadTarget {
  readonly port: number;
  readonly headers: Record<string, string>;
  readonly agent: Agent;
}

interface Reply {
  status: number;
  text: string;
  sessionId: string | undefined;
}

function post(t: LoadTarget, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: t.port,
        path: "/mcp",
        method: "POST",
        agent: t.agent,
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "content-length": Buffer.byteLength(body),
          ...t.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const sid = res.headers["mcp-session-id"];
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
            sessionId: typeof sid === "string" ? sid : undefined,
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Initializes a session on `port` with up to `sockets` keep-alive connections. A stateless
 * server answers without a session id; calls then go without one.
 */
export async function openTarget(
  port: number,
  auth: Record<string, string>,
  sockets: number,
): Promise<LoadTarget> {
  const headers: Record<string, string> = { ...auth };
  const t: LoadTarget = {
    port,
    headers,
    agent: new Agent({ keepAlive: true, maxSockets: sockets }),
  };
  const init = await post(
    t,
    JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: "bench", version: "1" },
      },
    }),
  );
  if (init.status !== 200) throw new Error(`initialize failed: HTTP ${init.status} ${init.text}`);
  if (init.sessionId !== undefined) headers["mcp-session-id"] = init.sessionId;
  headers["mcp-protocol-version"] = PROTOCOL_VERSION;
  await post(t, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  return t;
}

/** Throughput and latency of one batch of calls. */
export interface LoadStats {
  readonly calls: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * Sends `calls` `tools/call echo` requests with `concurrency` in flight. Any answer other
 * than the upstream's "ok" (an error, a denial) stops the benchmark: a refused call is
 * cheaper than a forwarded one and would flatter the gateway.
 */
export async function runLoad(
  t: LoadTarget,
  concurrency: number,
  calls: number,
): Promise<LoadStats> {
  const latencies: number[] = [];
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < calls) {
      const id = ++started;
      const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"i":${id}}}}`;
      const t0 = process.hrtime.bigint();
      const r = await post(t, body);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (r.status !== 200 || !r.text.includes('"text":"ok"') || r.text.includes('"isError":true'))
        throw new Error(`unexpected answer: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { calls, rps: calls / seconds, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}
