import { createMemoryStore, type MeteredCounterStore } from "@toolgate/policy-engine";
import { describe, expect, it } from "vitest";
import { runStoreContract, spec } from "../../test/contract.js";
import { FakeTime } from "../../test/fake-time.js";
import { RateLimitStoreError, RateLimitStoreErrorCode } from "../errors.js";
import { withFailMode } from "./fail-mode.js";

/**
 * A backend that can be switched off: any store whose `reserve` rejects with
 * STORE_UNAVAILABLE, which is all the wrapper relies on (a new backend gets the same).
 */
function switchable(inner: MeteredCounterStore) {
  const state = { down: false, settled: 0 };
  const unavailable = () =>
    new RateLimitStoreError(
      RateLimitStoreErrorCode.STORE_UNAVAILABLE,
      "limit store unavailable: down",
    );
  const store: MeteredCounterStore = {
    name: "switchable",
    reserve: (s) => (state.down ? Promise.reject(unavailable()) : inner.reserve(s)),
    commit: (r) => {
      state.settled++;
      return inner.commit(r);
    },
    rollback: (r) => {
      state.settled++;
      return inner.rollback(r);
    },
    peek: (s) => inner.peek(s),
    ready: () => inner.ready(),
    close: () => inner.close(),
    stats: () => inner.stats(),
  };
  return { store, state };
}

runStoreContract("memory inside the fail-mode wrapper", async () => {
  const time = new FakeTime();
  const store = withFailMode(createMemoryStore({ now: time.clock, sweepIntervalMs: 0 }), {
    fail: "open",
    insurance: true,
    now: time.clock,
  });
  return { store, slackMs: 0, advance: async (ms) => time.advance(ms), close: () => store.close() };
});

describe("fail mode wrapper (any backend)", () => {
  const s = spec("k|grant|g", 2);

  it("fail closed: refuses while the backend is down, reports it, counts it", async () => {
    const time = new FakeTime();
    const b = switchable(createMemoryStore({ now: time.clock, sweepIntervalMs: 0 }));
    const store = withFailMode(b.store, { now: time.clock, failClosedRetryAfterMs: 750 });
    b.state.down = true;
    expect(await store.reserve([s])).toMatchObject({
      admitted: false,
      retryAfterMs: 750,
      degraded: {
        mode: "fail_closed",
        store: "switchable",
        reason: "limit store unavailable: down",
      },
    });
    expect(store.stats().failClosed).toBe(1);
    b.state.down = false;
    expect((await store.reserve([s])).admitted).toBe(true);
    await store.close();
  });

  it("fail open with insurance counts per process; its reservations never reach the backend", async () => {
    const time = new FakeTime();
    const b = switchable(createMemoryStore({ now: time.clock, sweepIntervalMs: 0 }));
    const store = withFailMode(b.store, { fail: "open", insurance: true, now: time.clock });
    b.state.down = true;
    const outs = [await store.reserve([s]), await store.reserve([s]), await store.reserve([s])];
    expect(outs.map((o) => o.admitted)).toEqual([true, true, false]);
    expect(outs.every((o) => o.degraded?.mode === "fail_open" && o.degraded.insurance)).toBe(true);
    const first = outs[0]!;
    if (!first.admitted) throw new Error("expected admission");
    await store.rollback(first.reservation);
    expect((await store.reserve([s])).admitted).toBe(true);
    expect(b.state.settled).toBe(0);
    expect(store.stats()).toMatchObject({ failOpen: 4, insurance: 4, admitted: 3, refused: 1 });
    await store.close();
  });

  it("fail open without insurance admits blindly and says so; programming errors still reject", async () => {
    const b = switchable(createMemoryStore({ sweepIntervalMs: 0 }));
    const store = withFailMode(b.store, { fail: "open" });
    b.state.down = true;
    const out = await store.reserve([s]);
    expect(out).toMatchObject({ admitted: true, degraded: { mode: "fail_open" } });
    expect(out.degraded?.insurance).toBeUndefined();
    if (out.admitted) await store.commit(out.reservation);
    expect(b.state.settled).toBe(0);
    b.state.down = false;
    await expect(store.reserve([{ ...s, windowMs: -1 }])).rejects.toMatchObject({
      code: "SPEC_INVALID",
    });
    await store.close();
    await expect(store.commit({ id: "open:x", counters: [] })).rejects.toMatchObject({
      code: "STORE_CLOSED",
    });
  });
});
