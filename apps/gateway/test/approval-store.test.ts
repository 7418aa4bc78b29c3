import { afterEach, describe, expect, inject, it } from "vitest";
import { createRedisApprovalStore } from "../src/approvals/redis-store.js";
import {
  type ApprovalRecord,
  type ApprovalStore,
  createMemoryApprovalStore,
} from "../src/approvals/store.js";

const REDIS_URL = inject("redisUrl");
const T0 = 1_000_000;

function record(id: string, extra: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id,
    grant: "bot",
    tool: "transfer_funds",
    upstream: "bank",
    arguments: { amount: 20_000 },
    argumentsDigest: "sha256:x",
    reason: "held",
    ruleId: "tools.transfer_funds.approval[0]",
    createdAt: T0,
    expiresAt: T0 + 60_000,
    status: "pending",
    rule: { ruleId: "tools.transfer_funds.approval[0]", approvers: 2 },
    ...extra,
  };
}

const stores: ApprovalStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const backends: Array<[string, () => ApprovalStore]> = [
  ["memory", () => createMemoryApprovalStore()],
  [
    "redis",
    () =>
      createRedisApprovalStore({
        url: REDIS_URL,
        keyPrefix: `tg-store-${process.pid}-${Math.random().toString(36).slice(2)}:`,
        now: () => T0,
      }),
  ],
];

describe.each(backends)("approval store contract (%s)", (_name, make) => {
  const open = () => {
    const s = make();
    stores.push(s);
    return s;
  };

  it("four eyes: the first approval records, a repeat by the same approver is refused, the second distinct one approves", async () => {
    const s = open();
    await s.create(record("a"));
    const first = await s.decide("a", { approver: "alice", decision: "approve", at: T0 + 1 });
    expect(first.result).toBe("recorded");
    expect(first.approval.status).toBe("pending");
    const again = await s.decide("a", { approver: "alice", decision: "approve", at: T0 + 2 });
    expect(again.result).toBe("already_decided");
    expect((await s.get("a"))?.decisions).toHaveLength(1);
    const second = await s.decide("a", {
      approver: "bob",
      decision: "approve",
      reason: "checked the beneficiary",
      at: T0 + 3,
    });
    expect(second.result).toBe("approved");
    expect(second.approval).toMatchObject({ status: "approved", resolvedBy: "alice, bob" });
    expect(second.approval.decisions).toEqual([
      { approver: "alice", decision: "approve", at: T0 + 1 },
      { approver: "bob", decision: "approve", reason: "checked the beneficiary", at: T0 + 3 },
    ]);
    const late = await s.decide("a", { approver: "carol", decision: "reject", at: T0 + 4 });
    expect(late.result).toBe("not_pending");
    expect((await s.get("a"))?.status).toBe("approved");
  });

  it("one rejection ends it, even after an approval; expired ones take no decision", async () => {
    const s = open();
    await s.create(record("r"));
    await s.decide("r", { approver: "alice", decision: "approve", at: T0 + 1 });
    const no = await s.decide("r", {
      approver: "bob",
      decision: "reject",
      reason: "wrong account",
      at: T0 + 2,
    });
    expect(no.result).toBe("rejected");
    expect(no.approval).toMatchObject({
      status: "rejected",
      resolvedBy: "bob",
      resolution: "wrong account",
    });
    expect((await s.listPending()).map((r) => r.id)).not.toContain("r");

    await s.create(record("e", { expiresAt: T0 + 10 }));
    const expired = await s.decide("e", { approver: "alice", decision: "approve", at: T0 + 10 });
    expect(expired.result).toBe("expired");
    await expect(
      s.decide("missing", { approver: "alice", decision: "approve", at: T0 }),
    ).rejects.toMatchObject({ code: "APPROVAL_NOT_FOUND" });
  });

  it("retry mode: a binding finds the record; an approved one is consumed exactly once, not after expiry", async () => {
    const s = open();
    const rule = { ruleId: "r", approvers: 1 };
    await s.create(record("c", { binding: "b1", mode: "retry", rule }));
    expect((await s.findByBinding("b1"))?.id).toBe("c");
    // Not approved yet: nothing to consume.
    expect(await s.consume("c", T0 + 1)).toBe(false);
    await s.decide("c", { approver: "alice", decision: "approve", at: T0 + 1 });
    const racers = await Promise.all([1, 2, 3, 4, 5].map(() => s.consume("c", T0 + 2)));
    expect(racers.filter(Boolean)).toHaveLength(1);
    expect(await s.findByBinding("b1")).toBeUndefined();
    expect((await s.get("c"))?.consumedAt).toBe(T0 + 2);

    await s.create(record("x", { binding: "b2", mode: "retry", rule, expiresAt: T0 + 100 }));
    await s.decide("x", { approver: "alice", decision: "approve", at: T0 + 1 });
    expect(await s.consume("x", T0 + 100)).toBe(false);
    // clearBinding only removes the binding while it still points at that record.
    await s.clearBinding("b2", "other");
    expect((await s.findByBinding("b2"))?.id).toBe("x");
    await s.clearBinding("b2", "x");
    expect(await s.findByBinding("b2")).toBeUndefined();
  });
});
