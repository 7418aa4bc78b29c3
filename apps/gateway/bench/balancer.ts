/**
 * Part 3 of the gateway benchmark: two gateways behind a round-robin balancer vs one
 * gateway behind the same balancer, driven with stateless 2026 requests (no session, so
 * any instance serves any call; with a Redis store the limits stay exact across both).
 * The balancer is the bare proxy with two targets, so both sides pay the same extra hop.
 */
import { interleave, median, openTarget, round, runLoad } from "../../../bench/load.js";
import { spawnChild, stopChildren } from "./procs.js";
import { BENCH_KEY, type BenchGatewaySpec, POLICY_WITH_LIMIT } from "./servers.js";

/** What the balancer part needs from the run. */
export interface BalancerPlan {
  readonly rounds: number;
  readonly calls: number;
  readonly concurrency: number;
  /** The store line both gateways share (Redis when available). */
  readonly store: string;
  readonly writeGatewayDir: (spec: BenchGatewaySpec) => string;
}

/** Runs the part and returns its figures (throughput of two vs one, paired per round). */
export async function balancerRows(plan: BalancerPlan) {
  const up = await spawnChild(["upstream"]);
  const upstreamUrl = `http://127.0.0.1:${up.port}/mcp`;
  const gw = () =>
    spawnChild([
      "gateway",
      plan.writeGatewayDir({
        policy: POLICY_WITH_LIMIT,
        audit: true,
        store: plan.store,
        upstreamUrl,
      }),
    ]);
  const [g1, g2] = [await gw(), await gw()];
  const one = await spawnChild(["proxy", String(g1.port)]);
  const two = await spawnChild(["proxy", String(g1.port), String(g2.port)]);
  try {
    const auth = { Authorization: `Bearer ${BENCH_KEY}` };
    const opts = { stateless: true, expect: '"text":"ok"' } as const;
    const targets = {
      one: await openTarget(one.port, auth, plan.concurrency, opts),
      two: await openTarget(two.port, auth, plan.concurrency, opts),
    };
    for (const t of Object.values(targets)) await runLoad(t, plan.concurrency, 300);
    const run = await interleave(["one", "two"] as const, plan.rounds, {}, (side) =>
      runLoad(targets[side], plan.concurrency, plan.calls),
    );
    for (const t of Object.values(targets)) t.agent.destroy();
    const { one: s1, two: s2 } = run.stats;
    return {
      concurrency: plan.concurrency,
      protocol: "2026-07-28 (stateless)",
      store: plan.store.startsWith("redis") ? "redis" : "memory",
      oneGatewayRps: Math.round(median(s1.map((x) => x.rps))),
      twoGatewaysRps: Math.round(median(s2.map((x) => x.rps))),
      twoToOne: round(median(s2.map((x, r) => x.rps / s1[r]!.rps)), 3),
      oneP50Ms: round(median(s1.map((x) => x.p50Ms))),
      twoP50Ms: round(median(s2.map((x) => x.p50Ms))),
    };
  } finally {
    await stopChildren();
  }
}
