import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { UpstreamConfig } from "@toolgate/mcp-express";
import pino from "pino";
import { loadGatewayConfig } from "../../src/config.js";
import { type BuiltinFactory, type RunningGateway, startGateway } from "../../src/gateway.js";

export const API_KEY = "test-api-key-0123456789";
export const ADMIN_TOKEN = "test-admin-token-0123456789";

/** Collects log lines in memory so tests can assert on them (and keep output quiet). */
export function memoryLogger() {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, dest), lines };
}

export interface TestGateway {
  gw: RunningGateway;
  dir: string;
  logs: string[];
  connect(key?: string, capabilities?: Record<string, unknown>): Promise<Client>;
  close(): Promise<void>;
}

/** Starts a gateway on port 0 from a config YAML written to a temp folder. */
export async function startTestGateway(opts: {
  config?: string;
  files?: Record<string, string>;
  env?: Record<string, string>;
  extraUpstreams?: UpstreamConfig[];
  builtins?: BuiltinFactory;
  /** The gateway's clock (tests that move time). */
  now?: () => number;
}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), "toolgate-gw-"));
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text);
  if (opts.config !== undefined) writeFileSync(join(dir, "toolgate.config.yaml"), opts.config);
  const env = {
    TOOLGATE_API_KEY: API_KEY,
    TOOLGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    ...opts.env,
  };
  const loaded = loadGatewayConfig({ cwd: dir, env });
  loaded.config.audit.path = join(dir, "audit.jsonl");
  const { logger, lines } = memoryLogger();
  const gw = await startGateway({
    loaded,
    env,
    logger,
    extraUpstreams: opts.extraUpstreams,
    builtins: opts.builtins,
    listen: { host: "127.0.0.1", port: 0 },
    ...(opts.now ? { now: opts.now } : {}),
  });
  const clients: Client[] = [];
  return {
    gw,
    dir,
    logs: lines,
    async connect(key = API_KEY, capabilities = {}) {
      const client = new Client({ name: "test", version: "1.0.0" }, { capabilities });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(gw.mcpUrl), {
          requestInit: { headers: { Authorization: `Bearer ${key}` } },
        }),
      );
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await gw.close();
    },
  };
}

/** The text of a CallToolResult. */
export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content.map((c) => c.text ?? "").join("\n");
}

/** `--import <tsx loader>` that works whatever the child's cwd is. */
export const TSX_IMPORT = ["--import", import.meta.resolve("tsx")];
