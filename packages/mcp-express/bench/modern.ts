/**
 * MCP 2026-07-28 (stateless) tools/call throughput and latency: directly against an SDK v2
 * server and through the middleware (2026 front → held session → the same server spoken
 * statelessly), at concurrency 1 and 32, measured side by side in one run. Upstream and
 * gateway run in their own processes (this file, started with `upstream` / `gateway`);
 * the driver sends raw HTTP POSTs with the 2026 headers and `_meta` envelope.
 *
 * Usage: pnpm bench   (writes bench/results/mcp-express-modern.json at the repo root)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { Agent, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg } from "node:os";
import {
  children,
  cpuMs,
  here,
  median,
  postRaw,
  QUICK,
  round,
  type Stats,
  startChild,
  stopChildren,
  type Target,
} from "./lib.js";

const resultFile = here("../../../bench/results/mcp-express-modern.json");
const V = "2026-07-28";

/** The SDK v2 upstream: a stateless `echo` server. Prints `PORT <n>`. */
async function upstream(): Promise<void> {
  const { toNodeHandler } = await import("@modelcontextprotocol/node");
  const { createMcpHandler, McpServer } = await import("@modelcontextprotocol/server");
  const { z } = await import("zod");
  const handler = createMcpHandler(
    () => {
      const s = new McpServer({ name: "bench-echo-v2", version: "1.0.0" });
      s.registerTool(
        "echo",
        { inputSchema: z.object({ message: z.string() }) },
        async ({ message }) => ({
          content: [{ type: "text", text: message }],
        }),
      );
      return s;
    },
    { legacy: "reject" },
  );
  const node = toNodeHandler(handler);
  const s = createServer((req, res) => void node(req, res));
  // A side waits while the others run their round: keep its sockets open meanwhile, or
  // a socket the server just closed may be reused (ECONNRESET).
  s.keepAliveTimeout = 120_000;
  s.listen(0, "127.0.0.1", () => {
    process.stdout.write(`PORT ${(s.address() as AddressInfo).port}\n`);
  });
}

/** The gateway in front of the 2026 upstream, as Express mount and plain listener. */
async function gateway(url: string): Promise<void> {
  const { compilePolicy } = await import("@toolgate/policy-engine");
  const { default: express } = await import("express");
  const { createToolgateMcp } = await import("../src/index.js");
  const gw = createToolgateMcp({
    upstreams: [{ name: "bench", url, protocol: V }],
    apiKeys: { "bench-key": "bench" },
    stateSecret: "bench-state-secret-0123456789abcdef0123",
    policy: compilePolicy({
      version: "1",
      default: "deny",
      tools: {
        echo: {
          limits: [{ counter: "echo", window: "minute", max: 1_000_000_000, scope: "grant" }],
        },
      },
    }),
  });
  await gw.start();
  const app = express();
  app.all("/mcp", gw.handler);
  const viaExpress = app.listen(0, "127.0.0.1", () => {
    viaExpress.keepAliveTimeout = 120_000; // see the upstream
    const listener = createServer(gw.listener);
    listener.keepAliveTimeout = 120_000;
    const viaListener = listener.listen(0, "127.0.0.1", () => {
      const a = (viaExpress.address() as AddressInfo).port;
      const b = (viaListener.address() as AddressInfo).port;
      process.stdout.write(`PORT ${a} ${b}\n`);
    });
  });
}

const HEADERS = { "mcp-protocol-version": V, "mcp-method": "tools/call", "mcp-name": "echo" };
const ENVELOPE = `"_meta":{"io.modelcontextprotocol/protocolVersion":"${V}","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}`;

function target(port: number, auth: Record<string, string>, sockets: number): Target {
  return {
    port,
    headers: { ...HEADERS, ...auth },
    agent: new Agent({ keepAlive: true, maxSockets: sockets }),
    body: (id) =>
      `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"},${ENVELOPE}}}`,
    ok: (status, text) => status === 200 && text.includes('"hello"'),
  };
}

/** `calls` stateless 2026 tools/call echo requests from `concurrency` closed-loop workers. */
async function load(t: Target, concurrency: number, calls: number): Promise<Stats> {
  const lat: number[] = [];
  let next = 0;
  let id = 1;
  const worker = async (): Promise<void> => {
    while (next < calls) {
      next++;
      const t0 = process.hrtime.bigint();
      const r = await postRaw(t, t.body(id++));
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (!t.ok(r.status, r.text)) throw new Error(`bad response ${r.status} ${r.text}`);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  return { calls, seconds, rps: calls / seconds, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

async function main(): Promise<void> {
  const [upPort] = await startChild("./modern.ts", ["upstream"]);
  const [gwPort, gwListenerPort] = await startChild("./modern.ts", [
    "gateway",
    `http://127.0.0.1:${upPort}/mcp`,
  ]);
  const plan = [
    { concurrency: 1, calls: QUICK ? 600 : 3000 },
    { concurrency: 32, calls: QUICK ? 2400 : 12000 },
  ];
  const rows: Array<Record<string, unknown>> = [];
  const [upChild, gwChild] = children;
  const auth = { authorization: "Bearer bench-key" };
  for (const { concurrency, calls } of plan) {
    const sides = {
      direct: target(upPort!, {}, concurrency),
      express: target(gwPort!, auth, concurrency),
      listener: target(gwListenerPort!, auth, concurrency),
    };
    type Side = keyof typeof sides;
    const names = Object.keys(sides) as Side[];
    const stats: Record<Side, Stats[]> = { direct: [], express: [], listener: [] };
    const gwCpu: Record<Side, number> = { direct: 0, express: 0, listener: 0 };
    const upCpu: Record<Side, number> = { direct: 0, express: 0, listener: 0 };
    for (const n of names) await load(sides[n], concurrency, 500);
    // Interleaved rounds, rotating the order: each round's ratio is measured back to back.
    const ROUNDS = 6;
    const per = Math.floor(calls / ROUNDS);
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < names.length; k++) {
        const n = names[(r + k) % names.length]!;
        const u0 = cpuMs(upChild?.pid);
        const g0 = cpuMs(gwChild?.pid);
        stats[n].push(await load(sides[n], concurrency, per));
        upCpu[n] += cpuMs(upChild?.pid) - u0;
        gwCpu[n] += cpuMs(gwChild?.pid) - g0;
      }
    }
    const total = per * ROUNDS;
    const d = stats.direct;
    for (const mount of ["express", "listener"] as const) {
      const p = stats[mount];
      rows.push({
        concurrency,
        mount,
        directRps: round(median(d.map((x) => x.rps)), 0),
        gatewayRps: round(median(p.map((x) => x.rps)), 0),
        throughputRatio: round(median(d.map((x, i) => p[i]!.rps / x.rps))),
        directP50Ms: round(median(d.map((x) => x.p50Ms))),
        gatewayP50Ms: round(median(p.map((x) => x.p50Ms))),
        addedP50Ms: round(median(d.map((x, i) => p[i]!.p50Ms - x.p50Ms))),
        directP99Ms: round(median(d.map((x) => x.p99Ms))),
        gatewayP99Ms: round(median(p.map((x) => x.p99Ms))),
        upstreamCpuUsPerCall: round((upCpu.direct * 1000) / total, 1),
        gatewayCpuUsPerCall: round((gwCpu[mount] * 1000) / total, 1),
      });
    }
    for (const n of names) sides[n].agent.destroy();
  }
  console.table(rows);
  mkdirSync(here("../../../bench/results"), { recursive: true });
  writeFileSync(
    resultFile,
    `${JSON.stringify(
      {
        package: "@toolgate/mcp-express",
        benchmark:
          "MCP 2026-07-28 stateless tools/call echo: direct SDK v2 server vs through the middleware (separate processes, loopback)",
        node: process.version,
        cpus: cpus().length,
        quick: QUICK,
        // Other work on the machine skews absolute numbers; the ratios are measured side by side.
        loadAverage1m: round(loadavg()[0] ?? 0, 2),
        at: new Date().toISOString(),
        rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${resultFile}`);
}

const role = process.argv[2];
if (role === "upstream") await upstream();
else if (role === "gateway") await gateway(process.argv[3] ?? "");
else {
  try {
    await main();
  } finally {
    await stopChildren();
  }
}
// Exit cleanly on SIGTERM (children) so --cpu-prof (BENCH_CPU_PROF) can write its profile.
if (role) process.on("SIGTERM", () => process.exit(0));
