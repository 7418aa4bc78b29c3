import { describe, expect, it } from "vitest";
import type { CounterSpec } from "../contracts.js";
import { createMemoryStore } from "./memory-store.js";

const createInProcessCounterStore = (o: { now: () => number }) =>
  createMemoryStore({ now: o.now, sweepIntervalMs: 0 });

const spec = (key: string, max: number, weight = 1, windowMs = 1000): CounterSpec => ({
  key,
  counter: key,
  windowMs,
  max,
  weight,
  ruleId: `r.${key}`,
});

describe("memory counter store (the engine's default)", () => {
  it("opens a fixed window at the first reservation and resets when it ends", async () => {
    let now = 5_000;
    const store = createInProcessCounterStore({ now: () => now });
    const a = await store.reserve([spec("k", 2)]);
    expect(a).toMatchObject({
      admitted: true,
      counters: [{ used: 1, remaining: 1, resetAtMs: 6_000 }],
    });
    now = 5_500;
    expect((await store.reserve([spec("k", 2)])).admitted).toBe(true);
    const refused = await store.reserve([spec("k", 2)]);
    expect(refused).toMatchObject({ admitted: false, blockedBy: 0, retryAfterMs: 500 });
    now = 6_000;
    expect(await store.reserve([spec("k", 2)])).toMatchObject({
      admitted: true,
      counters: [{ used: 1, resetAtMs: 7_000 }],
    });
  });

  it("after a reload shortens a window, refuses at most for the new window", async () => {
    let now = 0;
    const store = createInProcessCounterStore({ now: () => now });
    await store.reserve([spec("k", 1, 1, 86_400_000)]); // filled under "1 per day"
    now = 1_000;
    const refused = await store.reserve([spec("k", 1, 1, 60_000)]); // now "1 per minute"
    expect(refused).toMatchObject({ admitted: false, retryAfterMs: 60_000 });
    now = 61_000;
    expect((await store.reserve([spec("k", 1, 1, 60_000)])).admitted).toBe(true);
  });

  it("reserves several counters all-or-nothing and reports the first refusing one", async () => {
    const now = 0;
    const store = createInProcessCounterStore({ now: () => now });
    await store.reserve([spec("b", 1)]);
    const out = await store.reserve([spec("a", 5), spec("b", 1), spec("c", 5)]);
    expect(out).toMatchObject({ admitted: false, blockedBy: 1 });
    const states = await store.peek([spec("a", 5), spec("c", 5)]);
    expect(states.map((s) => s.used)).toEqual([0, 0]);
  });

  it("a refused reserve opens no window", async () => {
    let now = 0;
    const store = createInProcessCounterStore({ now: () => now });
    expect((await store.reserve([spec("k", 6, 4), spec("k", 6, 4)])).admitted).toBe(false);
    now = 500;
    const ok = await store.reserve([spec("k", 6, 3)]);
    expect(ok).toMatchObject({ admitted: true, counters: [{ used: 3, resetAtMs: 1_500 }] });
  });

  it("counts a key named twice in one call twice", async () => {
    const store = createInProcessCounterStore({ now: () => 0 });
    expect((await store.reserve([spec("k", 3), spec("k", 3)])).admitted).toBe(true);
    expect((await store.reserve([spec("k", 3), spec("k", 3)])).admitted).toBe(false);
    expect((await store.peek([spec("k", 3)]))[0]?.used).toBe(2);
  });

  it("weights: admits up to max exactly, refuses beyond", async () => {
    const store = createInProcessCounterStore({ now: () => 0 });
    expect((await store.reserve([spec("usd", 100, 60)])).admitted).toBe(true);
    expect((await store.reserve([spec("usd", 100, 41)])).admitted).toBe(false);
    expect((await store.reserve([spec("usd", 100, 40)])).admitted).toBe(true);
    expect((await store.reserve([spec("usd", 100, 0)])).admitted).toBe(true);
  });

  it("commit keeps units; rollback returns them once, never below zero or to a later window", async () => {
    let now = 0;
    const store = createInProcessCounterStore({ now: () => now });
    const r1 = await store.reserve([spec("k", 2)]);
    const r2 = await store.reserve([spec("k", 2)]);
    if (!r1.admitted || !r2.admitted) throw new Error("expected admission");
    await store.commit(r1.reservation);
    await store.rollback(r1.reservation);
    await store.rollback(r2.reservation);
    await store.rollback(r2.reservation);
    expect((await store.peek([spec("k", 2)]))[0]?.used).toBe(1);
    const r3 = await store.reserve([spec("k", 2)]);
    if (!r3.admitted) throw new Error("expected admission");
    now = 1_000;
    await store.reserve([spec("k", 2)]);
    await store.rollback(r3.reservation);
    expect((await store.peek([spec("k", 2)]))[0]?.used).toBe(1);
  });

  it("drops expired windows as it is used, without a timer, so memory stays bounded", async () => {
    let now = 0;
    const store = createInProcessCounterStore({ now: () => now });
    for (let i = 0; i < 5_000; i++) await store.reserve([spec(`k${i}`, 1)]);
    expect(store.stats().keys).toBe(5_000);
    now = 10_000;
    for (let i = 0; i < 5_000; i++) await store.reserve([spec("live", 1e9)]);
    // Swept on the way: only the live key (and none of the 5,000 ended windows) remains.
    expect(store.stats().keys).toBe(1);
    const peek = await store.peek([spec("k0", 1)]);
    expect(peek[0]).toMatchObject({ used: 0, remaining: 1, resetAtMs: 11_000 });
    expect(await store.ready()).toEqual({ ok: true, store: "memory" });
    await store.close();
  });
});
