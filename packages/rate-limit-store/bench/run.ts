/**
 * `pnpm bench`: reservations/s and p50/p99 latency of the memory and Redis stores at
 * concurrency 1 and 64, each next to a baseline measured in the same run:
 * - memory store vs rate-limiter-flexible's RateLimiterMemory.consume (one key, no
 *   all-or-nothing, no reservation) — the library the package builds on;
 * - Redis store vs `redis-benchmark -t incr` at the same concurrency against the same
 *   Redis — one round trip per call, the practical ceiling.
 * Prints a table and writes bench/results/rate-limit-store.json at the repo root.
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { createMemoryStore } from "@toolgate/policy-engine";
import { Redis } from "ioredis";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { createRedisStore } from "../src/redis-store.js";
import {
  hasRedisServer,
  pingRedis,
  type RedisServerProcess,
  startRedisServer,
} from "../test/redis-server.js";

const repoRoot = new URL("../../../", import.meta.url);
/** BENCH_QUICK=1 (the root `pnpm bench:quick`): about a tenth of the calls. */
const QUICK = process.env.BENCH_QUICK === "1";
const resultsFile = new URL("bench/results/rate-limit-store.json", repoRoot);

interface Row {
  name: string;
  concurrency: number;
  ops: number;
  opsPerSec: number;
  p50Us: number | null;
  p99Us: number | null;
  baseline?: string;
  ratio?: number;
}

const KEYS = Array.from({ length: 1024 }, (_, i) => `bench|grant|g${i}`);
const specFor = (i: number) => [
  {
    key: KEYS[i & 1023]!,
    counter: "bench",
    windowMs: 60_000,
    max: 1e12,
    weight: 1,
    ruleId: "bench",
  },
];

/**
 * The algorithm comparison: the same one-limit call as `fixed`, `sliding` and
 * `token_bucket`, with a one-second window so the sliding log stays at its steady size
 * (about one second of calls per key) instead of growing for the whole run.
 */
const ALGORITHMS = ["fixed", "sliding", "token_bucket"] as const;
const algSpecFor = (algorithm: (typeof ALGORITHMS)[number]) => (i: number) => [
  {
    key: KEYS[i & 1023]!,
    counter: "bench",
    windowMs: 1000,
    max: 1e12,
    weight: 1,
    ruleId: "bench",
    algorithm,
  },
];

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/**
 * Runs `op` `total` times over `concurrency` loops. Throughput comes from an untimed
 * pass (per-call timers would dominate sub-microsecond calls); latency from a timed one.
 */
async function measure(
  op: (i: number) => Promise<unknown>,
  total: number,
  concurrency: number,
  timedTotal = total,
): Promise<{ opsPerSec: number; p50Us: number; p99Us: number }> {
  const per = Math.floor(total / concurrency);
  let next = 0;
  const untimed = async () => {
    for (let k = 0; k < per; k++) await op(next++);
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, untimed));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const tPer = Math.floor(timedTotal / concurrency);
  const lat = new Float64Array(tPer * concurrency);
  let li = 0;
  const timed = async () => {
    for (let k = 0; k < tPer; k++) {
      const s = process.hrtime.bigint();
      await op(next++);
      lat[li++] = Number(process.hrtime.bigint() - s) / 1000;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, timed));
  lat.sort();
  return { opsPerSec: (per * concurrency) / secs, p50Us: pct(lat, 0.5), p99Us: pct(lat, 0.99) };
}

function redisBenchmark(
  url: string,
  concurrency: number,
  n: number,
): { opsPerSec: number; p50Us: number; p99Us: number } {
  const u = new URL(url);
  const args = [
    "-h",
    u.hostname,
    "-p",
    u.port || "6379",
    "-t",
    "incr",
    "-c",
    String(concurrency),
    "-n",
    String(n),
    "--csv",
  ];
  if (u.password) args.push("-a", decodeURIComponent(u.password));
  const out = execFileSync("redis-benchmark", args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const line = out.split("\n").find((l) => l.startsWith('"INCR"'));
  if (line === undefined) throw new Error(`unexpected redis-benchmark output: ${out}`);
  const f = line.split(",").map((c) => Number(c.replaceAll('"', "")));
  return { opsPerSec: f[1]!, p50Us: f[4]! * 1000, p99Us: f[6]! * 1000 };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const add = (
    name: string,
    concurrency: number,
    ops: number,
    r: { opsPerSec: number; p50Us: number; p99Us: number },
    base?: Row,
  ) => {
    const row: Row = {
      name,
      concurrency,
      ops,
      opsPerSec: r.opsPerSec,
      p50Us: r.p50Us,
      p99Us: r.p99Us,
    };
    if (base !== undefined) {
      row.baseline = base.name;
      row.ratio = r.opsPerSec / base.opsPerSec;
    }
    rows.push(row);
    return row;
  };

  /**
   * The algorithms side by side: ROUNDS interleaved rounds, each measuring every algorithm
   * on its own store in rotated order, so load from elsewhere hits all of them alike.
   * The rows report the median throughput; `ratio` is the median of the per-round ratios
   * to fixed in the same round (a burst of outside load skews it less than a ratio of medians).
   */
  const ROUNDS = 5;
  const compareAlgorithms = async (
    where: "memory" | "redis",
    c: number,
    ops: number,
    warm: number,
    stores: ReadonlyArray<Awaited<ReturnType<typeof createMemoryStore>>>,
  ) => {
    const opsOf = ALGORITHMS.map((alg, k) => {
      const specs = algSpecFor(alg);
      const st = stores[k]!;
      return async (i: number) => {
        const o = await st.reserve(specs(i));
        if (o.admitted) await st.commit(o.reservation);
      };
    });
    for (const op of opsOf) await measure(op, warm, c);
    const per = ALGORITHMS.map(
      () => [] as Array<{ opsPerSec: number; p50Us: number; p99Us: number }>,
    );
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < ALGORITHMS.length; j++) {
        const k = (j + r) % ALGORITHMS.length;
        per[k]!.push(
          await measure(opsOf[k]!, Math.floor(ops / ROUNDS), c, Math.floor(warm / ROUNDS)),
        );
      }
    }
    const median = (xs: number[]) => {
      const s2 = [...xs].sort((a, b) => a - b);
      return s2[Math.floor(s2.length / 2)]!;
    };
    let fixedName: string | undefined;
    ALGORITHMS.forEach((alg, k) => {
      const rs = per[k]!;
      const row: Row = {
        name: `${where} ${alg} reserve+commit`,
        concurrency: c,
        ops,
        opsPerSec: median(rs.map((x) => x.opsPerSec)),
        p50Us: median(rs.map((x) => x.p50Us)),
        p99Us: median(rs.map((x) => x.p99Us)),
      };
      if (fixedName !== undefined) {
        row.baseline = fixedName;
        row.ratio = median(rs.map((x, i) => x.opsPerSec / per[0]![i]!.opsPerSec));
      }
      fixedName ??= row.name;
      rows.push(row);
    });
  };

  // --- memory
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
    add(
      "memory store reserve+commit",
      c,
      MEM_OPS,
      await measure(cycle, MEM_OPS, c, MEM_SMALL),
      base,
    );
    await store.close();
    const stores = ALGORITHMS.map(() => createMemoryStore({ sweepIntervalMs: 0 }));
    await compareAlgorithms("memory", c, MEM_OPS / 4, MEM_SMALL, stores);
    await Promise.all(stores.map((x) => x.close()));
  }

  // --- redis: a private server when possible, so the shared one stays quiet
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
    for (const [c, n] of [
      [1, QUICK ? 4_000 : 20_000],
      [64, QUICK ? 40_000 : 200_000],
    ] as const) {
      const incr = redisBenchmark(url, c, n);
      const base = add("redis-benchmark -t incr", c, n, incr);
      // The floor for any Node client: one ioredis INCR round trip per call, same options
      // the store uses (auto-pipelining), so the store's own cost is the difference.
      const raw = new Redis(url, { enableAutoPipelining: true, lazyConnect: true });
      await raw.connect();
      const rawIncr = (i: number) => raw.incr(`bench-floor:${i & 1023}`);
      await measure(rawIncr, Math.min(n, 20_000), c);
      add("ioredis INCR (Node floor)", c, n, await measure(rawIncr, n, c), base);
      raw.disconnect();
      const store = createRedisStore({ url, prefix: `bench:${Date.now()}:` });
      await store.ready();
      const reserve = (i: number) => store.reserve(specFor(i));
      await measure(reserve, Math.min(n, 20_000), c);
      add("redis store reserve", c, n, await measure(reserve, n, c), base);
      const three = (i: number) => [
        {
          key: "bench-all|global|*",
          counter: "all",
          windowMs: 60_000,
          max: 1e12,
          weight: 1,
          ruleId: "a",
        },
        {
          key: KEYS[i & 1023]!,
          counter: "tool",
          windowMs: 60_000,
          max: 1e12,
          weight: 1,
          ruleId: "b",
        },
        {
          key: `shared|grant|g${i & 63}`,
          counter: "shared",
          windowMs: 60_000,
          max: 1e12,
          weight: 1,
          ruleId: "c",
        },
      ];
      const reserve3 = (i: number) => store.reserve(three(i));
      add("redis store reserve, 3 limits", c, n, await measure(reserve3, n, c), base);
      await store.close();
      const rstores = ALGORITHMS.map((alg) =>
        createRedisStore({ url, prefix: `bench-${alg}:${Date.now()}:` }),
      );
      await Promise.all(rstores.map((x) => x.ready()));
      await compareAlgorithms("redis", c, n, Math.min(n, 20_000), rstores);
      await Promise.all(rstores.map((x) => x.close()));
    }
  } finally {
    await server?.kill();
  }

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
  }));
  console.table(table);
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
        note: "Throughput from an untimed pass; p50/p99 from a timed pass. Redis rows ran against the same redis-server as the redis-benchmark row above them.",
        rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${resultsFile.pathname.replace(repoRoot.pathname, "")}`);
}

await main();
