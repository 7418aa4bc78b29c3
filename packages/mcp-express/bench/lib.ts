/**
 * Helpers of the middleware benches: child processes that print their ports, plus the
 * load generator all end-to-end benches share (`bench/load.ts` at the repository root:
 * raw keep-alive POSTs, sessions, closed-loop load, interleaved rounds, CPU time).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** A path next to this file. */
export const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
/** Child processes started by {@link startChild}; the bench stops them at the end. */
export const children: ChildProcess[] = [];
/** BENCH_QUICK=1 (the root `pnpm bench:quick`): a fifth of the calls. */
export const QUICK = process.env.BENCH_QUICK === "1";

/** Starts a bench child; resolves with the numbers it prints after `PORT`. */
export async function startChild(file: string, args: string[] = []): Promise<number[]> {
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

export type { LoadStats as Stats, LoadTarget as Target } from "../../../bench/load.js";
export {
  cpuMs,
  interleave,
  median,
  openTarget as session,
  postRaw,
  round,
  runLoad as load,
} from "../../../bench/load.js";

/** Stops every child started by {@link startChild}. */
export async function stopChildren(): Promise<void> {
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
