/**
 * Properties of the smooth limits: no algorithm admits more than its bound over any
 * interval (memory store, fake clock, random sequences with rollbacks); the memory and
 * Redis stores agree on random sequences; three store clients on one Redis (three
 * gateways as far as Redis can tell) stay exact under concurrency.
 */
import { randomUUID } from "node:crypto";
import type {
  CounterReservation,
  CounterSpec,
  LimitAlgorithm,
  MeteredCounterStore,
} from "@toolgate/policy-engine";
import { createMemoryStore } from "@toolgate/policy-engine";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createRedisStore } from "../src/redis-store.js";
import { smooth } from "./smooth-contract.js";

const EPS = 1e-9;

interface Event {
  t: number;
  w: number;
  r: CounterReservation;
}

type Step =
  | { kind: "reserve"; gap: number; weight: number }
  | { kind: "rollback" | "commit"; gap: number; pick: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("reserve" as const),
      gap: fc.integer({ min: 0, max: 400 }),
      weight: fc.constantFrom(0.5, 1, 1, 2, 3),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom("rollback" as const, "commit" as const),
      gap: fc.integer({ min: 0, max: 50 }),
      pick: fc.nat(),
    }),
  },
);

/** Runs `steps` on one key; returns the admitted, not rolled back, events. */
async function run(spec: (w: number) => CounterSpec, steps: readonly Step[]): Promise<Event[]> {
  let t = 1_000_000;
  const store = createMemoryStore({ now: () => t, sweepIntervalMs: 0 });
  const live: Event[] = [];
  const open: Event[] = [];
  for (const s of steps) {
    t += s.gap;
    if (s.kind === "reserve") {
      const out = await store.reserve([spec(s.weight)]);
      if (out.admitted) {
        const e = { t, w: s.weight, r: out.reservation };
        live.push(e);
        open.push(e);
      }
    } else if (open.length > 0) {
      const [e] = open.splice(s.pick % open.length, 1);
      await store[s.kind](e!.r);
      if (s.kind === "rollback") live.splice(live.indexOf(e!), 1);
    }
  }
  await store.close();
  return live;
}

/** Largest sum of events with `a <= t < a + len` over all start points (starts at events suffice). */
function maxInWindow(events: readonly Event[], len: number): number {
  let best = 0;
  for (const a of events) {
    let sum = 0;
    for (const e of events) if (e.t >= a.t && e.t < a.t + len) sum += e.w;
    best = Math.max(best, sum);
  }
  return best;
}

describe("no algorithm admits more than its bound over any interval", () => {
  const W = 1000;
  const MAX = 5;
  const steps = fc.array(stepArb, { minLength: 10, maxLength: 120 });

  it("sliding: at most max in every window-long interval", async () => {
    await fc.assert(
      fc.asyncProperty(steps, async (s) => {
        const ev = await run((w) => smooth("sliding", "p|grant|a", MAX, w, undefined, W), s);
        expect(maxInWindow(ev, W)).toBeLessThanOrEqual(MAX + EPS);
      }),
      { numRuns: 150 },
    );
  });

  it("token bucket: at most burst + L*max/window over every interval of length L", async () => {
    await fc.assert(
      fc.asyncProperty(steps, fc.integer({ min: 3, max: 8 }), async (s, burst) => {
        const ev = await run((w) => smooth("token_bucket", "p|grant|b", MAX, w, burst, W), s);
        for (const a of ev) {
          for (const b of ev) {
            if (b.t < a.t) continue;
            let sum = 0;
            for (const e of ev) if (e.t >= a.t && e.t <= b.t) sum += e.w;
            expect(sum).toBeLessThanOrEqual(burst + ((b.t - a.t) * MAX) / W + EPS);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it("fixed: at most max per window it opened, so at most 2x max over any window-long interval", async () => {
    await fc.assert(
      fc.asyncProperty(steps, async (s) => {
        const ev = await run((w) => smooth("fixed", "p|grant|c", MAX, w, undefined, W), s);
        expect(maxInWindow(ev, W)).toBeLessThanOrEqual(2 * MAX + EPS);
      }),
      { numRuns: 100 },
    );
  });
});

describe("memory and Redis agree on smooth limits", () => {
  const url = inject("redisUrl");
  const ALGS: LimitAlgorithm[] = ["sliding", "token_bucket", "sliding"];
  const KEYS = ["s|grant|a", "b|grant|a", "s2|global|*"];
  const MAX = [3, 4, 6];
  type Op =
    | { kind: "reserve"; keys: number[]; weights: number[] }
    | { kind: "commit" | "rollback"; pick: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .uniqueArray(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 })
        .chain((keys) =>
          fc.record({
            kind: fc.constant("reserve" as const),
            keys: fc.constant(keys),
            weights: fc.array(fc.constantFrom(0, 1, 1, 2, 0.5, 0.1), {
              minLength: keys.length,
              maxLength: keys.length,
            }),
          }),
        ),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("commit" as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("rollback" as const), pick: fc.nat() }) },
  );

  it("on random multi-limit reserve/commit/rollback sequences", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (ops) => {
        // Windows of a minute: the test's own real time (Redis's clock) stays far below
        // the 0.05-unit granularity of the weights, so both stores see the same state.
        const all = KEYS.map((key, i) => smooth(ALGS[i]!, key, MAX[i]!, 0, 3, 60_000));
        const mem = createMemoryStore({ now: () => 5_000_000, sweepIntervalMs: 0 });
        const red = createRedisStore({ url, prefix: `eqs:${randomUUID()}:` });
        const held: Array<[CounterReservation, CounterReservation]> = [];
        try {
          for (const op of ops) {
            if (op.kind === "reserve") {
              const specs = op.keys.map((k, i) => ({ ...all[k]!, weight: op.weights[i]! }));
              const a = await mem.reserve(specs);
              const b = await red.reserve(specs);
              expect(b.admitted).toBe(a.admitted);
              if (!a.admitted && !b.admitted) expect(b.blockedBy).toBe(a.blockedBy);
              if (a.admitted && b.admitted) held.push([a.reservation, b.reservation]);
            } else if (held.length > 0) {
              const [ra, rb] = held[op.pick % held.length]!;
              await mem[op.kind](ra);
              await red[op.kind](rb);
            }
            const [pa, pb] = [await mem.peek(all), await red.peek(all)];
            expect(pb[0]!.used).toBe(pa[0]!.used);
            expect(pb[2]!.used).toBe(pa[2]!.used);
            expect(Math.abs(pb[1]!.used - pa[1]!.used)).toBeLessThan(0.01);
          }
        } finally {
          await Promise.all([mem.close(), red.close()]);
        }
      }),
      { numRuns: 25 },
    );
    // Up to 25 x 40 Redis round trips: a loaded CI machine needs more than the default 5 s.
  }, 60_000);
});

describe("three store clients on one Redis stay exact under concurrency", () => {
  const url = inject("redisUrl");
  const stores: MeteredCounterStore[] = [];
  beforeAll(async () => {
    const p = `tri:${randomUUID()}:`;
    for (let i = 0; i < 3; i++) stores.push(createRedisStore({ url, prefix: p }));
    await Promise.all(stores.map((s) => s.ready()));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });
  const fire = (specs: CounterSpec[], total: number) =>
    Promise.all(Array.from({ length: total }, (_, i) => stores[i % 3]!.reserve(specs)));

  it("sliding: exactly max of 600 concurrent calls, and exactly the rolled-back units again", async () => {
    const s = smooth("sliding", "tri|global|s", 50, 1, undefined, 600_000);
    const outs = await fire([s], 600);
    const ok = outs.filter((o) => o.admitted);
    expect(ok).toHaveLength(50);
    // Ten reservations rolled back on three different instances: exactly ten fit again.
    await Promise.all(
      ok.slice(0, 10).map((o, i) => (o.admitted ? stores[i % 3]!.rollback(o.reservation) : 0)),
    );
    expect((await fire([s], 100)).filter((o) => o.admitted)).toHaveLength(10);
  });

  it("token bucket: exactly burst of 600 concurrent calls (refill is negligible over an hour)", async () => {
    const b = smooth("token_bucket", "tri|global|b", 100, 1, 40, 3_600_000);
    expect((await fire([b], 600)).filter((o) => o.admitted)).toHaveLength(40);
  });

  it("mixed calls stay all-or-nothing: only the tightest limit binds", async () => {
    const s = smooth("sliding", "tri|global|m1", 30, 1, undefined, 600_000);
    const b = smooth("token_bucket", "tri|global|m2", 100, 1, 20, 3_600_000);
    const f = smooth("fixed", "tri|global|m3", 25, 1, undefined, 600_000);
    expect((await fire([s, b, f], 300)).filter((o) => o.admitted)).toHaveLength(20);
    const [ps, , pf] = await stores[0]!.peek([s, b, f]);
    expect(ps!.used).toBe(20);
    expect(pf!.used).toBe(20);
  });
});

describe("sliding logs stay bounded against hostile weights", () => {
  const url = inject("redisUrl");

  it("memory: zero weights add no entry; at the entry cap the log refuses until its oldest entry expires", async () => {
    let t = 1_000_000;
    const store = createMemoryStore({ now: () => t, sweepIntervalMs: 0 });
    const s = (w: number) => smooth("sliding", "cap|grant|a", 1, w, undefined, 60_000);
    for (let i = 0; i < 1000; i++) expect((await store.reserve([s(0)])).admitted).toBe(true);
    expect(store.stats().keys).toBe(0);
    for (let i = 0; i < 100_000; i++) {
      const o = await store.reserve([s(1e-9)]);
      if (!o.admitted) throw new Error(`refused at ${i}`);
      if (i === 0) t += 10;
    }
    const r = await store.reserve([s(1e-9)]);
    expect(r).toMatchObject({ admitted: false, retryAfterMs: 60_000 - 10 });
    await store.close();
  });

  it("redis: the same cap, counted by the script", async () => {
    const prefix = `cap:${randomUUID()}:`;
    const store = createRedisStore({ url, prefix });
    const { Redis } = await import("ioredis");
    const raw = new Redis(url);
    try {
      const s = (w: number) => smooth("sliding", "cap|grant|b", 1, w, undefined, 60_000);
      for (let i = 0; i < 50; i++) expect((await store.reserve([s(0)])).admitted).toBe(true);
      expect(await raw.exists(`${prefix}{rl}:s:cap|grant|b`)).toBe(0);
      expect((await store.reserve([s(1e-9)])).admitted).toBe(true);
      // Fill the log to the cap in one script instead of 100,000 round trips.
      await raw.eval(
        "local tm = redis.call('TIME') local t = tonumber(tm[1]) * 1000 for i = 2, 100000 do redis.call('RPUSH', KEYS[1], string.format('%.17g', t) .. '|1e-09|x' .. i) end return 1",
        1,
        `${prefix}{rl}:s:cap|grant|b`,
      );
      const r = await store.reserve([s(1e-9)]);
      expect(r.admitted).toBe(false);
      if (!r.admitted) expect(r.retryAfterMs).toBeGreaterThan(59_000);
      expect((await store.reserve([s(0)])).admitted).toBe(true);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });
});
