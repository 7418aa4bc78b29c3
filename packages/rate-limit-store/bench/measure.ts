/** Measurement helpers shared by the memory and Redis parts of `pnpm bench`. */

import { execFileSync } from "node:child_process";

/** Throughput and latency of one measured pass. */
export interface Timing {
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
}

/** One row of the results file. */
export interface Row {
  name: string;
  concurrency: number;
  ops: number;
  opsPerSec: number;
  p50Us: number | null;
  p99Us: number | null;
  baseline?: string;
  /** opsPerSec ÷ the baseline's (the median of per-round ratios when rounds were paired). */
  ratio?: number;
  /** p50 latency ÷ the p50 of `p50Baseline` (median of per-round ratios). */
  p50Baseline?: string;
  p50Ratio?: number;
  /** Process CPU (user + system) per call, µs, where measured. */
  cpuUsPerCall?: number;
  /** cpuUsPerCall ÷ the baseline's (median of per-round ratios). */
  cpuRatio?: number;
}

export function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Runs `op` `total` times over `concurrency` loops. Throughput comes from an untimed
 * pass (per-call timers would dominate sub-microsecond calls); latency from a timed one.
 */
export async function measure(
  op: (i: number) => Promise<unknown>,
  total: number,
  concurrency: number,
  timedTotal = total,
): Promise<Timing> {
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

/** Process CPU (user + system, µs) per call of `op` run `total` times over `concurrency` loops. */
export async function cpuPerCall(
  op: (i: number) => Promise<unknown>,
  total: number,
  concurrency: number,
): Promise<{ opsPerSec: number; cpuUsPerCall: number }> {
  const per = Math.floor(total / concurrency);
  let next = 0;
  const loop = async () => {
    for (let k = 0; k < per; k++) await op(next++);
  };
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const n = per * concurrency;
  return { opsPerSec: n / secs, cpuUsPerCall: (c.user + c.system) / n };
}

/** `redis-benchmark -t incr` at `concurrency` against the Redis at `url`. */
export function redisBenchmark(url: string, concurrency: number, n: number): Timing {
  const u = new URL(url);
  const args = ["-h", u.hostname, "-p", u.port || "6379", "-t", "incr"];
  args.push("-c", String(concurrency), "-n", String(n), "--csv");
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
