/**
 * Child processes of the concurrent gateway benchmark (`child.ts` modes: upstream,
 * gateway, proxy), so the load generator, the upstream and each server under test get
 * their own event loop, as in production.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { StoreStats } from "@toolgate/rate-limit-store";

const childFile = fileURLToPath(new URL("./child.ts", import.meta.url));
const children: ChildProcess[] = [];

/** A started child and the port it listens on. */
export interface BenchChild {
  readonly child: ChildProcess;
  readonly port: number;
}

/**
 * Starts `child.ts <args>`; resolves once it prints its port. BENCH_CPU_PROF=<dir>
 * profiles every child (`--cpu-prof`), written when it stops.
 */
export function spawnChild(args: string[]): Promise<BenchChild> {
  const prof = process.env.BENCH_CPU_PROF
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const child = spawn(process.execPath, [...prof, ...process.execArgv, childFile, ...args], {
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

/** A gateway child's store counters (answers the IPC message "stats"). */
export function childStats(child: ChildProcess): Promise<StoreStats> {
  return new Promise((resolve) => {
    child.once("message", (m) => resolve(m as StoreStats));
    child.send("stats");
  });
}

/** Stops every child started so far (SIGTERM, then waits for the exits). */
export async function stopChildren(): Promise<void> {
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
