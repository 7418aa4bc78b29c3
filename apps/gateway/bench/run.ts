/**
 * The gateway end to end, each figure next to a baseline measured in the same run.
 *
 * Part 1, sequential latency (one process; the SDK client, one call at a time), the same
 * `tools/call` sent
 *   1. directly to the upstream MCP server over Streamable HTTP (the baseline),
 *   2. through the gateway with policy only (audit off),
 *   3. through the gateway as shipped (a limit on the tool, audit log, metrics, decision
 *      feed) with the memory store,
 *   4. the same, with /mcp on the Express mount rather than the plain Node listener,
 *   5. the same as 3 with the Redis store: every call reserves and commits in Redis.
 * Part 2, throughput at concurrency 32 (upstream and each gateway in their own process,
 * raw HTTP load from this one): direct vs the shipped gateway on memory vs on Redis.
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
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { StoreStats } from "@toolgate/rate-limit-store";
import { Redis } from "ioredis";
import type { RunningGateway } from "../src/gateway.js";
import { type LoadStats, openTarget, runLoad } from "./load.js";
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
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
// Unique per run: the Redis may be shared (other benches, tests), and the keys are
// deleted by prefix at the end.
const REDIS_PREFIX = `tg-bench:${process.pid}-${Date.now()}:`;
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

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const quantile = (xs: readonly number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? Number.NaN;
};
const round = (n: number, digits = 2) => Number(n.toFixed(digits));

/** Where Redis is, without a password, for what we print and record. */
function redisWhere(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "6379"}`;
  } catch {
    return "(unparsable REDIS_URL)";
  }
}

/** Undefined when Redis answers PING, otherwise why not (no secrets in it). */
async function redisProblem(url: string): Promise<string | undefined> {
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on("error", () => {}); // reported through the rejected connect/ping below
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch (err) {
    return `no Redis answered at ${redisWhere(url)} (${(err as Error).name})`;
  } finally {
    r.disconnect();
  }
}

/** The store line a Redis-backed bench gateway uses: REDIS_URL plus this run's prefix. */
function redisStoreLine(): string {
  const u = new URL(REDIS_URL);
  u.searchParams.set("prefix", REDIS_PREFIX);
  return u.toString();
}

async function deleteRunKeys(): Promise<number> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  let deleted = 0;
  try {
    for await (const keys of r.scanStream({ match: `${REDIS_PREFIX}*`, count: 500 })) {
      const batch = keys as string[];
      if (batch.length > 0) deleted += await r.unlink(...batch);
    }
  } finally {
    r.disconnect();
  }
  return deleted;
}

/**
 * A gateway that forwarded `calls` calls must have reserved for each of them in its store,
 * with no backend error: otherwise the Redis figures would not be Redis figures.
 */
function checkStore(label: string, stats: StoreStats, calls: number): void {
  if (stats.reservations < calls || stats.errors > 0 || stats.failOpen > 0 || stats.refused > 0)
    throw new Error(
      `${label}: expected ${calls} reservations without errors, store says ${JSON.stringify(stats)}`,
    );
}

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
    await variant("policy-only", "gateway, policy only", gwPolicy.mcpUrl),
    await variant("memory", "gateway as shipped, memory store", gwMemory.mcpUrl),
    await variant("memory-express", "gateway as shipped, memory, /mcp via Express", expressUrl),
  ];
  if (gwRedis)
    variants.push(await variant("redis", "gateway as shipped, Redis store", gwRedis.mcpUrl));

  const WARMUP = 20;
  for (const v of variants) await timeCalls(v.client, WARMUP);
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(r + k) % variants.length]!;
      const s = await timeCalls(v.client, CALLS_PER_ROUND);
      v.samples.push(...s);
      v.roundMedians.push(median(s));
    }
  }
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
  // What the Redis store costs over the memory store, paired round by round.
  const redisVsMemory = redis
    ? (() => {
        const p = paired(redis, memory);
        return { ratio: round(p.ratio), addedMedianUs: Math.round(p.addedUs) };
      })()
    : null;

  for (const v of variants) await v.client.close();
  viaExpress.closeAllConnections();
  viaExpress.close();
  await Promise.all([upstream.close(), ...gateways.map((g) => g.close())]);
  return { rows, redisVsMemory };
}

// ---------------------------------------------------------------- part 2: concurrent

/** CPU time (user + system, ms) a process has used so far; Linux only, else NaN. */
function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

const children: ChildProcess[] = [];

function spawnChild(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...process.execArgv, here("./child.ts"), ...args], {
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)\n/.exec(out);
      if (m?.[1]) resolve({ child, port: Number(m[1]) });
    });
    child.once("exit", (code) => reject(new Error(`bench child ${args[0]} exited with ${code}`)));
  });
}

function childStats(child: ChildProcess): Promise<StoreStats> {
  return new Promise((resolve) => {
    child.once("message", (m) => resolve(m as StoreStats));
    child.send("stats");
  });
}

async function stopChildren(): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once("exit", () => resolve());
          c.kill("SIGTERM");
        }),
    ),
  );
}

async function concurrent(redisOk: boolean) {
  const up = await spawnChild(["upstream"]);
  const upstreamUrl = `http://127.0.0.1:${up.port}/mcp`;
  const gw = (store: string) =>
    spawnChild([
      "gateway",
      writeGatewayDir({ policy: POLICY_WITH_LIMIT, audit: true, store, upstreamUrl }),
    ]);
  const memory = await gw("memory");
  const redis = redisOk ? await gw(redisStoreLine()) : undefined;

  const sides = [
    {
      id: "direct",
      name: "direct to upstream (baseline)",
      port: up.port,
      auth: {},
      proc: undefined,
    },
    {
      id: "memory",
      name: "gateway as shipped, memory store",
      port: memory.port,
      auth: AUTH,
      proc: memory.child,
    },
    ...(redis
      ? [
          {
            id: "redis",
            name: "gateway as shipped, Redis store",
            port: redis.port,
            auth: AUTH,
            proc: redis.child,
          },
        ]
      : []),
  ].map((s) => ({ ...s, stats: [] as LoadStats[], gatewayCpuMs: 0, upstreamCpuMs: 0 }));
  const targets = await Promise.all(sides.map((s) => openTarget(s.port, s.auth, LOAD_CONCURRENCY)));
  const WARMUP = 300;
  for (const t of targets) await runLoad(t, LOAD_CONCURRENCY, WARMUP);
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < sides.length; k++) {
      const i = (r + k) % sides.length;
      const s = sides[i]!;
      const u0 = cpuMs(up.child.pid);
      const g0 = cpuMs(s.proc?.pid);
      s.stats.push(await runLoad(targets[i]!, LOAD_CONCURRENCY, LOAD_CALLS_PER_ROUND));
      s.upstreamCpuMs += cpuMs(up.child.pid) - u0;
      if (s.proc) s.gatewayCpuMs += cpuMs(s.proc.pid) - g0;
    }
  }
  const sent = WARMUP + ROUNDS * LOAD_CALLS_PER_ROUND;
  checkStore("memory gateway process", await childStats(memory.child), sent);
  if (redis) checkStore("Redis gateway process", await childStats(redis.child), sent);
  for (const t of targets) t.agent.destroy();
  await stopChildren();

  const direct = sides[0]!;
  const total = ROUNDS * LOAD_CALLS_PER_ROUND;
  const rows = sides.map((s) => ({
    id: s.id,
    side: s.name,
    rps: Math.round(median(s.stats.map((x) => x.rps))),
    p50Ms: round(median(s.stats.map((x) => x.p50Ms)), 3),
    p99Ms: round(median(s.stats.map((x) => x.p99Ms)), 3),
    throughputRatio: round(median(s.stats.map((x, r) => x.rps / direct.stats[r]!.rps)), 3),
    // CPU per call holds up under other load on the machine, unlike wall time.
    upstreamCpuUsPerCall: round((s.upstreamCpuMs * 1000) / total, 1),
    gatewayCpuUsPerCall: s.proc ? round((s.gatewayCpuMs * 1000) / total, 1) : null,
  }));
  const mem = sides.find((s) => s.id === "memory")!;
  const red = sides.find((s) => s.id === "redis");
  const redisVsMemory = red
    ? { throughputRatio: round(median(red.stats.map((x, r) => x.rps / mem.stats[r]!.rps)), 3) }
    : null;
  return { rows, redisVsMemory };
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
        `Redis store vs memory store (as shipped): ${seq.redisVsMemory.ratio}x the median, +${seq.redisVsMemory.addedMedianUs} µs`,
      );

    const conc = await concurrent(redisOk);
    console.log(
      `\ntools/call throughput at concurrency ${LOAD_CONCURRENCY} (separate processes), ${ROUNDS} interleaved rounds x ${LOAD_CALLS_PER_ROUND} calls\n`,
    );
    console.table(conc.rows.map(({ id: _id, ...r }) => r));

    const results = {
      package: "@toolgate/gateway",
      benchmark: "tools/call end to end: direct vs through the gateway, memory vs Redis store",
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
      concurrent: {
        concurrency: LOAD_CONCURRENCY,
        rounds: ROUNDS,
        callsPerRound: LOAD_CALLS_PER_ROUND,
        rows: conc.rows,
        redisVsMemory: conc.redisVsMemory,
      },
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
