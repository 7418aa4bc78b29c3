/**
 * Helpers shared by the middleware benches: child processes that print their ports, raw
 * keep-alive POSTs, an MCP session, a closed-loop load at a given concurrency, CPU time.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
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

/** One side of a comparison: a port, headers (auth, session) and its sockets. */
export interface Target {
  port: number;
  headers: Record<string, string>;
  agent: Agent;
}

/** One POST to /mcp on the target's keep-alive sockets. */
export function postRaw(
  t: Target,
  body: string,
): Promise<{ status: number; text: string; sid?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: t.port,
        path: "/mcp",
        method: "POST",
        agent: t.agent,
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "content-length": Buffer.byteLength(body),
          ...t.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const sid = res.headers["mcp-session-id"];
          const out: { status: number; text: string; sid?: string } = {
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
          };
          if (typeof sid === "string") out.sid = sid;
          resolve(out);
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Initializes an MCP session on `port` with `auth` headers. */
export async function session(
  port: number,
  auth: Record<string, string>,
  sockets: number,
): Promise<Target> {
  const t: Target = {
    port,
    headers: { ...auth },
    agent: new Agent({ keepAlive: true, maxSockets: sockets }),
  };
  const init = await postRaw(
    t,
    JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "bench", version: "1" },
      },
    }),
  );
  if (init.status !== 200 || !init.sid)
    throw new Error(`initialize failed: ${init.status} ${init.text}`);
  t.headers["mcp-session-id"] = init.sid;
  t.headers["mcp-protocol-version"] = "2025-11-25";
  await postRaw(t, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  return t;
}

/** What one load run measured. */
export interface Stats {
  calls: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/** `calls` tools/call echo requests from `concurrency` closed-loop workers. */
export async function load(t: Target, concurrency: number, calls: number): Promise<Stats> {
  const lat: number[] = [];
  let next = 0;
  let id = 1;
  const worker = async (): Promise<void> => {
    while (next < calls) {
      next++;
      const body = `{"jsonrpc":"2.0","id":${id++},"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}`;
      const t0 = process.hrtime.bigint();
      const r = await postRaw(t, body);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (r.status !== 200 || !r.text.includes('"hello"'))
        throw new Error(`bad response ${r.status} ${r.text}`);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  return { calls, seconds, rps: calls / seconds, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

/** Rounds to `d` decimals. */
export const round = (n: number, d = 3): number => Math.round(n * 10 ** d) / 10 ** d;

/** CPU time (user + system, ms) a child has used so far; Linux only, else NaN. */
export function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const v = [...xs].sort((x, y) => x - y);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

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
