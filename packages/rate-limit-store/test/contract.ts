/**
 * One behavioural suite run against every store, so "identical window semantics" is a
 * tested claim rather than a comment. `advance` moves time: a fake clock for the memory
 * store, a short real wait for Redis (whose clock is its own).
 */
import type { CounterSpec, CounterStore, ReserveOutcome } from "@toolgate/policy-engine";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RateLimitStoreErrorCode } from "../src/errors.js";

export interface ContractHarness {
  store: CounterStore;
  /** Lets `ms` of store time pass. */
  advance(ms: number): Promise<void>;
  /** Allowed slack of retry/reset times (0 for a fake clock). */
  slackMs: number;
  close(): Promise<void>;
}

export const WINDOW_MS = 300;

export function spec(key: string, max: number, weight = 1, windowMs = WINDOW_MS): CounterSpec {
  return { key, counter: key.split("|")[0] ?? key, windowMs, max, weight, ruleId: `limits.${key}` };
}

function admitted(o: ReserveOutcome): Extract<ReserveOutcome, { admitted: true }> {
  if (!o.admitted) throw new Error(`expected admission, got ${JSON.stringify(o)}`);
  return o;
}

export function runStoreContract(label: string, make: () => Promise<ContractHarness>): void {
  describe(`${label}: CounterStore contract`, () => {
    let h: ContractHarness;
    beforeEach(async () => {
      h = await make();
    });
    afterEach(async () => {
      await h.close();
    });

    it("admits up to max, then refuses with the time left in the window", async () => {
      const s = spec("rate|grant|demo", 3);
      for (let i = 0; i < 3; i++) expect((await h.store.reserve([s])).admitted).toBe(true);
      await h.advance(100);
      const out = await h.store.reserve([s]);
      expect(out.admitted).toBe(false);
      if (out.admitted) return;
      expect(out.blockedBy).toBe(0);
      expect(out.degraded).toBeUndefined();
      expect(out.retryAfterMs).toBeLessThanOrEqual(WINDOW_MS - 100 + h.slackMs);
      expect(out.retryAfterMs).toBeGreaterThanOrEqual(WINDOW_MS - 100 - h.slackMs - 50);
      const blocker = out.counters.find((c) => c.key === s.key)!;
      expect(blocker).toMatchObject({ used: 3, max: 3, remaining: 0 });
    });

    it("opens a fresh window when the old one ends", async () => {
      const s = spec("rate|grant|w", 2);
      admitted(await h.store.reserve([s]));
      admitted(await h.store.reserve([s]));
      expect((await h.store.reserve([s])).admitted).toBe(false);
      await h.advance(WINDOW_MS + 30);
      const out = admitted(await h.store.reserve([s]));
      expect(out.counters[0]).toMatchObject({ used: 1, remaining: 1 });
    });

    it("after a reload shortens the window, a refusal lasts at most the new window", async () => {
      // The counter filled under a policy with a 100x longer window.
      const before = spec("reload|grant|a", 2, 1, 100 * WINDOW_MS);
      admitted(await h.store.reserve([before]));
      admitted(await h.store.reserve([before]));
      const after = spec("reload|grant|a", 2, 1, WINDOW_MS);
      const out = await h.store.reserve([after]);
      expect(out.admitted).toBe(false);
      if (out.admitted) return;
      expect(out.retryAfterMs).toBeLessThanOrEqual(WINDOW_MS + h.slackMs);
      await h.advance(WINDOW_MS + 30);
      admitted(await h.store.reserve([after]));
    });

    it("reserves several limits all-or-nothing: a refused call consumes nothing", async () => {
      const wide = spec("shared|grant|a", 5);
      const tight = spec("tool|grant|a", 2);
      admitted(await h.store.reserve([wide, tight]));
      admitted(await h.store.reserve([wide, tight]));
      const out = await h.store.reserve([wide, tight]);
      expect(out).toMatchObject({ admitted: false, blockedBy: 1 });
      const [w, t] = await h.store.peek([wide, tight]);
      expect(w).toMatchObject({ used: 2, remaining: 3 });
      expect(t).toMatchObject({ used: 2, remaining: 0 });
    });

    it("with three limits per call only the tightest binds", async () => {
      const specs = [spec("all|global|*", 10), spec("tool|grant|b", 4), spec("shared|grant|b", 7)];
      let n = 0;
      for (let i = 0; i < 8; i++) if ((await h.store.reserve(specs)).admitted) n++;
      expect(n).toBe(4);
      const states = await h.store.peek(specs);
      expect(states.map((s) => s.used)).toEqual([4, 4, 4]);
    });

    it("counts increment_from weights, including fractional ones", async () => {
      const s = (w: number) => spec("spend|grant|c", 10, w);
      expect((await h.store.reserve([s(3)])).admitted).toBe(true);
      expect((await h.store.reserve([s(4)])).admitted).toBe(true);
      expect((await h.store.reserve([s(4)])).admitted).toBe(false);
      expect((await h.store.reserve([s(2.5)])).admitted).toBe(true);
      expect((await h.store.reserve([s(0.5)])).admitted).toBe(true);
      expect((await h.store.reserve([s(0.5)])).admitted).toBe(false);
      expect((await h.store.peek([s(0)]))[0]!.used).toBe(10);
      const huge = await h.store.reserve([spec("spend|grant|d", 10, 11)]);
      expect(huge.admitted).toBe(false);
    });

    it("counts a key listed twice in one call twice", async () => {
      const s = spec("dup|grant|e", 3);
      expect((await h.store.reserve([s, s])).admitted).toBe(true);
      expect((await h.store.reserve([s, s])).admitted).toBe(false);
      expect((await h.store.peek([s]))[0]!.used).toBe(2);
    });

    it("rollback gives the units back exactly once; commit makes them final", async () => {
      const a = spec("rb|grant|f", 5);
      const b = spec("rb2|grant|f", 5, 2);
      const r1 = admitted(await h.store.reserve([a, b]));
      const r2 = admitted(await h.store.reserve([a, b]));
      await h.store.rollback(r1.reservation);
      await h.store.rollback(r1.reservation);
      await h.store.rollback({ ...r1.reservation });
      expect((await h.store.peek([a, b])).map((s) => s.used)).toEqual([1, 2]);
      await h.store.commit(r2.reservation);
      await h.store.rollback(r2.reservation);
      expect((await h.store.peek([a, b])).map((s) => s.used)).toEqual([1, 2]);
    });

    it("rollback after the window rolled over touches neither the new window nor goes negative", async () => {
      const s = spec("roll|grant|g", 5, 3);
      const old = admitted(await h.store.reserve([s]));
      await h.advance(WINDOW_MS + 30);
      admitted(await h.store.reserve([spec("roll|grant|g", 5, 1)]));
      await h.store.rollback(old.reservation);
      expect((await h.store.peek([s]))[0]!.used).toBe(1);
    });

    it("peek does not consume", async () => {
      const s = spec("peek|grant|h", 1);
      expect((await h.store.peek([s]))[0]).toMatchObject({ used: 0, remaining: 1 });
      expect((await h.store.reserve([s])).admitted).toBe(true);
      expect((await h.store.peek([s]))[0]).toMatchObject({ used: 1, remaining: 0 });
    });

    it("rejects malformed specs as programming errors", async () => {
      await expect(h.store.reserve([spec("x|grant|i", 1, -1)])).rejects.toMatchObject({
        code: RateLimitStoreErrorCode.SPEC_INVALID,
      });
      await expect(h.store.reserve([{ ...spec("x|grant|i", 1), windowMs: 0 }])).rejects.toThrow(
        /specs\[0\]/,
      );
    });

    it("reports itself ready", async () => {
      expect(await h.store.ready()).toMatchObject({ ok: true, store: h.store.name });
    });
  });
}
