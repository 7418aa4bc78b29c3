import { createHash } from "node:crypto";
import { afterEach, describe, expect, inject, it } from "vitest";
import type { HeldCall } from "../src/approvals/approver.js";
import { createApprover } from "../src/approvals/approver.js";
import { decideApproval } from "../src/approvals/decide.js";
import { type ApprovalLifecycleEvent, createApprovalLifecycle } from "../src/approvals/events.js";
import { createRedisApprovalStore } from "../src/approvals/redis-store.js";
import { sweepExpired } from "../src/approvals/retry.js";
import { type ApprovalStore, createMemoryApprovalStore } from "../src/approvals/store.js";

const REDIS_URL = inject("redisUrl");

let clock = 1_000_000;
const now = () => clock;
let n = 0;

function call(args: Record<string, unknown>, extra: Partial<HeldCall> = {}): HeldCall {
  return {
    id: `apr_${++n}`,
    grant: "bot",
    tool: "transfer_funds",
    upstream: "bank",
    arguments: args,
    argumentsDigest: `sha256:${createHash("sha256").update(JSON.stringify(args)).digest("hex")}`,
    decision: {
      reason: "held",
      ruleId: "tools.transfer_funds.approval[0]",
      approval: {
        ruleId: "tools.transfer_funds.approval[0]",
        approvers: 1,
        reasonRequired: false,
        expiresMs: 60_000,
        mode: "retry",
      },
    },
    signal: new AbortController().signal,
    ...extra,
  };
}

const bob = {
  name: "bob",
  roles: ["risk"],
  grants: [/^.*$/],
  tools: [/^.*$/],
  policies: undefined,
  actsAs: new Set<string>(),
  oauthSubject: undefined,
};

const stores: ApprovalStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const backends: Array<[string, () => [ApprovalStore, ApprovalStore]]> = [
  [
    "memory",
    () => {
      const s = createMemoryApprovalStore();
      return [s, s];
    },
  ],
  [
    "redis, two instances",
    () => {
      const keyPrefix = `tg-retry-${process.pid}-${Math.random().toString(36).slice(2)}:`;
      const a = createRedisApprovalStore({ url: REDIS_URL, keyPrefix, now });
      const b = createRedisApprovalStore({ url: REDIS_URL, keyPrefix, now });
      stores.push(a, b);
      return [a, b];
    },
  ],
];

describe.each(backends)("retry mode with a fake clock (%s)", (_name, make) => {
  it("an approval used after its expiry does not run; a lapsed one is expired once with one event", async () => {
    clock = 1_000_000;
    const [storeA, storeB] = make();
    const events: ApprovalLifecycleEvent[] = [];
    const lifecycle = createApprovalLifecycle();
    lifecycle.on((e) => events.push(e));
    const approveA = createApprover({ store: storeA, now, lifecycle, mode: "retry" });
    const approveB = createApprover({ store: storeB, now, lifecycle, mode: "retry" });
    const deps = { store: storeB, lifecycle, policyOf: () => undefined, now };

    // Approved, then retried one ms after expiry: not consumed; a new approval is asked.
    const first = await approveA(call({ amount: 5 }));
    expect(first).toMatchObject({ outcome: "held" });
    const id = (first as { approvalId: string }).approvalId;
    await decideApproval(deps, bob, id, "approve", undefined);
    clock += 60_001;
    const late = await approveB(call({ amount: 5 }));
    expect(late).toMatchObject({ outcome: "held" });
    expect((late as { approvalId: string }).approvalId).not.toBe(id);
    expect((await storeA.get(id))?.consumedAt).toBeUndefined();

    // Pending past its expiry: the retry is told it expired (once), the next one asks anew.
    const second = await approveA(call({ amount: 6 }));
    const id2 = (second as { approvalId: string }).approvalId;
    clock += 60_000;
    await expect(approveB(call({ amount: 6 }))).resolves.toMatchObject({
      outcome: "timeout",
      reason: expect.stringContaining(`${id2} expired at`),
    });
    // A decision after expiry is refused too.
    await expect(decideApproval(deps, bob, id2, "approve", undefined)).rejects.toMatchObject({
      status: 409,
    });
    await expect(approveA(call({ amount: 6 }))).resolves.toMatchObject({ outcome: "held" });

    // Nobody retries: the sweep expires it, on whichever instance runs first, once.
    const third = await approveA(call({ amount: 7 }));
    const id3 = (third as { approvalId: string }).approvalId;
    clock += 60_000;
    await Promise.all([
      sweepExpired({ store: storeA, now, lifecycle }),
      sweepExpired({ store: storeB, now, lifecycle }),
    ]);
    expect((await storeB.get(id3))?.status).toBe("timeout");
    const expired = events.filter((e) => e.type === "approval.expired").map((e) => e.approval.id);
    expect(expired.filter((x) => x === id3)).toHaveLength(1);
    expect(expired).toContain(id2);
    // Every event carries the arguments as approvers see them, and a decided one who decided.
    const decided = events.find((e) => e.type === "approval.decided");
    expect(decided).toMatchObject({
      final: true,
      decision: { approver: "bob", decision: "approve" },
    });
    expect(events.filter((e) => e.type === "approval.requested").length).toBeGreaterThanOrEqual(4);
  });

  it("an approval for one user of a shared grant is not consumed by another user", async () => {
    clock = 3_000_000;
    const [store] = make();
    const approve = createApprover({ store, now, mode: "retry" });
    const deps = { store, lifecycle: createApprovalLifecycle(), policyOf: () => undefined, now };
    const first = await approve(call({ amount: 9 }, { subject: "user-1" }));
    const id = (first as { approvalId: string }).approvalId;
    await decideApproval(deps, bob, id, "approve", undefined);
    const other = await approve(call({ amount: 9 }, { subject: "user-2" }));
    expect(other).toMatchObject({ outcome: "held" });
    expect((other as { approvalId: string }).approvalId).not.toBe(id);
    await expect(approve(call({ amount: 9 }, { subject: "user-1" }))).resolves.toMatchObject({
      outcome: "approved",
    });
  });

  it("masks secrets in stored records and events", async () => {
    clock = 2_000_000;
    const [store] = make();
    const events: ApprovalLifecycleEvent[] = [];
    const lifecycle = createApprovalLifecycle();
    lifecycle.on((e) => events.push(e));
    const approve = createApprover({ store, now, lifecycle, mode: "retry" });
    await approve(call({ amount: 1, apiSecret: "hunter2-hunter2" }));
    expect(JSON.stringify(events)).not.toContain("hunter2");
    expect(JSON.stringify(await store.listPending())).not.toContain("hunter2");
  });
});
