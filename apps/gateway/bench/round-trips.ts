/**
 * Part 4 of the gateway benchmark: how many Redis round trips a call's answer waits for.
 * A memory gateway and a Redis gateway whose every Redis exchange is held `delayMs` by a
 * TCP proxy take the same sequential calls, interleaved; the Redis gateway's added
 * median divided by the delay counts the round trips on the answer path (1 when only the
 * reservation is awaited and the commit rides later). The delay dwarfs the CPU time of
 * either gateway, so the count is not blurred by it (the sequential part's "added over
 * memory, in round trips" row measures that CPU time too).
 */
import { median, openTarget, postRaw, round } from "../../../bench/load.js";
import { startDelayProxy } from "../test/helpers/delay-proxy.js";
import { spawnChild, stopChildren } from "./procs.js";
import { BENCH_KEY, type BenchGatewaySpec, POLICY_WITH_LIMIT } from "./servers.js";

/** What this part needs from the run. */
export interface RoundTripPlan {
  readonly rounds: number;
  readonly callsPerRound: number;
  /** Where the Redis is that the delay goes in front of. */
  readonly redis: { readonly host: string; readonly port: number };
  /** The store line of a gateway reaching that Redis through local `port`. */
  readonly storeLine: (port: number) => string;
  readonly writeGatewayDir: (spec: BenchGatewaySpec) => string;
}

/** The delay each Redis exchange gets. */
const DELAY_MS = 20;

/** Runs the part: round trips on the answer path, paired per round. */
export async function answerPathRoundTrips(plan: RoundTripPlan) {
  const proxy = await startDelayProxy(plan.redis.port, DELAY_MS, plan.redis.host);
  try {
    const up = await spawnChild(["upstream"]);
    const upstreamUrl = `http://127.0.0.1:${up.port}/mcp`;
    const gw = (store: string) =>
      spawnChild([
        "gateway",
        plan.writeGatewayDir({ policy: POLICY_WITH_LIMIT, audit: true, store, upstreamUrl }),
      ]);
    const memory = await gw("memory");
    const delayed = await gw(plan.storeLine(proxy.port));
    const auth = { Authorization: `Bearer ${BENCH_KEY}` };
    const opts = { expect: '"text":"ok"' } as const;
    const targets = {
      memory: await openTarget(memory.port, auth, 1, opts),
      delayed: await openTarget(delayed.port, auth, 1, opts),
    };
    let id = 0;
    const time = async (side: keyof typeof targets, n: number) => {
      const t = targets[side];
      const took: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        const r = await postRaw(t, t.body(++id));
        took.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (!t.ok(r.status, r.text)) throw new Error(`unexpected answer: HTTP ${r.status}`);
      }
      return median(took);
    };
    await time("memory", 5);
    await time("delayed", 5);
    const trips: number[] = [];
    const mems: number[] = [];
    const dels: number[] = [];
    for (let r = 0; r < plan.rounds; r++) {
      const m = await time("memory", plan.callsPerRound);
      const d = await time("delayed", plan.callsPerRound);
      mems.push(m);
      dels.push(d);
      trips.push((d - m) / DELAY_MS);
    }
    for (const t of Object.values(targets)) t.agent.destroy();
    return {
      delayMs: DELAY_MS,
      memoryMedianMs: round(median(mems)),
      delayedRedisMedianMs: round(median(dels)),
      roundTrips: round(median(trips), 2),
    };
  } finally {
    await stopChildren();
    await proxy.close();
  }
}
