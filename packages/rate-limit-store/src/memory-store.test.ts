import { createMemoryStore } from "@toolgate/policy-engine";
import { describe, expect, it, vi } from "vitest";
import { runStoreContract, spec } from "../test/contract.js";
import { runSmoothContract } from "../test/smooth-contract.js";

const memoryHarness = async () => {
  let t = 1_000_000;
  const store = createMemoryStore({ now: () => t, sweepIntervalMs: 0 });
  return {
    store,
    slackMs: 0,
    advance: async (ms: number) => {
      t += ms;
    },
    close: () => store.close(),
  };
};
runStoreContract("memory", memoryHarness);
runSmoothContract("memory", memoryHarness);

describe("memory store", () => {
  it("reports the exact time left in the window as retryAfterMs", async () => {
    let t = 5_000;
    const store = createMemoryStore({ now: () => t, sweepIntervalMs: 0 });
    const s = spec("r|grant|a", 1, 1, 60_000);
    expect((await store.reserve([s])).admitted).toBe(true);
    t += 12_345;
    expect(await store.reserve([s])).toMatchObject({
      admitted: false,
      retryAfterMs: 60_000 - 12_345,
    });
    t = 5_000 + 60_000 - 1;
    expect((await store.reserve([s])).admitted).toBe(false);
    t += 1;
    expect((await store.reserve([s])).admitted).toBe(true);
  });

  it("sweeps ended windows on its injected scheduler and stops on close", async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const store = createMemoryStore({ sweepIntervalMs: 1000 });
      await store.reserve([spec("a|grant|1", 5, 1, 500), spec("b|grant|1", 5, 1, 5000)]);
      expect(store.stats().keys).toBe(2);
      vi.advanceTimersByTime(1000);
      expect(store.stats().keys).toBe(1);
      vi.advanceTimersByTime(5000);
      expect(store.stats().keys).toBe(0);
      await store.close();
      expect(vi.getTimerCount()).toBe(0);
      await expect(store.reserve([spec("a|grant|1", 1)])).rejects.toMatchObject({
        code: "STORE_CLOSED",
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it("counts admissions and refusals in stats()", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const s = spec("s|grant|1", 1);
    await store.reserve([s]);
    await store.reserve([s]);
    expect(store.stats()).toMatchObject({
      store: "memory",
      reservations: 2,
      admitted: 1,
      refused: 1,
    });
  });

  it("validates its options at creation, naming the path", () => {
    expect(() => createMemoryStore({ sweepIntervalMs: -1 })).toThrow(/sweepIntervalMs/);
    expect(() => createMemoryStore({ bogus: 1 } as never)).toThrow(/CONFIG|bogus|Unrecognized/i);
  });

  it("keeps rollback idempotent across thousands of reservations and ignores foreign ids", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const s = spec("many|grant|1", 10_000, 1, 60_000);
    const outs = [];
    for (let i = 0; i < 3000; i++) outs.push(await store.reserve([s]));
    const res = outs
      .map((o) => (o.admitted ? o.reservation : undefined))
      .filter((r) => r !== undefined);
    expect(res).toHaveLength(3000);
    for (const r of res.slice(0, 1500)) await store.commit(r);
    for (const r of res) await store.rollback(r);
    for (const r of res) await store.rollback({ ...r, counters: [...r.counters] });
    await store.rollback({ id: "someone-else-1", counters: res[2000]!.counters });
    await store.rollback({ id: `${res[0]!.id.slice(0, -1)}zzzzzz`, counters: res[2000]!.counters });
    expect((await store.peek([s]))[0]!.used).toBe(1500);
  });

  it("uses the injected id prefix", async () => {
    const store = createMemoryStore({ idPrefix: "id-", sweepIntervalMs: 0 });
    const out = await store.reserve([spec("i|grant|1", 2)]);
    expect(out.admitted && out.reservation.id).toBe("id-0");
  });
});
