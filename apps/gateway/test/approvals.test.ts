import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { createApprover, type HeldCall } from "../src/approvals/approver.js";
import { createRedisApprovalStore } from "../src/approvals/redis-store.js";
import { type ApprovalStore, createMemoryApprovalStore } from "../src/approvals/store.js";

const REDIS_URL = inject("redisUrl");

function held(id: string, extra: Partial<HeldCall> = {}): HeldCall {
  return {
    id,
    grant: "demo",
    tool: "binance_us_create_listen_key",
    upstream: "binance-us",
    arguments: { symbol: "BTCUSD", apiSecret: "s3cr3t", nested: { token: "t" } },
    argumentsDigest: "d".repeat(64),
    decision: { reason: "needs a person", ruleId: "tools.x" },
    signal: new AbortController().signal,
    ...extra,
  };
}

async function until<T>(fn: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await vi.advanceTimersByTimeAsync(5);
  }
  throw new Error("condition not met");
}

afterEach(() => {
  vi.useRealTimers();
});

describe("approver with the memory store", () => {
  it("holds a call until approved, storing masked arguments only", async () => {
    vi.useFakeTimers();
    const store = createMemoryApprovalStore();
    const approve = createApprover({ store, timeoutMs: 60_000 });
    const result = approve(held("a1"));
    const pending = await until(async () => (await store.listPending())[0]);
    expect(pending.arguments).toEqual({
      symbol: "BTCUSD",
      apiSecret: "••••••",
      nested: { token: "••••••" },
    });
    expect(JSON.stringify(await store.listPending())).not.toContain("s3cr3t");
    await store.resolve("a1", { status: "approved", by: "admin", at: Date.now() });
    await expect(result).resolves.toEqual({ outcome: "approved", by: "admin" });
    // Single use: a second resolve does not change the outcome.
    const again = await store.resolve("a1", { status: "rejected", by: "admin", at: Date.now() });
    expect(again).toMatchObject({ changed: false, approval: { status: "approved" } });
  });

  it("denies with a clear reason when nobody answers in time", async () => {
    vi.useFakeTimers();
    const store = createMemoryApprovalStore();
    const approve = createApprover({ store, timeoutMs: 30_000 });
    const result = approve(held("t1"));
    await vi.advanceTimersByTimeAsync(29_999);
    expect((await store.get("t1"))?.status).toBe("pending");
    await vi.advanceTimersByTimeAsync(2);
    await expect(result).resolves.toMatchObject({
      outcome: "timeout",
      reason: expect.stringContaining("within 30 s"),
    });
    expect((await store.get("t1"))?.status).toBe("timeout");
    await expect(
      store.resolve("nope", { status: "approved", by: "x", at: 0 }),
    ).rejects.toMatchObject({
      code: "APPROVAL_NOT_FOUND",
    });
  });

  it("rejects when the client goes away, and uses elicitation when offered", async () => {
    vi.useFakeTimers();
    const store = createMemoryApprovalStore();
    const approve = createApprover({ store, timeoutMs: 30_000 });
    const ac = new AbortController();
    const gone = approve(held("c1", { signal: ac.signal }));
    await until(async () => (await store.listPending())[0]);
    ac.abort();
    await expect(gone).resolves.toMatchObject({ outcome: "rejected", by: "client" });

    const asked: string[] = [];
    const viaUser = approve(
      held("e1", {
        elicit: async (m) => {
          asked.push(m);
          return "rejected";
        },
      }),
    );
    await expect(viaUser).resolves.toMatchObject({ outcome: "rejected", by: "elicitation" });
    expect(asked[0]).toContain("binance_us_create_listen_key");
    expect(asked[0]).not.toContain("s3cr3t");

    const off = createApprover({ store, timeoutMs: 1000, elicitation: false });
    const ignored = off(held("e2", { elicit: async () => "approved" }));
    await vi.advanceTimersByTimeAsync(1001);
    await expect(ignored).resolves.toMatchObject({ outcome: "timeout" });
  });
});

describe("redis approval store", () => {
  const stores: ApprovalStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it("lets instance B resolve a call held on instance A", async () => {
    const keyPrefix = `tg-test-${process.pid}-${Date.now()}:`;
    const a = createRedisApprovalStore({ url: REDIS_URL, keyPrefix });
    const b = createRedisApprovalStore({ url: REDIS_URL, keyPrefix });
    stores.push(a, b);
    expect(await a.ready()).toEqual({ ok: true });
    expect(await b.ready()).toEqual({ ok: true });
    const approveOnA = createApprover({ store: a, timeoutMs: 10_000 });
    const seenOnB: string[] = [];
    b.subscribe((e) => seenOnB.push(`${e.type}:${e.approval.id}:${e.approval.status}`));
    const result = approveOnA(held("r1", { arguments: { n: 1, list: [], password: "p" } }));
    let pending: Awaited<ReturnType<ApprovalStore["listPending"]>> = [];
    for (let i = 0; i < 100 && pending.length === 0; i++) {
      pending = await b.listPending();
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    expect(pending.map((p) => p.id)).toEqual(["r1"]);
    expect(pending[0]?.arguments).toEqual({ n: 1, list: [], password: "••••••" });
    const { changed } = await b.resolve("r1", {
      status: "rejected",
      by: "admin",
      reason: "no",
      at: Date.now(),
    });
    expect(changed).toBe(true);
    await expect(result).resolves.toEqual({ outcome: "rejected", reason: "no", by: "admin" });
    expect(await b.listPending()).toEqual([]);
    expect((await a.listRecent(5)).map((r) => [r.id, r.status])).toEqual([["r1", "rejected"]]);
    expect(seenOnB).toContain("created:r1:pending");
    expect(seenOnB).toContain("resolved:r1:rejected");
    const second = await a.resolve("r1", { status: "approved", by: "admin", at: Date.now() });
    expect(second.changed).toBe(false);
    await expect(
      a.resolve("missing", { status: "approved", by: "x", at: 0 }),
    ).rejects.toMatchObject({
      code: "APPROVAL_NOT_FOUND",
    });
  });

  it("stops listing a call whose holder died once its deadline has passed", async () => {
    let now = 1_000_000;
    const store = createRedisApprovalStore({
      url: REDIS_URL,
      keyPrefix: `tg-test-stale-${process.pid}-${Date.now()}:`,
      now: () => now,
    });
    stores.push(store);
    const base = {
      grant: "demo",
      tool: "t",
      upstream: "u",
      arguments: {},
      argumentsDigest: "d",
      reason: "r",
      ruleId: "x",
      status: "pending" as const,
    };
    await store.create({ ...base, id: "live", createdAt: now, expiresAt: now + 30_000 });
    await store.create({
      ...base,
      id: "orphan",
      createdAt: now - 200_000,
      expiresAt: now - 100_000,
    });
    expect((await store.listPending()).map((r) => r.id)).toEqual(["live"]);
    now += 120_000;
    expect(await store.listPending()).toEqual([]);
  });
});
