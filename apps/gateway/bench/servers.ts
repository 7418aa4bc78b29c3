/**
 * What the gateway benchmark runs, shared by the in-process part (`run.ts`) and the child
 * processes of the concurrent part (`child.ts`): an upstream MCP server with one `echo`
 * tool, and gateways configured the way the benchmark needs them.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import pino from "pino";
import { loadGatewayConfig } from "../src/config.js";
import { type RunningGateway, startGateway } from "../src/gateway.js";

/** The API key of the one grant every benchmark gateway has. */
export const BENCH_KEY = "bench-key-0123456789abcdef";

/** Policy with nothing to count: the gateway's cost without a store. */
export const POLICY_ONLY = 'version: "1"\ndefault: allow\n';

/**
 * As shipped: `echo` named explicitly with a limit so every call reserves and commits in
 * the store. The limit is far above what a run sends, so no call is ever refused.
 */
export const POLICY_WITH_LIMIT =
  'version: "1"\ndefault: deny\ntools:\n  echo:\n    limits: [{ counter: echo, window: hour, max: 1000000000 }]\n';

function upstreamServer(): McpServer {
  const server = new McpServer({ name: "bench-upstream", version: "1.0.0" });
  server.registerTool("echo", { description: "echo" }, async () => ({
    content: [{ type: "text", text: "ok" }],
  }));
  return server;
}

/** A listening upstream and how to stop it. */
export interface BenchUpstream {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Stateless upstream (a fresh server per request, as the SDK recommends for stateless
 * HTTP), so the direct client and every gateway talk to upstreams built the same way.
 */
export async function startUpstream(): Promise<BenchUpstream> {
  const http = createServer((req, res) => {
    const server = upstreamServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      // JSON answers, as the gateway gives for a plain call: compare like with like.
      enableJsonResponse: true,
    });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    void server.connect(transport).then(() => transport.handleRequest(req, res));
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    async close() {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

/** How one benchmark gateway is configured. */
export interface BenchGatewaySpec {
  readonly policy: string;
  readonly audit: boolean;
  /** `memory` or a `redis://` store line (with its own `prefix=`). */
  readonly store: string;
  readonly upstreamUrl: string;
}

/**
 * Writes a gateway folder (config + policy) into a fresh temporary directory and returns
 * it, so a gateway can be started from it here or in a child process.
 */
export function writeGatewayDir(spec: BenchGatewaySpec): string {
  const dir = mkdtempSync(join(tmpdir(), "tg-bench-"));
  writeFileSync(join(dir, "policy.yaml"), spec.policy);
  writeFileSync(
    join(dir, "toolgate.config.yaml"),
    // JSON strings are valid YAML scalars: the store line may end with ":" (a prefix).
    `upstreams: [{ name: up, url: ${JSON.stringify(spec.upstreamUrl)} }]\n` +
      `grants: { bench: { apiKey: ${BENCH_KEY}, policy: policy.yaml } }\n` +
      `store: ${JSON.stringify(spec.store)}\n` +
      `audit: { enabled: ${spec.audit}, path: .toolgate/audit.jsonl }\n`,
  );
  return dir;
}

/** Starts a gateway from a folder written by {@link writeGatewayDir}, on a free port. */
export function startGatewayIn(dir: string): Promise<RunningGateway> {
  const loaded = loadGatewayConfig({
    cwd: dir,
    env: { TOOLGATE_ADMIN_TOKEN: "bench-admin-token-0123" },
  });
  return startGateway({
    loaded,
    env: {},
    logger: pino({ level: "silent" }),
    listen: { host: "127.0.0.1", port: 0 },
  });
}
