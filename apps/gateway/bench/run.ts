// Gateway overhead, measured side by side in one run: the same tools/call sent
//   1. directly to the upstream MCP server over Streamable HTTP (the baseline),
//   2. through the gateway with policy only (audit off),
//   3. through the gateway as shipped (limits, audit log, metrics, decision feed),
//   4. the same, with /mcp on the Express mount rather than the plain Node listener.
// Rounds are interleaved so machine noise hits all three alike; we report medians and
// ratios against the baseline, never a bare time as the headline.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import pino from "pino";
import { loadGatewayConfig } from "../src/config.js";
import { type RunningGateway, startGateway } from "../src/gateway.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const CALLS_PER_ROUND = Number(process.env.BENCH_CALLS ?? 50);
const KEY = "bench-key-0123456789abcdef";

function upstreamServer(): McpServer {
  const server = new McpServer({ name: "bench-upstream", version: "1.0.0" });
  server.registerTool("echo", { description: "echo" }, async () => ({
    content: [{ type: "text", text: "ok" }],
  }));
  return server;
}

// Stateless (a fresh server per request, as the SDK recommends for stateless HTTP), so
// the baseline client and each gateway can all talk to upstreams built the same way.
async function startDirect(): Promise<{ url: string; close(): Promise<void> }> {
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
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  return {
    url,
    async close() {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

async function startGw(
  dir: string,
  policy: string,
  audit: boolean,
  upstreamUrl: string,
): Promise<RunningGateway> {
  writeFileSync(join(dir, "policy.yaml"), policy);
  writeFileSync(
    join(dir, "toolgate.config.yaml"),
    `upstreams: [{ name: up, url: "${upstreamUrl}" }]\ngrants: { bench: { apiKey: ${KEY}, policy: policy.yaml } }\naudit: { enabled: ${audit}, path: audit.jsonl }\n`,
  );
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

async function client(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const c = new Client({ name: "bench", version: "1.0.0" });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return c;
}

async function timeCalls(c: Client, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await c.callTool({ name: "echo", arguments: { i } });
    out.push(Number(process.hrtime.bigint() - t0) / 1000);
    if (r.isError) throw new Error("bench call was denied");
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};
const p95 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length * 0.95)] ?? 0;
};

// Every variant reaches an upstream of the same kind over loopback HTTP, so the ratio is
// the gateway's added cost: its own hop plus policy, limits, audit and metrics.
const direct = await startDirect();
const gwPolicy = await startGw(
  mkdtempSync(join(tmpdir(), "tg-bench-a-")),
  'version: "1"\ndefault: allow\n',
  false,
  direct.url,
);
const gwFull = await startGw(
  mkdtempSync(join(tmpdir(), "tg-bench-b-")),
  'version: "1"\ndefault: deny\ntools:\n  echo:\n    limits: [{ counter: echo, window: hour, max: 1000000 }]\n',
  true,
  direct.url,
);
// The same shipped gateway, but with /mcp served by its Express mount instead of the
// plain listener the gateway's own server routes it to: what routing /mcp to the listener saves.
const viaExpress = createServer(gwFull.app);
await new Promise<void>((r) => viaExpress.listen(0, "127.0.0.1", r));
const expressUrl = `http://127.0.0.1:${(viaExpress.address() as AddressInfo).port}/mcp`;
const auth = { Authorization: `Bearer ${KEY}` };
const variants = [
  { name: "direct to upstream (baseline)", c: await client(direct.url), samples: [] as number[] },
  { name: "gateway, policy only", c: await client(gwPolicy.mcpUrl, auth), samples: [] as number[] },
  {
    name: "gateway as shipped (limits+audit+metrics)",
    c: await client(gwFull.mcpUrl, auth),
    samples: [] as number[],
  },
  {
    name: "gateway as shipped, /mcp via the Express mount",
    c: await client(expressUrl, auth),
    samples: [] as number[],
  },
];
for (const v of variants) await timeCalls(v.c, 20); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const v of variants) v.samples.push(...(await timeCalls(v.c, CALLS_PER_ROUND)));
}
const base = median(variants[0]?.samples ?? []);
const rows = variants.map((v) => ({
  variant: v.name,
  calls: v.samples.length,
  medianUs: Math.round(median(v.samples)),
  p95Us: Math.round(p95(v.samples)),
  ratioToBaseline: Number((median(v.samples) / base).toFixed(2)),
}));
console.log(
  `\ntools/call latency, sequential, ${ROUNDS} interleaved rounds x ${CALLS_PER_ROUND} calls\n`,
);
console.table(rows);
const results = {
  package: "@toolgate/gateway",
  benchmark: "tools/call latency: direct vs through the gateway",
  at: new Date().toISOString(),
  node: process.version,
  rounds: ROUNDS,
  callsPerRound: CALLS_PER_ROUND,
  rows,
};
const out = join(dirname(fileURLToPath(import.meta.url)), "../../../bench/results/gateway.json");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwrote ${join("bench/results", "gateway.json")}`);

for (const v of variants) await v.c.close();
viaExpress.closeAllConnections();
await Promise.all([direct.close(), gwPolicy.close(), gwFull.close()]);
process.exit(0);
