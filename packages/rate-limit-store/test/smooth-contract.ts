/**
 * The smooth-limit half of the store contract (`sliding`, `token_bucket`), run against
 * every store like `contract.ts`. Times are asserted within the harness's slack: exact
 * for the memory store's fake clock, a few ms for Redis, whose clock is real.
 */
import type { CounterSpec, LimitAlgorithm, ReserveOutcome } from "@toolgate/policy-engine";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ContractHarness } from "./contract.js";

export const W = 300;

export function smooth(
  algorithm: LimitAlgorithm,
  key: string,
  max: number,
  weight = 1,
  burst?: number,
  windowMs = W,
): CounterSpec {
  return {
    key,
    counter: key.split("|")[0] ?? key,
    windowMs,
    max,
    weight,
    ruleId: `limits.${key}`,
    algorithm,
    ...(burst !== undefined && { burst }),
  };
}

function ok(o: ReserveOutcome): Extract<ReserveOutcome, { admitted: true }> {
  if (!o.admitted) throw new Error(`expected admission, got ${JSON.stringify(o)}`);
  return o;
}

function no(o: ReserveOutcome): Extract<ReserveOutcome, { admitted: false }> {
  if (o.admitted) throw new Error(`expected refusal, got ${JSON.stringify(o.counters)}`);
  return o;
}

export function runSmoothContract(label: string, make: () => Promise<ContractHarness>): void {
  describe(`${label}: smooth limits contract`, () => {
    let h: ContractHarness;
    beforeEach(async () => {
      h = await make();
    });
    afterEach(async () => {
      await h.close();
    });
    const near = (got: number, want: number) => {
      expect(got).toBeGreaterThanOrEqual(want - h.slackMs - 40);
      expect(got).toBeLessThanOrEqual(want + h.slackMs);
    };

    it("sliding: no burst across a window edge; retry is when the oldest units leave", async () => {
      const s = smooth("sliding", "sl|grant|a", 3);
      ok(await h.store.reserve([s]));
      ok(await h.store.reserve([s]));
      await h.advance(200);
      ok(await h.store.reserve([s]));
      const r = no(await h.store.reserve([s]));
      near(r.retryAfterMs, 100);
      expect(r.counters[0]).toMatchObject({ used: 3, remaining: 0 });
      await h.advance(110);
      // The first two left the window; the one from t=200 still counts.
      ok(await h.store.reserve([s]));
      ok(await h.store.reserve([s]));
      const again = no(await h.store.reserve([s]));
      near(again.retryAfterMs, 190);
    });

    it("sliding: a weight needing several entries to expire waits for all of them", async () => {
      const s = (w: number) => smooth("sliding", "sl|grant|b", 4, w);
      ok(await h.store.reserve([s(1)]));
      await h.advance(100);
      ok(await h.store.reserve([s(1)]));
      await h.advance(100);
      ok(await h.store.reserve([s(2)]));
      const r = no(await h.store.reserve([s(2)]));
      near(r.retryAfterMs, 200);
      expect(no(await h.store.reserve([s(5)])).retryAfterMs).toBe(W);
    });

    it("token bucket: burst at once, then one unit per windowMs/max", async () => {
      const s = smooth("token_bucket", "tb|grant|a", 3, 1, 2);
      ok(await h.store.reserve([s]));
      ok(await h.store.reserve([s]));
      const r = no(await h.store.reserve([s]));
      near(r.retryAfterMs, 100);
      expect(r.counters[0]!.max).toBe(2);
      await h.advance(105);
      ok(await h.store.reserve([s]));
      no(await h.store.reserve([s]));
      // A weight above the burst never fits: the window is the hint.
      expect(
        no(await h.store.reserve([smooth("token_bucket", "tb|grant|z", 3, 3, 2)])).retryAfterMs,
      ).toBe(W);
    });

    it("all-or-nothing across algorithms: a refused call consumes nothing anywhere", async () => {
      const f: CounterSpec = { ...smooth("fixed", "mix|grant|f", 5) };
      const sl = smooth("sliding", "mix|grant|s", 5);
      const tb = smooth("token_bucket", "mix|grant|b", 2, 1, 2);
      ok(await h.store.reserve([f, sl, tb]));
      ok(await h.store.reserve([f, sl, tb]));
      expect(no(await h.store.reserve([f, sl, tb])).blockedBy).toBe(2);
      const [pf, ps] = await h.store.peek([f, sl]);
      expect(pf!.used).toBe(2);
      expect(ps!.used).toBe(2);
    });

    it("algorithms never share state under one key", async () => {
      const key = "same|grant|k";
      ok(await h.store.reserve([smooth("fixed", key, 1)]));
      ok(await h.store.reserve([smooth("sliding", key, 1)]));
      ok(await h.store.reserve([smooth("token_bucket", key, 1)]));
      no(await h.store.reserve([smooth("sliding", key, 1)]));
    });

    it("counts fractional weights exactly in a sliding log", async () => {
      const s = (w: number) => smooth("sliding", "frac|grant|a", 1, w);
      ok(await h.store.reserve([s(0.1)]));
      ok(await h.store.reserve([s(0.2)]));
      ok(await h.store.reserve([s(0.7)]));
      // 0.1 + 0.2 + 0.7 is 1.0000000000000002 in doubles only in another order.
      no(await h.store.reserve([s(0.1)]));
      ok(await h.store.reserve([s(0)]));
    });

    it("sliding rollback gives units back exactly once; commit is final", async () => {
      const s = smooth("sliding", "rb|grant|s", 2);
      const a = ok(await h.store.reserve([s]));
      const b = ok(await h.store.reserve([s]));
      no(await h.store.reserve([s]));
      await h.store.rollback(a.reservation);
      await h.store.rollback(a.reservation);
      await h.store.rollback({ ...a.reservation });
      expect((await h.store.peek([s]))[0]!.used).toBe(1);
      await h.store.commit(b.reservation);
      await h.store.rollback(b.reservation);
      ok(await h.store.reserve([s]));
      no(await h.store.reserve([s]));
    });

    it("bucket rollback restores the exact state while nothing reserved since, else keeps the units", async () => {
      const s = smooth("token_bucket", "rb|grant|b", 2, 1, 2, 60_000);
      const a = ok(await h.store.reserve([s]));
      const b = ok(await h.store.reserve([s]));
      no(await h.store.reserve([s]));
      // a is not the latest: giving its units back could admit beyond the bound.
      await h.store.rollback(a.reservation);
      no(await h.store.reserve([s]));
      await h.store.rollback(b.reservation);
      await h.store.rollback(b.reservation);
      ok(await h.store.reserve([s]));
      no(await h.store.reserve([s]));
    });

    it("a bucket listed twice in one call counts twice and rolls back to where it was", async () => {
      const s = smooth("token_bucket", "dup|grant|b", 3, 1, 3, 60_000);
      ok(await h.store.reserve([s]));
      const two = ok(await h.store.reserve([s, s]));
      no(await h.store.reserve([s]));
      await h.store.rollback(two.reservation);
      ok(await h.store.reserve([s, s]));
      no(await h.store.reserve([s]));
    });

    it("peek shows smooth counters without consuming", async () => {
      const sl = smooth("sliding", "pk|grant|s", 4);
      const tb = smooth("token_bucket", "pk|grant|b", 4, 1, 2, 60_000);
      expect((await h.store.peek([sl, tb])).map((c) => c.used)).toEqual([0, 0]);
      ok(await h.store.reserve([sl, tb]));
      const [ps, pb] = await h.store.peek([sl, tb]);
      expect(ps).toMatchObject({ used: 1, max: 4, remaining: 3 });
      expect(pb!.max).toBe(2);
      expect(pb!.used).toBeGreaterThan(0.99);
      expect(pb!.used).toBeLessThanOrEqual(1);
    });
  });
}
