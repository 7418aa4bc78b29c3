/**
 * tools/call throughput and latency, directly against one upstream and through the
 * middleware (same upstream), at concurrency 1 and 32, measured side by side in one run.
 * Upstream and gateway run in their own processes; this process only drives raw HTTP
 * POSTs over keep-alive sockets so the client is not the bottleneck.
 *
 * Usage: pnpm bench   (writes bench/results/mcp-express.json at the repo root)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import {
  children,
  cpuMs,
  here,
  interleave,
  load,
  median,
  QUICK,
  round,
  type Stats,
  session,
  startChild,
  stopChildren,
} from "./lib.js";

const resultFile = here("../../../bench/results/mcp-express.json");

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
    for (const n of names) await load(sides[n], concurrency, 500);
    // Several short rounds, rotating the order; each round gives ratios measured back to
    // back and the medians are reported, so drift and other load on the machine hit all
    // sides alike.
    const ROUNDS = 6;
    const per = Math.floor(calls / ROUNDS);
    const run = await interleave(names, ROUNDS, { up: upChild?.pid, gw: gwChild?.pid }, (n) =>
      load(sides[n], concurrency, per),
    );
    // Sides left out by BENCH_SIDES have no stats.
    const stats: Record<Side, Stats[]> = Object.assign(
      { direct: [], express: [], listener: [] },
      run.stats,
    );
    const cpuOf = (n: Side, p: "up" | "gw") => run.cpuMs[n as (typeof names)[number]]?.[p] ?? 0;
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
        upstreamCpuUsPerCall: round((cpuOf("direct", "up") * 1000) / total, 1),
        gatewayCpuUsPerCall: round((cpuOf(mount, "gw") * 1000) / total, 1),
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
  await stopChildren();
}
