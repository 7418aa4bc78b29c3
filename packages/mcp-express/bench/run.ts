/**
 * tools/call throughput and latency, directly against one upstream and through the
 * middleware (same upstream), at concurrency 1 and 32, measured side by side in one run.
 * Upstream and gateway run in their own processes; this process only drives raw HTTP
 * POSTs over keep-alive sockets so the client is not the bottleneck.
 *
 * Usage: pnpm bench   (writes bench/results/mcp-express.json at the repo root)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const resultFile = here("../../../bench/results/mcp-express.json");
const children: ChildProcess[] = [];
/** BENCH_QUICK=1 (the root `pnpm bench:quick`): a fifth of the calls. */
const QUICK = process.env.BENCH_QUICK === "1";

async function startChild(file: string, args: string[] = []): Promise<number[]> {
  const prof = process.env.BENCH_CPU_PROF
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const child = spawn(process.execPath, [...prof, ...process.execArgv, here(file), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /PORT ([\d ]+)\n/.exec(out);
      if (m?.[1]) resolve(m[1].trim().split(" ").map(Number));
    });
    child.once("exit", (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

interface Target {
  port: number;
  headers: Record<string, string>;
  agent: Agent;
}

function postRaw(t: Target, body: string): Promise<{ status: number; text: string; sid?: string }> {
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
          const out: { status: number; text: string; sid?: string } = {
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
          };
          if (typeof sid === "string") out.sid = sid;
          resolve(out);
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function session(
  port: number,
  auth: Record<string, string>,
  sockets: number,
): Promise<Target> {
  const t: Target = {
    port,
    headers: { ...auth },
    agent: new Agent({ keepAlive: true, maxSockets: sockets }),
  };
  const init = await postRaw(
    t,
    JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "bench", version: "1" },
      },
    }),
  );
  if (init.status !== 200 || !init.sid)
    throw new Error(`initialize failed: ${init.status} ${init.text}`);
  t.headers["mcp-session-id"] = init.sid;
  t.headers["mcp-protocol-version"] = "2025-11-25";
  await postRaw(t, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  return t;
}

interface Stats {
  calls: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

async function load(t: Target, concurrency: number, calls: number): Promise<Stats> {
  const lat: number[] = [];
  let next = 0;
  let id = 1;
  const worker = async (): Promise<void> => {
    while (next < calls) {
      next++;
      const body = `{"jsonrpc":"2.0","id":${id++},"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}`;
      const t0 = process.hrtime.bigint();
      const r = await postRaw(t, body);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (r.status !== 200 || !r.text.includes('"hello"'))
        throw new Error(`bad response ${r.status} ${r.text}`);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  return { calls, seconds, rps: calls / seconds, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

const round = (n: number, d = 3): number => Math.round(n * 10 ** d) / 10 ** d;

/** CPU time (user + system, ms) a child has used so far; Linux only, else NaN. */
function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

async function main(): Promise<void> {
  const [upPort] = await startChild("./upstream.ts");
  const [gwPort, gwListenerPort] = await startChild("./gateway.ts", [
    `http://127.0.0.1:${upPort}/mcp`,
  ]);
  const onlySides = process.env.BENCH_SIDES?.split(",");
  const only = process.env.BENCH_CONCURRENCY ? Number(process.env.BENCH_CONCURRENCY) : undefined;
  const plan = [
    { concurrency: 1, calls: QUICK ? 600 : 3000 },
    { concurrency: 32, calls: QUICK ? 2400 : 12000 },
  ].filter((p) => only === undefined || p.concurrency === only);
  const rows: Array<Record<string, unknown>> = [];
  const median = (xs: number[]): number => {
    const v = [...xs].sort((x, y) => x - y);
    const m = v.length >> 1;
    return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
  };
  const [upChild, gwChild] = children;
  for (const { concurrency, calls } of plan) {
    const auth = { authorization: "Bearer bench-key" };
    const sides = {
      direct: await session(upPort!, {}, concurrency),
      express: await session(gwPort!, auth, concurrency),
      listener: await session(gwListenerPort!, auth, concurrency),
    };
    type Side = keyof typeof sides;
    // BENCH_SIDES=express (or listener) drives only that mount next to direct, so a CPU
    // profile of the gateway shows one mount's path alone.
    const names = (Object.keys(sides) as Side[]).filter(
      (n) => n === "direct" || !onlySides || onlySides.includes(n),
    );
    const stats: Record<Side, Stats[]> = { direct: [], express: [], listener: [] };
    const gwCpu: Record<Side, number> = { direct: 0, express: 0, listener: 0 };
    const upCpu: Record<Side, number> = { direct: 0, express: 0, listener: 0 };
    for (const n of names) await load(sides[n], concurrency, 500);
    // Several short rounds, rotating the order; each round gives ratios measured back to
    // back and the medians are reported, so drift and other load on the machine hit all
    // sides alike.
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
      if (p.length === 0) continue;
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
        // CPU per call is robust to other load on the machine: the gateway's own cost
        // next to the upstream's cost for the same calls.
        upstreamCpuUsPerCall: round((upCpu.direct * 1000) / total, 1),
        gatewayCpuUsPerCall: round((gwCpu[mount] * 1000) / total, 1),
      });
    }
    for (const n of names) sides[n].agent.destroy();
  }
  console.table(rows);

  // The same interleaved rounds against the framework floor (no MCP work at all).
  let frameworkFloor: Record<string, unknown> | undefined;
  if (only === undefined || only === 1) {
    const [fxPort, fpPort] = await startChild("./floor.ts");
    const floorChild = children[children.length - 1];
    const fSides = { express: await session(fxPort!, {}, 1), plain: await session(fpPort!, {}, 1) };
    const fStats: Record<keyof typeof fSides, Stats[]> = { express: [], plain: [] };
    const fCpu = { express: 0, plain: 0 };
    for (const n of ["express", "plain"] as const) await load(fSides[n], 1, 500);
    const ROUNDS = 6;
    const per = QUICK ? 100 : 500;
    for (let r = 0; r < ROUNDS; r++) {
      for (const n of r % 2 ? (["plain", "express"] as const) : (["express", "plain"] as const)) {
        const c0 = cpuMs(floorChild?.pid);
        fStats[n].push(await load(fSides[n], 1, per));
        fCpu[n] += cpuMs(floorChild?.pid) - c0;
      }
    }
    const e = fStats.express;
    const p = fStats.plain;
    frameworkFloor = {
      concurrency: 1,
      plainP50Ms: round(median(p.map((x) => x.p50Ms))),
      expressP50Ms: round(median(e.map((x) => x.p50Ms))),
      expressAddedP50Ms: round(median(p.map((x, i) => e[i]!.p50Ms - x.p50Ms))),
      plainCpuUsPerCall: round((fCpu.plain * 1000) / (per * ROUNDS), 1),
      expressCpuUsPerCall: round((fCpu.express * 1000) / (per * ROUNDS), 1),
    };
    for (const n of ["express", "plain"] as const) fSides[n].agent.destroy();
    console.log("framework floor (no MCP work):", frameworkFloor);
  }
  const targets: Record<string, unknown> = {};
  for (const mount of ["express", "listener"]) {
    const c32 = rows.find((r) => r.concurrency === 32 && r.mount === mount);
    const c1 = rows.find((r) => r.concurrency === 1 && r.mount === mount);
    targets[mount] = {
      throughputRatioAtC32: {
        target: ">= 0.70",
        actual: c32?.throughputRatio,
        met: Number(c32?.throughputRatio) >= 0.7,
      },
      addedP50MsAtC1: {
        target: "<= 0.5",
        actual: c1?.addedP50Ms,
        met: Number(c1?.addedP50Ms) <= 0.5,
      },
    };
  }
  console.log(JSON.stringify(targets, null, 2));
  mkdirSync(here("../../../bench/results"), { recursive: true });
  writeFileSync(
    resultFile,
    `${JSON.stringify(
      {
        package: "@toolgate/mcp-express",
        benchmark:
          "tools/call echo: direct upstream vs through the middleware (separate processes, loopback)",
        node: process.version,
        cpus: cpus().length,
        quick: QUICK,
        // Other work on the machine skews absolute numbers; the ratios are measured side by side.
        loadAverage1m: round(loadavg()[0] ?? 0, 2),
        at: new Date().toISOString(),
        rows,
        // What Express alone costs per request next to a plain listener (same rounds).
        frameworkFloor,
        targets,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${resultFile}`);
}

try {
  await main();
} finally {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          c.once("exit", () => resolve());
          c.kill("SIGTERM");
        }),
    ),
  );
}
