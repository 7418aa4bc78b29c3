/**
 * Server time of the one-limit reserve scripts alone, read from Redis's own counters
 * (`INFO commandstats`, µs per EVALSHA): the fixed-window script, the current
 * one-sliding-limit script and the previous release's (test/fixtures), each driven
 * by bare EVALSHAs at concurrency 64 on 1,024 keys with a 1 s window (the bench's call,
 * without the store's client or commit markers). Rounds are interleaved and each
 * script's figure is the minimum and median over rounds, so outside load moves it less.
 *
 * `pnpm --filter @toolgate/rate-limit-store exec tsx bench/script-cost.ts` (BENCH_ROUNDS).
 */

import { Redis } from "ioredis";
import { RESERVE_ONE_LUA, SLIDING_ONE_LUA } from "../src/redis/lua.js";
import { slidingSuffix } from "../src/redis/replies.js";
import { OLD_SLIDING_ONE_LUA } from "../test/fixtures/previous-release-lua.js";
import { startRedisServer } from "../test/redis-server.js";
import { median } from "./measure.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const N = 30_000;

/** Each script with the arguments its caller sends for one weight-1 call on key `k`. */
const SCRIPTS: Record<string, { lua: string; args: (k: string, id: string) => unknown[] }> = {
  fixed: { lua: RESERVE_ONE_LUA, args: (k) => [1, k, 1, 1e12, 1000] },
  "sliding (this release)": {
    lua: SLIDING_ONE_LUA,
    args: (k, id) => [1, k, slidingSuffix("1", id), "1", 1e12, 1000],
  },
  "sliding (previous release)": {
    lua: OLD_SLIDING_ONE_LUA,
    args: (k, id) => [1, k, id, "s", 1, 1e12, 1000, 1e12],
  },
};

async function drive(raw: Redis, sha: string, name: string, n: number): Promise<void> {
  const { args } = SCRIPTS[name]!;
  let next = 0;
  const loop = async () => {
    while (next < n) {
      const i = next++;
      const key = `{rl}:${name.replaceAll(" ", "")}:${i & 1023}`;
      await raw.evalsha(sha, ...(args(key, `r0123456789abcdef-${i.toString(36)}`) as [number]));
    }
  };
  await Promise.all(Array.from({ length: 64 }, loop));
}

async function main(): Promise<void> {
  const server = await startRedisServer();
  const raw = new Redis(server.url);
  const per = new Map<string, number[]>();
  try {
    const shas = new Map<string, string>();
    for (const [name, s] of Object.entries(SCRIPTS)) {
      shas.set(name, String(await raw.script("LOAD", s.lua)));
      await drive(raw, shas.get(name)!, name, 20_000); // logs reach their steady size
    }
    const names = Object.keys(SCRIPTS);
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < names.length; j++) {
        const name = names[(j + r) % names.length]!;
        await raw.config("RESETSTAT");
        await drive(raw, shas.get(name)!, name, N);
        const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await raw.info("commandstats"));
        if (m === null) throw new Error("no evalsha in INFO commandstats");
        per.set(name, [...(per.get(name) ?? []), Number(m[2]) / Number(m[1])]);
      }
    }
  } finally {
    raw.disconnect();
    await server.kill();
  }
  const fixed = median(per.get("fixed")!);
  for (const [name, xs] of per) {
    const med = median(xs);
    console.log(
      `${name.padEnd(28)} min ${Math.min(...xs).toFixed(2)} µs, median ${med.toFixed(2)} µs ` +
        `per EVALSHA (${(med / fixed).toFixed(2)}x fixed)`,
    );
  }
}

await main();
