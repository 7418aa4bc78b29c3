/**
 * The gateway end to end, each figure next to a baseline measured in the same run.
 *
 * Part 1, sequential latency (one process; the SDK client, one call at a time), the same
 * `tools/call` sent
 *   1. directly to the upstream MCP server over Streamable HTTP (the baseline),
 *   1b. through the bare Node proxy (`proxy.ts`: the floor of any Node HTTP hop),
 *   2. through the gateway with policy only (audit off),
 *   3. through the gateway as shipped (a limit on the tool, audit log, metrics, decision
 *      feed) with the memory store,
 *   4. the same, with /mcp on the Express mount rather than the plain Node listener,
 *   5. the same as 3 with the Redis store: every call reserves and commits in Redis.
 * Part 2, throughput and CPU per call at concurrency 32 (upstream, the bare proxy and
 * each gateway in their own process, raw HTTP load from this one): direct, bare proxy,
 * the minimal JSON-RPC proxy (`parse-proxy.ts`, a second floor), policy only, the
 * shipped gateway on memory and on Redis. Each gateway's figures are
 * also reported against the bare proxy's, paired per round.
 * Part 3 (`balancer.ts`): two gateways behind a round-robin balancer vs one, stateless
 * 2026 requests (any instance serves any call).
 * Part 4 (`round-trips.ts`): the Redis round trips a call's answer waits for, counted
 * with every Redis exchange delayed by a proxy.
 *
 * Rounds are interleaved (order rotating) so machine noise hits every variant alike;
 * ratios and differences are medians of per-round pairs, never a bare time as headline.
 *
 * Env: BENCH_QUICK=1 (or --quick) for a short run, BENCH_ROUNDS, BENCH_CALLS (sequential
 * calls per round), BENCH_LOAD_CALLS (concurrent calls per round), REDIS_URL (default
 * redis://127.0.0.1:6379; keys go under a prefix unique to this run and are deleted after).
 * Without a Redis the Redis variants are skipped and the JSON says why.
 * Writes bench/results/gateway.json at the repository root.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  interleave,
  median,
  openTarget,
  quantile,
  round as roundTo,
  runLoad,
} from "../../../bench/load.js";
import type { RunningGateway } from "../src/gateway.js";
import { balancerRows } from "./balancer.js";
import { childStats, spawnChild, stopChildren } from "./procs.js";
import { startBareProxy } from "./proxy.js";
import {
  checkStore,
  deleteRunKeys,
  REDIS_URL,
  redisProblem,
  redisRoundTrip,
  redisStoreLine,
  redisWhere,
} from "./redis-env.js";
import { answerPathRoundTrips } from "./round-trips.js";
import {
  BENCH_KEY,
  POLICY_ONLY,
  POLICY_WITH_LIMIT,
  startGatewayIn,
  startUpstream,
  writeGatewayDir as writeDir,
} from "./servers.js";

const QUICK = process.argv.includes("--quick") || process.env.BENCH_QUICK === "1";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 3 : 8));
const CALLS_PER_ROUND = Number(process.env.BENCH_CALLS ?? (QUICK ? 20 : 50));
const LOAD_CONCURRENCY = 32;
const LOAD_CALLS_PER_ROUND = Number(process.env.BENCH_LOAD_CALLS ?? (QUICK ? 400 : 1500));
const AUTH = { Authorization: `Bearer ${BENCH_KEY}` };

/** Gateway folders (config, policy, audit log) this run wrote; removed at the end. */
const dirs: string[] = [];
const writeGatewayDir = (spec: Parameters<typeof writeDir>[0]) => {
  const dir = writeDir(spec);
  dirs.push(dir);
  return dir;
};

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const resultFile = here("../../../bench/results/gateway.json");

const round = (n: number, digits = 2) => roundTo(n, digits);

// ---------------------------------------------------------------- part 1: sequential

async function sdkClient(url: string, headers: Record<string, string> = {}): Promise<Client> {
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
    if (r.isError) throw new Error(`bench call was refused: ${JSON.stringify(r.content)}`);
  }
  return out;
}

interface SeqVariant {
  readonly id: string;
  readonly name: string;
  readonly client: Client;
  readonly samples: number[];
  readonly roundMedians: number[];
}

/** Pairs each round of `v` with the same round of `base`: medians of ratio and difference. */
function paired(v: SeqVariant, base: SeqVariant): { ratio: number; addedUs: number } {
  const ratios = v.roundMedians.map((m, r) => m / base.roundMedians[r]!);
  const diffs = v.roundMedians.map((m, r) => m - base.roundMedians[r]!);
  return { ratio: median(ratios), addedUs: median(diffs) };
}

async function sequential(redisOk: boolean) {
  const upstream = await startUpstream();
  const gateways: RunningGateway[] = [];
  const start = async (policy: string, audit: boolean, store: string) => {
    const gw = await startGatewayIn(
      writeGatewayDir({ policy, audit, store, upstreamUrl: upstream.url }),
    );
    gateways.push(gw);
    return gw;
  };
  const gwPolicy = await start(POLICY_ONLY, false, "memory");
  const gwMemory = await start(POLICY_WITH_LIMIT, true, "memory");
  const gwRedis = redisOk ? await start(POLICY_WITH_LIMIT, true, redisStoreLine()) : undefined;
  // The shipped memory gateway's app on a plain http server: /mcp through the Express
  // mount instead of the listener the gateway's own server routes it to.
  const bare = await startBareProxy([upstream.port]);
  const viaExpress = createServer(gwMemory.app);
  await new Promise<void>((r) => viaExpress.listen(0, "127.0.0.1", r));
  const expressUrl = `http://127.0.0.1:${(viaExpress.address() as AddressInfo).port}/mcp`;

  const variant = async (
    id: string,
    name: string,
    url: string,
    auth: Record<string, string> = AUTH,
  ) => ({
    id,
    name,
    client: await sdkClient(url, auth),
    samples: [] as number[],
    roundMedians: [] as number[],
  });
  const variants: SeqVariant[] = [
    await variant("direct", "direct to upstream (baseline)", upstream.url, {}),
    await variant("bare-proxy", "bare Node proxy", `http://127.0.0.1:${bare.port}/mcp`, {}),
    await variant("policy-only", "gateway, policy only", gwPolicy.mcpUrl),
    await variant("memory", "gateway as shipped, memory store", gwMemory.mcpUrl),
    await variant("memory-express", "gateway as shipped, memory, /mcp via Express", expressUrl),
  ];
  if (gwRedis)
    variants.push(await variant("redis", "gateway as shipped, Redis store", gwRedis.mcpUrl));

  // One bare Redis round trip from this process, timed in the same rounds: what "Redis
  // adds at most one round trip over memory" is measured against.
  const rtt = gwRedis ? await redisRoundTrip() : undefined;
  const rttRoundMedians: number[] = [];
  const WARMUP = 20;
  for (const v of variants) await timeCalls(v.client, WARMUP);
  await rtt?.time(WARMUP);
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(r + k) % variants.length]!;
      const s = await timeCalls(v.client, CALLS_PER_ROUND);
      v.samples.push(...s);
      v.roundMedians.push(median(s));
    }
    if (rtt) rttRoundMedians.push(median(await rtt.time(CALLS_PER_ROUND)));
  }
  rtt?.close();
  const sentTo = (ids: string[]) => ids.length * (WARMUP + ROUNDS * CALLS_PER_ROUND);
  checkStore("memory gateway", gwMemory.store.stats(), sentTo(["memory", "memory-express"]));
  if (gwRedis) checkStore("Redis gateway", gwRedis.store.stats(), sentTo(["redis"]));

  const base = variants[0]!;
  const rows = variants.map((v) => {
    const p = paired(v, base);
    return {
      id: v.id,
      variant: v.name,
      calls: v.samples.length,
      medianUs: Math.round(median(v.samples)),
      p95Us: Math.round(quantile(v.samples, 0.95)),
      ratioToBaseline: round(p.ratio),
      addedMedianUs: Math.round(p.addedUs),
    };
  });
  const memory = variants.find((v) => v.id === "memory")!;
  const redis = variants.find((v) => v.id === "redis");
  const bareV = variants.find((v) => v.id === "bare-proxy")!;
  // Each gateway's median against the bare proxy's, paired round by round.
  const vsBareProxy = Object.fromEntries(
    variants
      .filter((v) => v.id !== "direct" && v.id !== "bare-proxy")
      .map((v) => {
        const p = paired(v, bareV);
        return [v.id, { ratio: round(p.ratio), addedMedianUs: Math.round(p.addedUs) }];
      }),
  );
  // What the Redis store costs over the memory store, paired round by round.
  // In round trips: the added median of each round over that round's bare INCR median.
  const redisVsMemory = redis
    ? (() => {
        const p = paired(redis, memory);
        const trips = redis.roundMedians.map(
          (m, r) => (m - memory.roundMedians[r]!) / rttRoundMedians[r]!,
        );
        return {
          ratio: round(p.ratio),
          addedMedianUs: Math.round(p.addedUs),
          redisRoundTripUs: Math.round(median(rttRoundMedians)),
          addedRoundTrips: round(median(trips)),
        };
      })()
    : null;

  for (const v of variants) await v.client.close();
  viaExpress.closeAllConnections();
  viaExpress.close();
  await Promise.all([upstream.close(), bare.close(), ...gateways.map((g) => g.close())]);
  return { rows, redisVsMemory, vsBareProxy };
}

// ---------------------------------------------------------------- part 2: concurrent

async function concurrent(redisOk: boolean) {
  const up = await spawnChild(["upstream"]);
  const upstreamUrl = `http://127.0.0.1:${up.port}/mcp`;
  const gw = (policy: string, audit: boolean, store: string) =>
    spawnChild(["gateway", writeGatewayDir({ policy, audit, store, upstreamUrl })]);
  const bare = await spawnChild(["proxy", String(up.port)]);
  const parse = await spawnChild(["parse-proxy", String(up.port)]);
  const policyOnly = await gw(POLICY_ONLY, false, "memory");
  const memory = await gw(POLICY_WITH_LIMIT, true, "memory");
  const redis = redisOk ? await gw(POLICY_WITH_LIMIT, true, redisStoreLine()) : undefined;

  const sides = [
    { id: "direct", name: "direct to upstream (baseline)", port: up.port, auth: {} },
    { id: "bare-proxy", name: "bare Node proxy", port: bare.port, auth: {}, proc: bare.child },
    {
      id: "parse-proxy",
      name: "minimal JSON-RPC proxy (parse, id, undici)",
      port: parse.port,
      auth: {},
      proc: parse.child,
    },
    { id: "policy-only", name: "gateway, policy only, no audit", ...at(policyOnly) },
    { id: "memory", name: "gateway as shipped, memory store", ...at(memory) },
    ...(redis ? [{ id: "redis", name: "gateway as shipped, Redis store", ...at(redis) }] : []),
  ];
  const ids = sides.map((s) => s.id);
  const targets = new Map(
    await Promise.all(
      sides.map(
        async (s) =>
          [
            s.id,
            await openTarget(s.port, s.auth, LOAD_CONCURRENCY, { expect: '"text":"ok"' }),
          ] as const,
      ),
    ),
  );
  const WARMUP = 300;
  for (const t of targets.values()) await runLoad(t, LOAD_CONCURRENCY, WARMUP);
  const pids: Record<string, number | undefined> = { upstream: up.child.pid };
  for (const s of sides) if (s.proc) pids[s.id] = s.proc.pid;
  const run = await interleave(ids, ROUNDS, pids, (id) =>
    runLoad(targets.get(id)!, LOAD_CONCURRENCY, LOAD_CALLS_PER_ROUND),
  );
  const sent = WARMUP + ROUNDS * LOAD_CALLS_PER_ROUND;
  checkStore("memory gateway process", await childStats(memory.child), sent);
  if (redis) checkStore("Redis gateway process", await childStats(redis.child), sent);
  for (const t of targets.values()) t.agent.destroy();
  await stopChildren();

  const total = ROUNDS * LOAD_CALLS_PER_ROUND;
  const stats = run.stats;
  const pairedRps = (id: string, baseId: string) =>
    round(median(stats[id]!.map((x, r) => x.rps / stats[baseId]![r]!.rps)), 3);
  // CPU per call holds up under other load on the machine, unlike wall time.
  const cpuPerCall = (id: string, proc: string) => round((run.cpuMs[id]![proc]! * 1000) / total, 1);
  const rows = sides.map((s) => ({
    id: s.id,
    side: s.name,
    rps: Math.round(median(stats[s.id]!.map((x) => x.rps))),
    p50Ms: round(median(stats[s.id]!.map((x) => x.p50Ms)), 3),
    p99Ms: round(median(stats[s.id]!.map((x) => x.p99Ms)), 3),
    throughputRatio: pairedRps(s.id, "direct"),
    upstreamCpuUsPerCall: cpuPerCall(s.id, "upstream"),
    // The process between the client and the upstream: a gateway or the bare proxy.
    gatewayCpuUsPerCall: s.proc ? cpuPerCall(s.id, s.id) : null,
  }));
  const bareCpu = cpuPerCall("bare-proxy", "bare-proxy");
  const vsBareProxy = Object.fromEntries(
    sides
      .filter((s) => s.proc && s.id !== "bare-proxy")
      .map((s) => [
        s.id,
        {
          throughputRatio: pairedRps(s.id, "bare-proxy"),
          cpuPerCallRatio: round(cpuPerCall(s.id, s.id) / bareCpu, 3),
        },
      ]),
  );
  const redisVsMemory = redis ? { throughputRatio: pairedRps("redis", "memory") } : null;
  return { rows, redisVsMemory, vsBareProxy };
}

/** Port, auth and process of a gateway child, as a side of the concurrent part. */
function at(c: { port: number; child: import("node:child_process").ChildProcess }) {
  return { port: c.port, auth: AUTH, proc: c.child };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const redisSkipped = await redisProblem(REDIS_URL);
  if (redisSkipped) console.log(`Redis variants skipped: ${redisSkipped}`);
  const redisOk = redisSkipped === undefined;
  try {
    const seq = await sequential(redisOk);
    console.log(
      `\ntools/call latency, sequential (SDK client), ${ROUNDS} interleaved rounds x ${CALLS_PER_ROUND} calls\n`,
    );
    console.table(seq.rows.map(({ id: _id, ...r }) => r));
    if (seq.redisVsMemory)
      console.log(
        `Redis store vs memory store (as shipped): ${seq.redisVsMemory.ratio}x the median, +${seq.redisVsMemory.addedMedianUs} µs = ${seq.redisVsMemory.addedRoundTrips} bare Redis round trips (${seq.redisVsMemory.redisRoundTripUs} µs each)`,
      );

    const conc = await concurrent(redisOk);
    console.log(
      `\ntools/call throughput at concurrency ${LOAD_CONCURRENCY} (separate processes), ${ROUNDS} interleaved rounds x ${LOAD_CALLS_PER_ROUND} calls\n`,
    );
    console.table(conc.rows.map(({ id: _id, ...r }) => r));
    console.log("against the bare proxy:", conc.vsBareProxy);

    const balancer = await balancerRows({
      rounds: ROUNDS,
      calls: LOAD_CALLS_PER_ROUND,
      concurrency: LOAD_CONCURRENCY,
      store: redisOk ? redisStoreLine() : "memory",
      writeGatewayDir,
    });
    console.log("two gateways behind a round-robin balancer vs one:", balancer);

    const redisAt = new URL(REDIS_URL);
    const answerPath = redisOk
      ? await answerPathRoundTrips({
          rounds: ROUNDS,
          callsPerRound: QUICK ? 5 : 10,
          redis: { host: redisAt.hostname, port: Number(redisAt.port || 6379) },
          storeLine: redisStoreLine,
          writeGatewayDir,
        })
      : null;
    if (answerPath) console.log("Redis round trips on the answer path (each delayed):", answerPath);

    const results = {
      package: "@toolgate/gateway",
      benchmark:
        "tools/call end to end: direct and the bare Node proxy vs through the gateway, memory vs Redis store; two gateways behind a balancer vs one",
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      // Other work on the machine skews absolute numbers; the ratios are paired per round.
      loadAverage1m: round(loadavg()[0] ?? 0),
      quick: QUICK,
      redis: redisOk
        ? { used: true, at: redisWhere(REDIS_URL) }
        : { used: false, why: redisSkipped },
      rounds: ROUNDS,
      callsPerRound: CALLS_PER_ROUND,
      rows: seq.rows,
      redisVsMemory: seq.redisVsMemory,
      // Sequential medians of each gateway variant against the bare Node proxy's.
      vsBareProxy: seq.vsBareProxy,
      concurrent: {
        concurrency: LOAD_CONCURRENCY,
        rounds: ROUNDS,
        callsPerRound: LOAD_CALLS_PER_ROUND,
        rows: conc.rows,
        redisVsMemory: conc.redisVsMemory,
        vsBareProxy: conc.vsBareProxy,
      },
      balancer,
      // Round trips a call's answer waits for, counted with every Redis exchange delayed.
      answerPath,
    };
    mkdirSync(dirname(resultFile), { recursive: true });
    writeFileSync(resultFile, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nwrote ${join("bench/results", "gateway.json")}`);
  } finally {
    await stopChildren();
    if (redisOk) await deleteRunKeys().catch(() => 0);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
