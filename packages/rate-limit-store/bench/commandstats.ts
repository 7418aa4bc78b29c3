/**
 * Server work per reservation, read from Redis's own counters (`INFO commandstats`)
 * rather than from wall-clock throughput, so it does not depend on the machine's load:
 * for each algorithm, N one-limit reserve+commit calls at concurrency 64 (the bench's
 * call: 1 s window, 1,024 keys) against a private `redis-server`, then the calls and
 * microseconds per reservation of every command Redis ran (the scripts' inner commands
 * are listed under their own names; the EVALSHA row includes them), and Redis's whole CPU
 * time per reservation (INFO cpu: scripts, commit markers, network I/O).
 *
 * `pnpm --filter @toolgate/rate-limit-store exec tsx bench/commandstats.ts` (BENCH_N).
 */

import { Redis } from "ioredis";
import { createRedisStore } from "../src/redis-store.js";
import { startRedisServer } from "../test/redis-server.js";
import { measure } from "./measure.js";
import { ALGORITHMS, KEYS } from "./specs.js";

const N = Number(process.env.BENCH_N ?? 30_000);

interface Stat {
  calls: number;
  usec: number;
}

function parse(info: string): Map<string, Stat> {
  const out = new Map<string, Stat>();
  for (const line of info.split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m !== null) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/** Redis's own CPU time (user + system), µs, from INFO cpu. */
function serverCpuUs(info: string): number {
  const num = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (num("used_cpu_user") + num("used_cpu_sys")) * 1e6;
}

async function main(): Promise<void> {
  const server = await startRedisServer();
  const raw = new Redis(server.url);
  try {
    for (const algorithm of ALGORITHMS) {
      const store = createRedisStore({ url: server.url, prefix: `cs-${algorithm}:` });
      await store.ready();
      const spec = (i: number) => [
        {
          key: KEYS[i & 1023]!,
          counter: "b",
          windowMs: 1000,
          max: 1e12,
          weight: 1,
          ruleId: "b",
          algorithm,
        },
      ];
      const op = async (i: number) => {
        const o = await store.reserve(spec(i));
        if (o.admitted) await store.commit(o.reservation);
      };
      await measure(op, 20_000, 64); // warm-up: logs reach their steady size
      await raw.config("RESETSTAT");
      const cpu0 = serverCpuUs(await raw.info("cpu"));
      await measure(op, N, 64, 0);
      const cpu = (serverCpuUs(await raw.info("cpu")) - cpu0) / N;
      await store.close();
      const stats = parse(await raw.info("commandstats"));
      const rows: string[] = [];
      let inner = 0;
      let total = 0;
      for (const [name, s] of [...stats].sort((a, b) => b[1].usec - a[1].usec)) {
        if (name === "info" || name === "config|resetstat") continue;
        const per = s.calls / N;
        if (name === "evalsha" || name === "eval") total += s.usec / N;
        else inner += per;
        rows.push(
          `  ${name.padEnd(12)} ${per.toFixed(3)} calls/res  ${(s.usec / s.calls).toFixed(2)} µs/call`,
        );
      }
      console.log(
        `${algorithm}: ${inner.toFixed(2)} commands per reserve+commit inside scripts, ` +
          `${total.toFixed(2)} µs of scripts per reserve+commit, ` +
          `${cpu.toFixed(2)} µs of server CPU per reserve+commit (all of Redis, I/O included)`,
      );
      console.log(rows.join("\n"));
    }
  } finally {
    raw.disconnect();
    await server.kill();
  }
}

await main();
