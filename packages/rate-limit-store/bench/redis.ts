/**
 * The Redis part of `pnpm bench`. Every comparison runs in interleaved rounds (rotated
 * order, same Redis, same process) and reports the median of the per-round ratios, so
 * load from elsewhere on the machine hits both sides alike:
 * - store reserve vs `redis-benchmark -t incr` at the same concurrency (throughput) and
 *   vs a bare ioredis INCR on its own connection from this process (p50 at c1: the
 *   store's own cost on top of one round trip);
 * - the store's process CPU per reserve+commit at c32 vs a bare ioredis EVALSHA of a
 *   trivial script (the client-side floor of any one-script store);
 * - the algorithms side by side (specs.ts).
 */

import { Redis } from "ioredis";
import { createRedisStore } from "../src/redis-store.js";
import { cpuPerCall, measure, median, type Row, redisBenchmark, type Timing } from "./measure.js";
import { ALGORITHMS, compareAlgorithms, KEYS, ROUNDS, specFor } from "./specs.js";

const three = (i: number) => [
  {
    key: "bench-all|global|*",
    counter: "all",
    windowMs: 60_000,
    max: 1e12,
    weight: 1,
    ruleId: "a",
  },
  { key: KEYS[i & 1023]!, counter: "tool", windowMs: 60_000, max: 1e12, weight: 1, ruleId: "b" },
  {
    key: `shared|grant|g${i & 63}`,
    counter: "shared",
    windowMs: 60_000,
    max: 1e12,
    weight: 1,
    ruleId: "c",
  },
];

/** A bare ioredis client (default options) on its own connection. */
async function bareClient(url: string): Promise<Redis> {
  const raw = new Redis(url, { lazyConnect: true });
  await raw.connect();
  return raw;
}

const row = (name: string, c: number, ops: number, ts: readonly Timing[]): Row => ({
  name,
  concurrency: c,
  ops,
  opsPerSec: median(ts.map((t) => t.opsPerSec)),
  p50Us: median(ts.map((t) => t.p50Us)),
  p99Us: median(ts.map((t) => t.p99Us)),
});

/** Median of the per-round ratios a[i].k / b[i].k. */
const paired = (a: readonly Timing[], b: readonly Timing[], k: keyof Timing) =>
  median(a.map((x, i) => x[k] / b[i]![k]));

/** Store reserve vs redis-benchmark INCR and a bare ioredis INCR at concurrency `c`. */
async function reserveRows(url: string, c: number, n: number): Promise<Row[]> {
  const raw = await bareClient(url);
  const store = createRedisStore({ url, prefix: `bench:${Date.now()}:` });
  await store.ready();
  const rawIncr = (i: number) => raw.incr(`bench-floor:${i & 1023}`);
  const reserve = (i: number) => store.reserve(specFor(i));
  const warm = Math.min(n, 20_000);
  await measure(rawIncr, warm, c);
  await measure(reserve, warm, c);
  const m = Math.floor(n / ROUNDS);
  const sides = [
    () => Promise.resolve(redisBenchmark(url, c, m)),
    () => measure(rawIncr, m, c),
    () => measure(reserve, m, c),
  ];
  const per = sides.map(() => [] as Timing[]);
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < sides.length; j++) {
      const k = (j + r) % sides.length;
      per[k]!.push(await sides[k]!());
    }
  }
  const [rb, incr, st] = per as [Timing[], Timing[], Timing[]];
  const rbRow = row("redis-benchmark -t incr", c, n, rb);
  const incrRow: Row = {
    ...row("ioredis INCR (bare client)", c, n, incr),
    baseline: rbRow.name,
    ratio: paired(incr, rb, "opsPerSec"),
  };
  const stRow: Row = {
    ...row("redis store reserve", c, n, st),
    baseline: rbRow.name,
    ratio: paired(st, rb, "opsPerSec"),
    p50Baseline: incrRow.name,
    p50Ratio: paired(st, incr, "p50Us"),
  };
  const t3 = await measure((i) => store.reserve(three(i)), n, c);
  const threeRow: Row = {
    ...row("redis store reserve, 3 limits", c, n, [t3]),
    baseline: rbRow.name,
    ratio: t3.opsPerSec / rbRow.opsPerSec,
  };
  raw.disconnect();
  await store.close();
  return [rbRow, incrRow, stRow, threeRow];
}

/**
 * Client CPU per call at c32: the store's reserve+commit (one script plus a share of one
 * batched commit command) vs a bare EVALSHA of `return 1`, interleaved.
 */
async function cpuRows(url: string, n: number): Promise<Row[]> {
  const c = 32;
  const raw = await bareClient(url);
  const sha = String(await raw.script("LOAD", "return 1"));
  const store = createRedisStore({ url, prefix: `bench-cpu:${Date.now()}:` });
  await store.ready();
  const bare = (_i: number) => raw.evalsha(sha, 0);
  const cycle = async (i: number) => {
    const o = await store.reserve(specFor(i));
    if (o.admitted) await store.commit(o.reservation);
  };
  await cpuPerCall(bare, n, c);
  await cpuPerCall(cycle, n, c);
  const m = Math.floor(n / ROUNDS);
  const sides = [() => cpuPerCall(bare, m, c), () => cpuPerCall(cycle, m, c)];
  const per = sides.map(() => [] as Array<{ opsPerSec: number; cpuUsPerCall: number }>);
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < sides.length; j++) {
      const k = (j + r) % sides.length;
      per[k]!.push(await sides[k]!());
    }
  }
  raw.disconnect();
  await store.close();
  const [b, s] = per as [(typeof per)[0], (typeof per)[0]];
  const cpuRow = (name: string, xs: typeof b): Row => ({
    name,
    concurrency: c,
    ops: n,
    opsPerSec: median(xs.map((x) => x.opsPerSec)),
    p50Us: null,
    p99Us: null,
    cpuUsPerCall: median(xs.map((x) => x.cpuUsPerCall)),
  });
  const base = cpuRow("ioredis EVALSHA return 1 (CPU)", b);
  return [
    base,
    {
      ...cpuRow("redis store reserve+commit (CPU)", s),
      baseline: base.name,
      ratio: median(s.map((x, i) => x.opsPerSec / b[i]!.opsPerSec)),
      cpuRatio: median(s.map((x, i) => x.cpuUsPerCall / b[i]!.cpuUsPerCall)),
    },
  ];
}

/** Every Redis row, against the Redis at `url`. */
export async function redisBench(url: string, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [c, n] of [
    [1, quick ? 4_000 : 20_000],
    [64, quick ? 40_000 : 200_000],
  ] as const) {
    rows.push(...(await reserveRows(url, c, n)));
    const stores = ALGORITHMS.map((alg) =>
      createRedisStore({ url, prefix: `bench-${alg}:${Date.now()}:` }),
    );
    await Promise.all(stores.map((x) => x.ready()));
    rows.push(...(await compareAlgorithms("redis", c, n, Math.min(n, 20_000), stores)));
    await Promise.all(stores.map((x) => x.close()));
  }
  rows.push(...(await cpuRows(url, quick ? 20_000 : 100_000)));
  return rows;
}
