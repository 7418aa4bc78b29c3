/**
 * The Redis store on a real six-node Redis Cluster (three masters, three replicas),
 * counters spread over the masters by scope value. Three store instances (each its own
 * cluster client, as three gateways would have) hammer one set of limits concurrently:
 * no counter ever admits beyond its max, multi-slot calls stay all-or-nothing, keys land
 * on every master, and when a master is killed under load its replica takes over while
 * the stores keep deciding (fail closed during the switch).
 */
import type { CounterSpec, MeteredCounterStore, ReserveOutcome } from "@toolgate/policy-engine";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCounterStore } from "../src/factory.js";
import { scopeTag, slotOfTag } from "../src/redis/slots.js";
import { createRedisStore } from "../src/redis-store.js";
import { spec } from "./contract.js";
import { hasClusterTools, type LocalCluster, startLocalCluster } from "./redis-cluster-server.js";

const tools = hasClusterTools();
if (!tools) {
  console.warn(
    "skipping the Redis Cluster tests: redis-server and redis-cli are needed " +
      "(Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis)",
  );
}

/** Long enough that no window ends during a test: every admission stays counted. */
const WINDOW = 600_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The limits of one call: per tool and per grant (one slot), plus a team counter (another). */
function callSpecs(grant: number, prefix: string): CounterSpec[] {
  return [
    spec(`${prefix}tool|grant|g${grant}`, 3, 1, WINDOW),
    spec(`${prefix}all_tools|grant|g${grant}`, 4, 1, WINDOW),
    spec(`${prefix}team|team|t${grant % 7}`, 60, 1, WINDOW),
  ];
}

/** Runs `total` calls through `stores` round-robin, `concurrency` at a time per store. */
async function drive(
  stores: readonly MeteredCounterStore[],
  total: number,
  concurrency: number,
  make: (i: number) => CounterSpec[],
  settle: (store: MeteredCounterStore, out: ReserveOutcome, i: number) => Promise<void>,
): Promise<Array<{ specs: CounterSpec[]; out: ReserveOutcome }>> {
  const results: Array<{ specs: CounterSpec[]; out: ReserveOutcome }> = [];
  let next = 0;
  const worker = async (store: MeteredCounterStore) => {
    while (next < total) {
      const i = next++;
      const specs = make(i);
      const out = await store.reserve(specs);
      results.push({ specs, out });
      await settle(store, out, i);
    }
  };
  await Promise.all(stores.flatMap((s) => Array.from({ length: concurrency }, () => worker(s))));
  return results;
}

/** Units admitted (and not rolled back) per key, from the outcomes. */
function tally(
  results: Array<{ specs: CounterSpec[]; out: ReserveOutcome; rolledBack?: boolean }>,
  counted: (r: { out: ReserveOutcome }) => boolean,
): Map<string, number> {
  const per = new Map<string, number>();
  for (const r of results) {
    if (!counted(r)) continue;
    for (const s of r.specs) per.set(s.key, (per.get(s.key) ?? 0) + s.weight);
  }
  return per;
}

describe.skipIf(!tools)("redis store on a 3-master, 3-replica Redis Cluster", () => {
  let cluster: LocalCluster;
  const open: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    cluster = await startLocalCluster();
  }, 60_000);
  afterAll(async () => {
    for (const s of open) await s.close().catch(() => {});
    await cluster?.stop();
  });

  const seedUrl = () => `redis-cluster://${cluster.seeds.join(",")}?timeout=1000`;

  it("spreads counters over every master and never admits beyond a limit (3 stores × 210 grants)", async () => {
    // One store from the URL registry, two from options: the same layout either way.
    const stores = [
      createCounterStore(`${seedUrl()}&prefix=ex:`),
      createRedisStore({
        cluster: { nodes: [...cluster.seeds] },
        prefix: "ex:",
        commandTimeoutMs: 1000,
      }),
      createRedisStore({
        cluster: { nodes: [...cluster.seeds] },
        prefix: "ex:",
        commandTimeoutMs: 1000,
      }),
    ];
    open.push(...stores);
    const grants = 210;
    const specsOf = (i: number) => callSpecs(i % grants, "");
    // Most calls spread over two slots (grant and team tags differ).
    const spread = Array.from({ length: grants }, (_, g) => callSpecs(g, "")).filter(
      (s) => slotOfTag(scopeTag(s[0]!.key)) !== slotOfTag(scopeTag(s[2]!.key)),
    ).length;
    expect(spread).toBeGreaterThan(grants * 0.9);

    const rolledBack = new Set<ReserveOutcome>();
    const results = await drive(stores, 3000, 24, specsOf, async (store, out, i) => {
      if (!out.admitted) return;
      // Every fourth admitted call fails upstream and gives its units back.
      if (i % 4 === 0) {
        rolledBack.add(out);
        await store.rollback(out.reservation);
      } else await store.commit(out.reservation);
    });
    for (const r of results) {
      expect(
        r.out.degraded,
        JSON.stringify(stores.map((s) => s.stats().lastError)),
      ).toBeUndefined();
    }
    const admitted = results.filter((r) => r.out.admitted);
    expect(admitted.length).toBeGreaterThan(400);
    const held = tally(results, (r) => r.out.admitted && !rolledBack.has(r.out));
    // Never beyond a max; and the store holds exactly what the callers kept.
    const keys = [...new Set(results.flatMap((r) => r.specs.map((s) => s.key)))];
    const specByKey = new Map(results.flatMap((r) => r.specs.map((s) => [s.key, s] as const)));
    const peeked = await stores[0]!.peek(keys.map((k) => specByKey.get(k)!));
    keys.forEach((k, i) => {
      expect(held.get(k) ?? 0).toBeLessThanOrEqual(specByKey.get(k)!.max);
      expect(peeked[i]!.used).toBe(held.get(k) ?? 0);
    });
    // The team limits bound (30 grants share each), so refusals came from a second slot.
    const teamRefusals = results.filter((r) => !r.out.admitted && r.out.blockedBy === 2);
    expect(teamRefusals.length).toBeGreaterThan(0);

    // Keys per master: every master holds a real share.
    const masters = (await cluster.nodes()).filter((n) => n.master);
    const counts = await Promise.all(
      masters.map(async (m) => {
        const r = new Redis({ port: m.port, host: "127.0.0.1" });
        try {
          return (await r.keys("ex:*")).filter((k) => k.includes(":c:")).length;
        } finally {
          r.disconnect();
        }
      }),
    );
    const total = counts.reduce((a, b) => a + b, 0);
    expect(total).toBe(keys.length);
    for (const c of counts) expect(c).toBeGreaterThan(total * 0.2);
    console.info(`counter keys per master: ${counts.join(", ")} (of ${total})`);
  }, 120_000);

  it("computes each key's slot as the cluster does, escaping braces in scope values", async () => {
    const r = new Redis({ port: cluster.servers[0]!.port, host: "127.0.0.1" });
    try {
      for (const key of [
        "t|grant|a",
        "t|grant|ä€",
        "t|session|{x}",
        "t|s|}{",
        "t|%7D|",
        "global",
      ]) {
        const tag = scopeTag(key);
        expect(tag).not.toMatch(/[{}]/);
        expect(Number(await r.call("CLUSTER", "KEYSLOT", `p:{${tag}}:c:${key}`))).toBe(
          slotOfTag(tag),
        );
      }
      // The escape is injective: a value with a brace never shares a tag with its spelling.
      expect(scopeTag("t|s|}")).not.toBe(scopeTag("t|s|%7D"));
    } finally {
      r.disconnect();
    }
  });

  it("keeps a call spread over slots all-or-nothing, and settles it once on every slot", async () => {
    const a = createRedisStore({ cluster: { nodes: [...cluster.seeds] }, prefix: "an:" });
    const b = createRedisStore({ cluster: { nodes: [...cluster.seeds] }, prefix: "an:" });
    open.push(a, b);
    const specs = [
      spec("tool|grant|x", 5, 2, WINDOW),
      spec("team|team|y", 5, 2, WINDOW),
      spec("org|org|z", 3, 2, WINDOW),
    ];
    expect(new Set(specs.map((x) => slotOfTag(scopeTag(x.key)))).size).toBe(3);
    const first = await a.reserve(specs);
    if (!first.admitted) throw new Error("expected the first call in");
    // The third limit (2 + 2 > 3) refuses, whichever slot is reserved first; the
    // earlier slots are given back before the answer.
    const second = await b.reserve(specs);
    expect(second).toMatchObject({ admitted: false, blockedBy: 2 });
    expect((await a.peek(specs)).map((x) => x.used)).toEqual([2, 2, 2]);
    // Commit on one instance, a late rollback on the other: a no-op on every slot.
    await a.commit(first.reservation);
    await b.rollback(first.reservation);
    expect((await b.peek(specs)).map((x) => x.used)).toEqual([2, 2, 2]);
    // A rollback of an admitted spread call returns every slot's units, once.
    const lone = [spec("tool|grant|x", 5, 1, WINDOW), spec("team|team|y", 5, 1, WINDOW)];
    const third = await b.reserve(lone);
    if (!third.admitted) throw new Error("expected the third call in");
    await b.rollback(third.reservation);
    await a.rollback(third.reservation);
    expect((await a.peek(specs)).map((x) => x.used)).toEqual([2, 2, 2]);
    expect(a.stats().errors + b.stats().errors).toBe(0);
  });

  it("keeps deciding when a master dies: its replica takes over, nothing beyond the limits", async () => {
    const stores = Array.from({ length: 3 }, () =>
      createRedisStore({
        cluster: { nodes: [...cluster.seeds] },
        prefix: "fo:",
        commandTimeoutMs: 500,
        fail: "closed",
        localRefusalMaxMs: 0,
      }),
    );
    open.push(...stores);
    // Replicas in sync before the kill, so the promoted one has every acknowledged write.
    for (const s of cluster.servers) {
      const r = new Redis({ port: s.port, host: "127.0.0.1" });
      for (let i = 0; i < 100; i++) {
        const info = await r.info("replication");
        if (!info.includes("role:slave") || info.includes("master_link_status:up")) break;
        await sleep(50);
      }
      r.disconnect();
    }
    const victim = (await cluster.nodes()).find((n) => n.master)!;
    const victimServer = cluster.servers.find((s) => s.port === victim.port)!;
    const grants = 600;
    const results: Array<{ specs: CounterSpec[]; out: ReserveOutcome; at: number }> = [];
    let stop = false;
    let killedAt = 0;
    let promotedAt = 0;
    let n = 0;
    const worker = async (store: MeteredCounterStore) => {
      while (!stop) {
        const g = n++ % grants;
        const specs = [
          spec(`tool|grant|g${g}`, 5, 1, WINDOW),
          spec(`team|team|t${g % 11}`, 400, 1, WINDOW),
        ];
        const out = await store.reserve(specs);
        results.push({ specs, out, at: Date.now() });
        if (out.admitted) await store.commit(out.reservation);
        if (out.degraded !== undefined) await sleep(5);
      }
    };
    const load = Promise.all(stores.flatMap((s) => Array.from({ length: 8 }, () => worker(s))));
    await sleep(700);
    killedAt = Date.now();
    await victimServer.kill();
    // Wait for the replica's promotion, as the surviving nodes see it.
    for (;;) {
      const nodes = await cluster.nodes().catch(() => []);
      const victimFailed = nodes.find((x) => x.id === victim.id)?.failed === true;
      if (victimFailed && nodes.filter((x) => x.master && !x.failed).length === 3) break;
      if (Date.now() - killedAt > 45_000) throw new Error("no replica was promoted in 45 s");
      await sleep(100);
    }
    promotedAt = Date.now();
    // Keep going until every store decided normally again on the victim's old slots.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const recent = results.filter((r) => r.at > promotedAt + 2000);
      if (recent.length > 300 && recent.slice(-150).every((r) => r.out.degraded === undefined))
        break;
      await sleep(100);
    }
    stop = true;
    await load;

    const degraded = results.filter((r) => r.out.degraded !== undefined);
    const beforeKill = results.filter((r) => r.at < killedAt);
    expect(beforeKill.length).toBeGreaterThan(50);
    // The switch was felt, and the fail mode answered it: refused, never admitted.
    expect(degraded.length).toBeGreaterThan(0);
    for (const r of degraded) {
      expect(r.out.admitted).toBe(false);
      expect(r.out.degraded?.mode).toBe("fail_closed");
    }
    // Decisions continued after the promotion, normal ones on every store's last calls.
    expect(results.slice(-100).every((r) => r.out.degraded === undefined)).toBe(true);
    // Nothing beyond the limits, across the failover.
    const admittedPer = tally(results, (r) => r.out.admitted);
    for (const r of results) {
      for (const s of r.specs) expect(admittedPer.get(s.key) ?? 0).toBeLessThanOrEqual(s.max);
    }
    const peeked = await stores[1]!.peek(results.slice(-50).flatMap((r) => r.specs));
    for (const p of peeked) expect(p.used).toBeLessThanOrEqual(p.max);
    console.info(
      `failover: ${results.length} decisions, ${degraded.length} fail-closed during the switch, ` +
        `promotion ${promotedAt - killedAt} ms after the kill`,
    );
  }, 150_000);
});
