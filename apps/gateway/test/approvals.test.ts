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
  it("holds a call until approved, storing what will be forwarded with only secrets masked", async () => {
    vi.useFakeTimers();
    const store = createMemoryApprovalStore();
    const approve = createApprover({ store, timeoutMs: 60_000 });
    const result = approve(held("a1"));
    const pending = await until(async () => (await store.listPending())[0]);
    // A name merely containing "token" is not a credential: the approver sees it.
    expect(pending.arguments).toEqual({
      symbol: "BTCUSD",
      apiSecret: "••••••(masked: credential name)",
      nested: { token: "t" },
    });
    expect(pending.masked).toEqual(["args.apiSecret"]);
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
    await expect(gone).resolves.toMatchObject({ outcome: "rejected", by: "caller:cancelled" });

    // The caller may withdraw its call through elicitation.
    const asked: Array<{ message: string; fields: string[] }> = [];
    const viaUser = approve(
      held("e1", {
        elicit: async (message, schema) => {
          asked.push({ message, fields: Object.keys(schema.properties) });
          return { action: "accept", content: { withdraw: true } };
        },
      }),
    );
    await expect(viaUser).resolves.toMatchObject({ outcome: "rejected", by: "caller:withdrawn" });
    expect(asked[0]?.message).toContain("binance_us_create_listen_key");
    expect(asked[0]?.message).not.toContain("s3cr3t");
    expect(asked[0]?.fields).toEqual(["withdraw"]);

    const off = createApprover({ store, timeoutMs: 1000, elicitation: false });
    const ignored = off(
      held("e2", { elicit: async () => ({ action: "accept", content: { withdraw: true } }) }),
    );
    await vi.advanceTimersByTimeAsync(1001);
    await expect(ignored).resolves.toMatchObject({ outcome: "timeout" });
  });

  it("never lets the caller approve its own call through elicitation by default", async () => {
    vi.useFakeTimers();
    const store = createMemoryApprovalStore();
    const approve = createApprover({ store, timeoutMs: 30_000 });
    // A hostile client answers every elicitation with an approval, in any shape.
    const self = approve(
      held("s1", {
        elicit: async () => ({ action: "accept", content: { approve: true, withdraw: false } }),
      }),
    );
    await vi.advanceTimersByTimeAsync(100);
    expect((await store.get("s1"))?.status).toBe("pending");
    // Only an approver authenticated apart from the caller approves it.
    await store.resolve("s1", { status: "approved", by: "admin", at: Date.now() });
    await expect(self).resolves.toEqual({ outcome: "approved", by: "admin" });
  });

  it("callerMayApprove: lets a sole session approve, refuses when the grant is shared", async () => {
    vi.useFakeTimers();
    const store = createMemoryApprovalStore();
    const warnings: string[] = [];
    const approve = createApprover({
      store,
      timeoutMs: 30_000,
      callerMayApprove: true,
      onWarn: (m) => warnings.push(m),
    });
    const yes = async () => ({ action: "accept" as const, content: { approve: true } });
    await expect(approve(held("m1", { elicit: yes, grantSessions: 1 }))).resolves.toEqual({
      outcome: "approved",
      by: "caller:elicitation",
    });
    const shared = approve(held("m2", { elicit: yes, grantSessions: 3 }));
    await vi.advanceTimersByTimeAsync(100);
    expect((await store.get("m2"))?.status).toBe("pending");
    expect(warnings[0]).toContain("shared by several sessions");
    await vi.advanceTimersByTimeAsync(30_000);
    await expect(shared).resolves.toMatchObject({ outcome: "timeout" });
  });

  it("masks policy-named paths and detected credentials, marked, and shows everything else", async () => {
    vi.useFakeTimers();
    const store = createMemoryApprovalStore();
    const approve = createApprover({
      store,
      timeoutMs: 30_000,
      secretPaths: () => ["args.wallet.seed", "args.legs.*.auth"],
    });
    const args = {
      tokenAddress: "0xATTACKER",
      recipient_public_key: "02ab",
      nested: { signature_override: "0xdead" },
      wallet: { seed: "correct horse", label: "main" },
      legs: [{ auth: "x1", amount: 1 }],
      header: "Bearer abcdefghijklmnop",
      pem: "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
      listenKey: "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a",
      other: "A".repeat(30) + "b1".repeat(15),
    };
    const r = approve(held("k1", { arguments: args }));
    const p = await until(async () => (await store.listPending())[0]);
    expect(p.arguments).toMatchObject({
      tokenAddress: "0xATTACKER",
      recipient_public_key: "02ab",
      nested: { signature_override: "0xdead" },
      wallet: { seed: "••••••(masked: secret by policy)", label: "main" },
      legs: [{ auth: "••••••(masked: secret by policy)", amount: 1 }],
      header: "••••••(masked: looks like a bearer token)",
      pem: "••••••(masked: looks like a private key)",
      listenKey: "••••••(masked: credential name)",
      other: "••••••(masked: looks like a binance key)",
    });
    expect(p.masked).toEqual([
      "args.wallet.seed",
      "args.legs.0.auth",
      "args.header",
      "args.pem",
      "args.listenKey",
      "args.other",
    ]);
    await store.resolve("k1", { status: "rejected", by: "admin", at: Date.now() });
    await r;
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
    expect(pending[0]?.arguments).toEqual({
      n: 1,
      list: [],
      password: "••••••(masked: credential name)",
    });
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
