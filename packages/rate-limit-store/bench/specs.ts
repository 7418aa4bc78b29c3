/** The calls `pnpm bench` makes, and the side-by-side comparison of the algorithms. */

import type { CounterStore } from "@toolgate/policy-engine";
import { measure, median, type Row, type Timing } from "./measure.js";

export const KEYS = Array.from({ length: 1024 }, (_, i) => `bench|grant|g${i}`);

/** One fixed limit with room for everything (the throughput call). */
export const specFor = (i: number) => [
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
export const ALGORITHMS = ["fixed", "sliding", "token_bucket"] as const;
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

/** Interleaved rounds of every side-by-side comparison. */
export const ROUNDS = 5;

/**
 * The algorithms side by side: ROUNDS interleaved rounds, each measuring every algorithm
 * on its own store in rotated order, so load from elsewhere hits all of them alike.
 * The rows report the median throughput; `ratio` is the median of the per-round ratios
 * to fixed in the same round (a burst of outside load skews it less than a ratio of medians).
 */
export async function compareAlgorithms(
  where: "memory" | "redis",
  c: number,
  ops: number,
  warm: number,
  stores: readonly CounterStore[],
): Promise<Row[]> {
  const opsOf = ALGORITHMS.map((alg, k) => {
    const specs = algSpecFor(alg);
    const st = stores[k]!;
    return async (i: number) => {
      const o = await st.reserve(specs(i));
      if (o.admitted) await st.commit(o.reservation);
    };
  });
  for (const op of opsOf) await measure(op, warm, c);
  const per = ALGORITHMS.map(() => [] as Timing[]);
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < ALGORITHMS.length; j++) {
      const k = (j + r) % ALGORITHMS.length;
      per[k]!.push(
        await measure(opsOf[k]!, Math.floor(ops / ROUNDS), c, Math.floor(warm / ROUNDS)),
      );
    }
  }
  const rows: Row[] = [];
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
  return rows;
}
