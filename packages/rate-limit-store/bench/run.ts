/**
 * `pnpm bench`: reservations/s and p50/p99 latency of the memory and Redis stores at
 * concurrency 1 and 64, each next to a baseline measured in the same run:
 * - memory store vs rate-limiter-flexible's RateLimiterMemory.consume (one key, no
 *   all-or-nothing, no reservation) — the library the package builds on;
 * - Redis store vs `redis-benchmark -t incr` and a bare ioredis INCR, interleaved
 *   (redis.ts), plus the store's client CPU per call and the algorithms side by side.
 * Prints a table and writes bench/results/rate-limit-store.json at the repo root.
 * BENCH_ONLY=redis (or memory) runs one part and writes no results file.
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { createMemoryStore } from "@toolgate/policy-engine";
import { RateLimiterMemory } from "rate-limiter-flexible";
import {
  hasRedisServer,
  pingRedis,
  type RedisServerProcess,
  startRedisServer,
} from "../test/redis-server.js";
import { measure, type Row, type Timing } from "./measure.js";
import { redisBench } from "./redis.js";
import { ALGORITHMS, compareAlgorithms, KEYS, specFor } from "./specs.js";

const repoRoot = new URL("../../../", import.meta.url);
/** BENCH_QUICK=1 (the root `pnpm bench:quick`): about a tenth of the calls. */
const QUICK = process.env.BENCH_QUICK === "1";
const ONLY = process.env.BENCH_ONLY;
const resultsFile = new URL("bench/results/rate-limit-store.json", repoRoot);

async function memoryBench(): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (name: string, c: number, ops: number, r: Timing, base?: Row) => {
    const row: Row = { name, concurrency: c, ops, ...r };
    if (base !== undefined) {
      row.baseline = base.name;
      row.ratio = r.opsPerSec / base.opsPerSec;
    }
    rows.push(row);
    return row;
  };
  const MEM_OPS = QUICK ? 200_000 : 2_000_000;
  /** Warm-up and timed-pass size: a tenth of the throughput pass. */
  const MEM_SMALL = MEM_OPS / 10;
  for (const c of [1, 64]) {
    const rlf = new RateLimiterMemory({ points: 1e12, duration: 60 });
    await measure((i) => rlf.consume(KEYS[i & 1023]!, 1), MEM_SMALL, c); // warm-up
    const base = add(
      "rlf RateLimiterMemory.consume",
      c,
      MEM_OPS,
      await measure((i) => rlf.consume(KEYS[i & 1023]!, 1), MEM_OPS, c, MEM_SMALL),
    );
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const reserve = (i: number) => store.reserve(specFor(i));
    await measure(reserve, MEM_SMALL, c);
    add("memory store reserve", c, MEM_OPS, await measure(reserve, MEM_OPS, c, MEM_SMALL), base);
    const cycle = async (i: number) => {
      const o = await store.reserve(specFor(i));
      if (o.admitted) await store.commit(o.reservation);
    };
    const t = await measure(cycle, MEM_OPS, c, MEM_SMALL);
    add("memory store reserve+commit", c, MEM_OPS, t, base);
    await store.close();
    const stores = ALGORITHMS.map(() => createMemoryStore({ sweepIntervalMs: 0 }));
    rows.push(...(await compareAlgorithms("memory", c, MEM_OPS / 4, MEM_SMALL, stores)));
    await Promise.all(stores.map((x) => x.close()));
  }
  return rows;
}

/** The Redis rows, on a private server when possible so the shared one stays quiet. */
async function redisPart(): Promise<Row[]> {
  let server: RedisServerProcess | undefined;
  let url = process.env.BENCH_REDIS_URL;
  if (url === undefined) {
    if (hasRedisServer()) {
      server = await startRedisServer();
      url = server.url;
    } else url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  }
  if (!(await pingRedis(url, 1000))) throw new Error(`no Redis answers at ${url}`);
  try {
    return await redisBench(url, QUICK);
  } finally {
    await server?.kill();
  }
}

function print(rows: readonly Row[]): void {
  const fmt = (n: number | null | undefined, d = 0) =>
    n === null || n === undefined
      ? ""
      : n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  const table = rows.map((r) => ({
    benchmark: r.name,
    c: r.concurrency,
    "ops/s": fmt(r.opsPerSec),
    "p50 µs": fmt(r.p50Us, 1),
    "p99 µs": fmt(r.p99Us, 1),
    "vs baseline": r.ratio === undefined ? "(baseline)" : `${fmt(r.ratio, 2)}x ${r.baseline}`,
    "p50 vs": r.p50Ratio === undefined ? "" : `${fmt(r.p50Ratio, 2)}x ${r.p50Baseline}`,
    "CPU µs/call": r.cpuUsPerCall === undefined ? "" : fmt(r.cpuUsPerCall, 1),
    "CPU vs": r.cpuRatio === undefined ? "" : `${fmt(r.cpuRatio, 2)}x`,
  }));
  console.table(table);
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  if (ONLY !== "redis") rows.push(...(await memoryBench()));
  if (ONLY !== "memory") rows.push(...(await redisPart()));
  print(rows);
  if (ONLY !== undefined) return;
  mkdirSync(new URL(".", resultsFile), { recursive: true });
  writeFileSync(
    resultsFile,
    `${JSON.stringify(
      {
        package: "@toolgate/rate-limit-store",
        date: new Date().toISOString(),
        node: process.version,
        cpus: cpus().length,
        quick: QUICK,
        note: "Throughput from an untimed pass; p50/p99 from a timed pass. Redis comparisons ran in interleaved rounds against one redis-server; ratios are medians of per-round ratios.",
        rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${resultsFile.pathname.replace(repoRoot.pathname, "")}`);
}

await main();
