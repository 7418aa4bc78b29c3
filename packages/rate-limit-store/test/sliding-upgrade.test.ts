/**
 * Rolling upgrade of the sliding log: gateways running the previous release's scripts
 * (test/fixtures/previous-release-lua.ts, run verbatim) and gateways running this
 * release's store reserve, commit and roll back on the same Redis keys, interleaved.
 * Nothing may be admitted beyond the limit, no script may misread a key the other wrote,
 * and the totals must be exactly those of one memory store fed the same calls.
 */
import { randomUUID } from "node:crypto";
import type {
  CounterReservation,
  CounterSpec,
  MeteredCounterStore,
  ReserveOutcome,
} from "@toolgate/policy-engine";
import { createMemoryStore } from "@toolgate/policy-engine";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { SLIDING_EXPIRY_SLACK_MAX_MS } from "../src/redis/lua-sliding.js";
import { createRedisStore } from "../src/redis-store.js";
import {
  OLD_SLIDING_ONE_LUA,
  OLD_SMOOTH_PEEK_LUA,
  OLD_SMOOTH_ROLLBACK_LUA,
} from "./fixtures/previous-release-lua.js";
import { smooth } from "./smooth-contract.js";

const url = inject("redisUrl");

/** A gateway of the previous release: its scripts, its calling conventions, same keys. */
class OldGateway {
  #seq = 0;
  constructor(
    readonly raw: Redis,
    readonly prefix: string,
  ) {}

  log(key: string): string {
    return `${this.prefix}{rl}:s:${key}`;
  }

  async reserve(s: CounterSpec): Promise<ReserveOutcome> {
    const id = `old-${randomUUID()}-${++this.#seq}`;
    const ms = Math.ceil(s.windowMs);
    const r = (await this.raw.eval(
      OLD_SLIDING_ONE_LUA,
      1,
      this.log(s.key),
      id,
      "s",
      s.weight,
      s.max,
      ms,
      s.max,
    )) as Array<string | number>;
    if (r[0] !== 1) {
      return { admitted: false, blockedBy: 0, retryAfterMs: Number(r[2]), counters: [] };
    }
    const resetAtMs = Number(r[2]);
    const counter = {
      key: s.key,
      weight: s.weight,
      resetAtMs,
      windowMs: s.windowMs,
      algorithm: "sliding" as const,
      token: String(r[3]),
    };
    return { admitted: true, reservation: { id, counters: [counter] }, counters: [] };
  }

  async rollback(r: CounterReservation): Promise<void> {
    const c = r.counters[0]!;
    await this.raw.eval(
      OLD_SMOOTH_ROLLBACK_LUA,
      2,
      `${this.prefix}{rl}:r:${r.id}`,
      this.log(c.key),
      Math.ceil(c.resetAtMs) + 1000,
      "s",
      c.weight,
      c.resetAtMs,
      c.token ?? "",
      Math.ceil(c.windowMs),
    );
  }

  async commit(r: CounterReservation): Promise<void> {
    const until = Math.ceil(r.counters[0]!.resetAtMs) + 1000;
    await this.raw.set(`${this.prefix}{rl}:r:${r.id}`, "committed", "PXAT", until, "NX");
  }

  /** What the previous release's peek script reports as used. */
  async used(s: CounterSpec): Promise<number> {
    const r = (await this.raw.eval(
      OLD_SMOOTH_PEEK_LUA,
      1,
      this.log(s.key),
      "s",
      s.max,
      Math.ceil(s.windowMs),
    )) as string[];
    return Number(r[0]);
  }
}

/** Entry times of a log as stored (the Redis clock), oldest first. */
async function entryTimes(raw: Redis, log: string): Promise<number[]> {
  const entries = await raw.lrange(log, 0, -1);
  return entries.map((e) => Number(e.split("|")[0]));
}

/** One atomic look at a log: now, entry times, sum key, both expiries (PEXPIRETIME). */
const SNAPSHOT_LUA = `
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + tonumber(tm[2]) / 1000
local times = {}
for _, e in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  times[#times + 1] = string.match(e, '^([^|]+)|')
end
local sum = redis.call('GET', KEYS[1] .. ':n') or false
return {string.format('%.17g', now), times, sum,
  redis.call('PEXPIRETIME', KEYS[1]), redis.call('PEXPIRETIME', KEYS[1] .. ':n')}
`;

/**
 * What every script relies on: while a log holds a live entry, its sum key exists and
 * holds a plain number, neither key expires before the newest entry leaves the window,
 * and the sum key never expires after the log (the current script reads only the sum
 * key's expiry). The previous release set expiries from Redis's whole-ms clock, hence
 * the whole ms of margin.
 */
async function expectSound(raw: Redis, log: string, windowMs: number): Promise<void> {
  const [nowS, timesS, sum, logEnd, sumEnd] = (await raw.eval(SNAPSHOT_LUA, 1, log)) as [
    string,
    string[],
    string | null,
    number,
    number,
  ];
  if (timesS.length === 0) return;
  const newest = Math.max(...timesS.map(Number));
  const end = Math.floor(newest) - 1 + windowMs;
  expect(logEnd).toBeGreaterThanOrEqual(end);
  if (newest + windowMs <= Number(nowS) + 1) return; // every entry (about to be) expired
  expect(sum).toMatch(/^-?[0-9.e+-]+$/);
  expect(sumEnd).toBeGreaterThanOrEqual(end);
  expect(sumEnd).toBeLessThanOrEqual(logEnd);
}

describe("sliding log shared by previous-release and current gateways", () => {
  let raw: Redis;
  beforeAll(() => {
    raw = new Redis(url);
  });
  afterAll(() => {
    raw.disconnect();
  });

  it("agrees with one memory store on random interleaved reserve/commit/rollback", async () => {
    type Op =
      | { kind: "reserve"; old: boolean; weight: number }
      | { kind: "commit" | "rollback"; old: boolean; pick: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant("reserve" as const),
          old: fc.boolean(),
          weight: fc.constantFrom(0, 1, 1, 2, 0.5, 0.1),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constantFrom("commit" as const, "rollback" as const),
          old: fc.boolean(),
          pick: fc.nat(),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 50 }), async (ops) => {
        const prefix = `upg:${randomUUID()}:`;
        // A minute-long window: the test's real time never moves an entry out of it.
        const spec = smooth("sliding", "up|grant|a", 4, 0, undefined, 60_000);
        const mem = createMemoryStore({ now: () => 5_000_000, sweepIntervalMs: 0 });
        const neu = createRedisStore({ url, prefix });
        const old = new OldGateway(raw, prefix);
        const held: Array<[CounterReservation, CounterReservation]> = [];
        try {
          for (const op of ops) {
            if (op.kind === "reserve") {
              const s = { ...spec, weight: op.weight };
              const a = await mem.reserve([s]);
              const b = await (op.old ? old.reserve(s) : neu.reserve([s]));
              expect(b.admitted).toBe(a.admitted);
              if (a.admitted && b.admitted) held.push([a.reservation, b.reservation]);
            } else if (held.length > 0) {
              // Either release settles a reservation either release made.
              const [ra, rb] = held[op.pick % held.length]!;
              await mem[op.kind](ra);
              await (op.old ? old[op.kind](rb) : neu[op.kind](rb));
            }
            const want = (await mem.peek([spec]))[0]!.used;
            expect((await neu.peek([spec]))[0]!.used).toBe(want);
            expect(await old.used(spec)).toBe(want);
            await expectSound(raw, old.log(spec.key), spec.windowMs);
          }
        } finally {
          await Promise.all([mem.close(), neu.close()]);
        }
      }),
      { numRuns: 30 },
    );
  }, 60_000);

  it("admits exactly max of 800 concurrent calls from two old and two new gateways", async () => {
    const prefix = `upg:${randomUUID()}:`;
    const raws = [new Redis(url), new Redis(url)];
    const olds = raws.map((r) => new OldGateway(r, prefix));
    const news: MeteredCounterStore[] = [0, 1].map(() => createRedisStore({ url, prefix }));
    await Promise.all(news.map((s) => s.ready()));
    const s = smooth("sliding", "up|global|c", 60, 1, undefined, 600_000);
    const fire = (n: number) =>
      Promise.all(
        Array.from({ length: n }, (_, i) =>
          i % 4 < 2 ? olds[i % 2]!.reserve(s) : news[i % 2]!.reserve([s]),
        ),
      );
    try {
      const first = await fire(800);
      const ok = first.filter((o) => o.admitted);
      expect(ok).toHaveLength(60);
      // Twenty units back, each given back by the other release than the one that took it.
      const back = ok.slice(0, 20);
      await Promise.all(
        back.map((o, i) => {
          if (!o.admitted) return undefined;
          const madeByOld = o.reservation.id.startsWith("old-");
          return madeByOld
            ? news[i % 2]!.rollback(o.reservation)
            : olds[i % 2]!.rollback(o.reservation);
        }),
      );
      expect(await olds[0]!.used(s)).toBe(40);
      expect((await fire(400)).filter((o) => o.admitted)).toHaveLength(20);
      expect((await news[0]!.peek([s]))[0]!.used).toBe(60);
      expect(await olds[1]!.used(s)).toBe(60);
      expect(await raw.llen(olds[0]!.log(s.key))).toBe(60);
      await expectSound(raw, olds[0]!.log(s.key), s.windowMs);
    } finally {
      await Promise.all(news.map((x) => x.close()));
      for (const r of raws) r.disconnect();
    }
  });

  it("never admits more than max in any window while entries expire under both releases", async () => {
    // A 15 ms window: entries leave it while the calls run (no sleeps, real Redis time),
    // so each release trims and extends logs the other wrote.
    const prefix = `upg:${randomUUID()}:`;
    const neu = createRedisStore({ url, prefix });
    const old = new OldGateway(raw, prefix);
    const W = 15;
    const MAX = 3;
    const events: Array<{ t: number; w: number }> = [];
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.boolean(), fc.constantFrom(1, 1, 2, 0.5)), {
            minLength: 40,
            maxLength: 80,
          }),
          async (calls) => {
            const key = `up|grant|${randomUUID()}`;
            const log = old.log(key);
            events.length = 0;
            for (const [isOld, w] of calls) {
              const s = smooth("sliding", key, MAX, w, undefined, W);
              const o = await (isOld ? old.reserve(s) : neu.reserve([s]));
              if (o.admitted) {
                // The token starts with the entry's time on the Redis clock.
                events.push({ t: Number(o.reservation.counters[0]!.token!.split("|")[0]), w });
              }
              await expectSound(raw, log, W);
            }
            for (const a of events) {
              let sum = 0;
              for (const e of events) if (e.t >= a.t && e.t < a.t + W) sum += e.w;
              expect(sum).toBeLessThanOrEqual(MAX + 1e-9);
            }
            // The sum key holds the live entries' total, whichever release wrote last.
            const entries = await raw.lrange(log, 0, -1);
            const total = entries.reduce((x, e) => x + Number(e.split("|")[1]), 0);
            if (entries.length > 0) {
              expect(Math.abs(Number(await raw.get(`${log}:n`)) - total)).toBeLessThan(1e-9);
            }
          },
        ),
        { numRuns: 8 },
      );
    } finally {
      await neu.close();
    }
  }, 60_000);

  it("extends a log's expiry with bounded slack, and an old push never leaves it too short", async () => {
    const prefix = `upg:${randomUUID()}:`;
    const neu = createRedisStore({ url, prefix });
    const old = new OldGateway(raw, prefix);
    const W = 120_000;
    const s = smooth("sliding", "up|grant|ttl", 100, 1, undefined, W);
    const log = old.log(s.key);
    const slack = Math.min(W, SLIDING_EXPIRY_SLACK_MAX_MS);
    try {
      const a = await neu.reserve([s]);
      if (!a.admitted) throw new Error("refused");
      const t = Number(a.reservation.counters[0]!.token!.split("|")[0]);
      // Opened by the current release: the entry's end plus the slack, for both keys.
      expect(await raw.pexpiretime(log)).toBe(Math.ceil(t + W) + slack);
      expect(await raw.pexpiretime(`${log}:n`)).toBe(Math.ceil(t + W) + slack);
      // A later push within the slack does not write the expiry again.
      await neu.reserve([s]);
      expect(await raw.pexpiretime(log)).toBe(Math.ceil(t + W) + slack);
      // The previous release sets both to exactly its entry's end (shorter)...
      await old.reserve(s);
      const times = await entryTimes(raw, log);
      const oldEnd = await raw.pexpiretime(log);
      const oldSumEnd = await raw.pexpiretime(`${log}:n`);
      expect(oldEnd).toBeLessThan(Math.ceil(t + W) + slack);
      expect(oldEnd).toBeGreaterThanOrEqual(Math.floor(times[2]!) - 1 + W);
      expect(oldSumEnd).toBeLessThanOrEqual(oldEnd);
      // ...and the next current push sees that and extends both again (unless Redis's
      // whole-ms clock put the old end past the new entry's end: then both are kept).
      const c = await neu.reserve([s]);
      if (!c.admitted) throw new Error("refused");
      const t3 = Number(c.reservation.counters[0]!.token!.split("|")[0]);
      const kept = oldSumEnd >= t3 + W;
      const end3 = Math.ceil(t3 + W) + slack;
      expect(await raw.pexpiretime(log)).toBe(kept ? oldEnd : end3);
      expect(await raw.pexpiretime(`${log}:n`)).toBe(kept ? oldSumEnd : end3);
      expect((await neu.peek([s]))[0]!.used).toBe(4);
    } finally {
      await neu.close();
    }
  });
});

describe("one sliding limit at the entry cap, integer weights", () => {
  it("refuses and leaves the log and its sum exactly as they were", async () => {
    const prefix = `upg:${randomUUID()}:`;
    const raw = new Redis(url);
    const store = createRedisStore({ url, prefix });
    const s = smooth("sliding", "up|grant|cap", 1e9, 1, undefined, 60_000);
    const log = `${prefix}{rl}:s:${s.key}`;
    try {
      expect((await store.reserve([s])).admitted).toBe(true);
      // Fill the log to the cap in one script (integer weights, so the INCRBY path).
      await raw.eval(
        "local tm = redis.call('TIME') local t = tonumber(tm[1]) * 1000 for i = 2, 100000 do redis.call('RPUSH', KEYS[1], string.format('%.17g', t) .. '|1|x' .. i) end redis.call('SET', KEYS[1] .. ':n', '100000', 'KEEPTTL') return 1",
        1,
        log,
      );
      const r = await store.reserve([s]);
      expect(r.admitted).toBe(false);
      if (!r.admitted) expect(r.retryAfterMs).toBeGreaterThan(59_000);
      expect(await raw.llen(log)).toBe(100_000);
      expect(await raw.get(`${log}:n`)).toBe("100000");
      expect((await store.peek([s]))[0]!.used).toBe(100_000);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });
});

describe("one sliding limit after a script flush", () => {
  it("rolls back exactly the entry a NOSCRIPT-retried reservation added", async () => {
    const prefix = `upg:${randomUUID()}:`;
    const admin = new Redis(url);
    const store = createRedisStore({ url, prefix });
    const s = smooth("sliding", "up|grant|ns", 5, 1, undefined, 60_000);
    try {
      expect((await store.reserve([s])).admitted).toBe(true);
      await admin.script("FLUSH");
      const out = await store.reserve([s]);
      if (!out.admitted) throw new Error("refused");
      expect(out.degraded).toBeUndefined();
      expect(out.reservation.counters[0]!.token).toMatch(/^[0-9.e+]+\|1\|.+\.0$/);
      await store.rollback(out.reservation);
      expect((await store.peek([s]))[0]!.used).toBe(1);
      expect(await admin.llen(`${prefix}{rl}:s:${s.key}`)).toBe(1);
    } finally {
      await store.close();
      admin.disconnect();
    }
  });
});
