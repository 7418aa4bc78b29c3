/**
 * Random sequences of multi-limit reservations, commits and rollbacks give the same
 * answers from the memory store and the Redis store: same admissions, same blocking
 * limit, same counts. Windows are long so real time does not interfere.
 */
import { randomUUID } from "node:crypto";
import type { CounterReservation, CounterSpec } from "@toolgate/policy-engine";
import { createMemoryStore } from "@toolgate/policy-engine";
import fc from "fast-check";
import { describe, expect, inject, it } from "vitest";
import { createRedisStore } from "../src/redis-store.js";

const KEYS = ["tool|grant|a", "shared|grant|a", "all|global|*"] as const;
const MAX = [3, 5, 8] as const;

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
          weights: fc.array(fc.constantFrom(0, 1, 1, 2, 0.5), {
            minLength: keys.length,
            maxLength: keys.length,
          }),
        }),
      ),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("commit" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("rollback" as const), pick: fc.nat() }) },
);

describe("memory and Redis stores agree", () => {
  it("on random multi-limit reserve/commit/rollback sequences", async () => {
    const url = inject("redisUrl");
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (ops) => {
        const mem = createMemoryStore({ sweepIntervalMs: 0 });
        const red = createRedisStore({ url, prefix: `eq:${randomUUID()}:` });
        const held: Array<[CounterReservation, CounterReservation]> = [];
        const all: CounterSpec[] = KEYS.map((key, i) => ({
          key,
          counter: key,
          windowMs: 60_000,
          max: MAX[i]!,
          weight: 0,
          ruleId: `r${i}`,
        }));
        try {
          for (const op of ops) {
            if (op.kind === "reserve") {
              const specs = op.keys.map((k, i) => ({ ...all[k]!, weight: op.weights[i]! }));
              const a = await mem.reserve(specs);
              const local = red.stats().localRefusals;
              const b = await red.reserve(specs);
              expect(b.admitted).toBe(a.admitted);
              // A local refusal names the first limit known to be full, which may come
              // after one that Redis would have named; the answer is the same.
              if (!a.admitted && !b.admitted && red.stats().localRefusals === local) {
                expect(b.blockedBy).toBe(a.blockedBy);
              }
              if (a.admitted && b.admitted) held.push([a.reservation, b.reservation]);
            } else if (held.length > 0) {
              const [ra, rb] = held[op.pick % held.length]!;
              await mem[op.kind](ra);
              await red[op.kind](rb);
            }
            const [pa, pb] = [await mem.peek(all), await red.peek(all)];
            expect(pb.map((s) => s.used)).toEqual(pa.map((s) => s.used));
          }
        } finally {
          await Promise.all([mem.close(), red.close()]);
        }
      }),
      { numRuns: 25 },
    );
  });
});
