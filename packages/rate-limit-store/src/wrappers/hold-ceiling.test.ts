import { randomUUID } from "node:crypto";
import { createMemoryStore, type MeteredCounterStore } from "@toolgate/policy-engine";
import { describe, expect, inject, it } from "vitest";
import { runStoreContract, spec } from "../../test/contract.js";
import { FakeTime } from "../../test/fake-time.js";
import { createCounterStore } from "../factory.js";
import { createRedisStore } from "../redis-store.js";
import { withHoldCeiling } from "./hold-ceiling.js";

const flush = () => new Promise<void>((r) => setImmediate(r));

runStoreContract("memory with a hold ceiling", async () => {
  const time = new FakeTime();
  const store = withHoldCeiling(createMemoryStore({ now: time.clock, sweepIntervalMs: 0 }), {
    holdTimeoutMs: 60_000,
    now: time.clock,
    scheduler: time,
  });
  return {
    store,
    slackMs: 0,
    advance: async (ms) => time.advance(ms),
    close: () => store.close(),
  };
});

describe("hold ceiling", () => {
  it("releases a reservation nobody settled after holdTimeoutMs; a late commit changes nothing", async () => {
    const time = new FakeTime();
    const inner = createMemoryStore({ now: time.clock, sweepIntervalMs: 0 });
    const store = withHoldCeiling(inner, {
      holdTimeoutMs: 30_000,
      now: time.clock,
      scheduler: time,
    });
    const s = spec("hung|grant|g", 2, 1, 3_600_000);
    const a = await store.reserve([s]);
    const b = await store.reserve([s]);
    if (!a.admitted || !b.admitted) throw new Error("expected admission");
    await store.commit(b.reservation); // settled in time: never released
    expect((await store.reserve([s])).admitted).toBe(false);
    time.advance(29_000);
    await flush();
    expect((await store.peek([s]))[0]?.used).toBe(2);
    time.advance(1_000);
    await flush();
    // `a` was held for 30 s by a caller that never came back: its unit is free again.
    expect((await store.peek([s]))[0]?.used).toBe(1);
    expect(store.stats().released).toBe(1);
    await store.commit(a.reservation);
    await store.rollback(a.reservation);
    expect((await store.peek([s]))[0]?.used).toBe(1);
    expect((await store.reserve([s])).admitted).toBe(true);
    await store.close();
    expect(time.pending).toBe(0);
  });

  it("arms no timer while nothing is held", async () => {
    const time = new FakeTime();
    const store = withHoldCeiling(createMemoryStore({ now: time.clock, sweepIntervalMs: 0 }), {
      holdTimeoutMs: 1_000,
      now: time.clock,
      scheduler: time,
    });
    expect(time.pending).toBe(0);
    const r = await store.reserve([spec("k|grant|g", 5)]);
    expect(time.pending).toBe(1);
    if (r.admitted) await store.rollback(r.reservation);
    time.advance(1_000);
    expect(time.pending).toBe(0);
    await store.close();
  });

  it("comes from the store URL for any backend (?holdTimeout=)", async () => {
    const time = new FakeTime();
    const store = createCounterStore("memory:?holdTimeout=5000", {
      now: time.clock,
      scheduler: time,
    });
    const s = spec("u|grant|g", 1, 1, 86_400_000);
    expect((await store.reserve([s])).admitted).toBe(true);
    expect((await store.reserve([s])).admitted).toBe(false);
    time.advance(5_000);
    await flush();
    expect((await store.reserve([s])).admitted).toBe(true);
    await store.close();
  });

  it("releases on real Redis too, and a late commit from the caller cannot take the units again", async () => {
    const time = new FakeTime();
    const prefix = `hold:${randomUUID()}:`;
    const url = inject("redisUrl");
    // No local refusal marks: this instance must see the release at once.
    const other: MeteredCounterStore = createRedisStore({ url, prefix, localRefusalMaxMs: 0 });
    const store = withHoldCeiling(createRedisStore({ url, prefix }), {
      holdTimeoutMs: 10_000,
      now: time.clock,
      scheduler: time,
    });
    const s = spec("hung|grant|g", 1, 1, 3_600_000);
    const held = await store.reserve([s]);
    if (!held.admitted) throw new Error("expected admission");
    expect((await other.reserve([s])).admitted).toBe(false);
    time.advance(10_000);
    for (let i = 0; i < 50 && (await other.peek([s]))[0]?.used !== 0; i++) await flush();
    expect((await other.peek([s]))[0]?.used).toBe(0);
    await store.commit(held.reservation);
    expect((await other.peek([s]))[0]?.used).toBe(0);
    expect((await other.reserve([s])).admitted).toBe(true);
    await store.close();
    await other.close();
  });
});
