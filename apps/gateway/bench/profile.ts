/**
 * Where the gateway spends its CPU at c=32: the upstream and one gateway as shipped
 * (memory store, or Redis with BENCH_STORE=redis://...) in child processes, a warm-up,
 * then the gateway's CPU profiled (inspector) under a closed-loop load from this process,
 * then the top functions by self time (and by file).
 *
 * Run: pnpm --filter @toolgate/gateway exec tsx bench/profile.ts   (BENCH_CALLS=6000;
 * BENCH_PROFILE=proxy profiles the bare proxy under the same load, for comparison)
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTarget, runLoad } from "../../../bench/load.js";
import { spawnChild, stopChildren } from "./procs.js";
import { BENCH_KEY, POLICY_WITH_LIMIT, writeGatewayDir } from "./servers.js";

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function and per file, as shares of the busy (non-idle) time, top `n` of each. */
export function summarize(p: Profile, n = Number(process.env.BENCH_TOP ?? 25)) {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const f = byId.get(id)?.callFrame;
    // Shares of busy time: waiting for the network is not a cost.
    if (f === undefined || f.functionName === "(idle)") return;
    total += dt;
    const where = f.url.replace(/^.*node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, "");
    const short = where.replace(/^file:\/\/.*\/(packages|apps)\//, "$1/");
    const name = `${f.functionName || "(anonymous)"} ${short}:${f.lineNumber + 1}`;
    fn.set(name, (fn.get(name) ?? 0) + dt);
    const key = short.split("/").slice(0, 3).join("/") || "(native/vm)";
    file.set(key, (file.get(key) ?? 0) + dt);
  });
  const top = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => ({ selfPct: Number(((v / total) * 100).toFixed(1)), where: k }));
  return { busyMs: Math.round(total / 1000), functions: top(fn), modules: top(file) };
}

/** Who calls `name` (nine frames up), by share of its self time: finds a native's source. */
export function callersOf(p: Profile, name: string, n = 8) {
  const parent = new Map<number, ProfileNode>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x);
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const paths = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    if (byId.get(id)?.callFrame.functionName !== name) return;
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const chain: string[] = [];
    for (let x = parent.get(id); x !== undefined && chain.length < 9; x = parent.get(x.id)) {
      const f = x.callFrame;
      chain.push(`${f.functionName || "(anon)"}@${f.url.split("/").slice(-2).join("/")}`);
    }
    const key = chain.join(" < ");
    paths.set(key, (paths.get(key) ?? 0) + dt);
  });
  return [...paths.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => ({ pct: Number(((v / total) * 100).toFixed(1)), callers: k }));
}

/** Sends `m` to a bench child and resolves with its next message. */
function ask(child: ChildProcess, m: string): Promise<unknown> {
  return new Promise((resolve) => {
    child.once("message", resolve);
    child.send(m);
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tg-prof-"));
  const calls = Number(process.env.BENCH_CALLS ?? 6000);
  try {
    const up = await spawnChild(["upstream"]);
    const store = process.env.BENCH_STORE ?? "memory";
    const gwDir = writeGatewayDir({
      policy: POLICY_WITH_LIMIT,
      audit: true,
      store,
      upstreamUrl: `http://127.0.0.1:${up.port}/mcp`,
    });
    // BENCH_PROFILE=proxy profiles the bare Node proxy instead: the floor to compare with.
    const bare = process.env.BENCH_PROFILE === "proxy";
    const gw = await spawnChild(bare ? ["proxy", String(up.port)] : ["gateway", gwDir]);
    const auth: Record<string, string> = bare ? {} : { Authorization: `Bearer ${BENCH_KEY}` };
    const t = await openTarget(gw.port, auth, 32, { expect: '"text":"ok"' });
    // Warm up first, then profile only the steady state (no start-up, no compilation).
    await runLoad(t, 32, 1000);
    await ask(gw.child, "profile-start");
    const stats = await runLoad(t, 32, calls);
    const profile = ((await ask(gw.child, "profile-stop")) as { profile: Profile }).profile;
    t.agent.destroy();
    await stopChildren();
    rmSync(gwDir, { recursive: true, force: true });
    const summary = summarize(profile);
    // BENCH_SAVE=<file>: keep the raw profile (e.g. for Chrome DevTools).
    if (process.env.BENCH_SAVE) writeFileSync(process.env.BENCH_SAVE, JSON.stringify(profile));
    console.log(
      `${calls} calls at c=32, ${Math.round(stats.rps)} calls/s, ${bare ? "bare proxy" : `store ${store}, gateway`} busy ${summary.busyMs} ms (${Math.round((summary.busyMs * 1000) / calls)} µs per call, steady state)`,
    );
    console.log("top self time by function:");
    console.table(summary.functions);
    console.log("by module:");
    console.table(summary.modules);
    // BENCH_CALLERS=writev: where a native's time comes from.
    const who = process.env.BENCH_CALLERS;
    if (who) for (const r of callersOf(profile, who)) console.log(`${r.pct}%  ${r.callers}`);
  } finally {
    await stopChildren();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
