import { describe, expect, it } from "vitest";
import { compilePolicy } from "./compile.js";
import { createPolicyEngine } from "./engine.js";
import { PolicyError } from "./errors.js";
import type { PolicyDocument } from "./schema.js";

const engine = createPolicyEngine({ now: () => 1_000_000 });
const who = { grant: "bot" };

const transfer = compilePolicy({
  version: "1",
  tools: {
    transfer_funds: {
      action: "allow",
      limits: [{ counter: "transfers", window: "minute", max: 100 }],
      approval: [
        {
          when: [{ path: "args.amount", op: "gt", value: 10_000 }],
          approvers: 2,
          from: ["risk", "alice"],
          expires: "30m",
          reason_required: true,
        },
        { when: [{ path: "args.amount", op: "gt", value: 1000 }], mode: "retry" },
      ],
    },
    wire: { action: "require_approval", approval: { approvers: 2 } },
    plain: { action: "require_approval" },
  },
} as PolicyDocument);

const decide = (name: string, args: Record<string, unknown>) =>
  engine.decide(transfer, { name, arguments: args }, who);

describe("approval rules", () => {
  it("conditions pick the rule: allowed below 1000, one approver above, four eyes above 10,000", async () => {
    const small = await decide("transfer_funds", { amount: 500 });
    expect(small.effect).toBe("allow");
    expect(small.approval).toBeUndefined();
    await small.reservation?.rollback();

    const mid = await decide("transfer_funds", { amount: 5000 });
    expect(mid).toMatchObject({
      effect: "require_approval",
      code: "APPROVAL_REQUIRED",
      ruleId: "tools.transfer_funds.approval[1]",
      approval: { approvers: 1, reasonRequired: false, mode: "retry" },
    });
    // A held call still reserves its limits, as with action: require_approval.
    expect(mid.reservation).toBeDefined();
    await mid.reservation?.rollback();

    const big = await decide("transfer_funds", { amount: 50_000 });
    expect(big.approval).toEqual({
      ruleId: "tools.transfer_funds.approval[0]",
      approvers: 2,
      from: ["risk", "alice"],
      expiresMs: 1_800_000,
      reasonRequired: true,
      mode: undefined,
    });
    expect(big.reason).toContain("needs 2 approvals");
    await big.reservation?.rollback();
  });

  it("a single object applies to every held call; require_approval without rules carries none", async () => {
    expect((await decide("wire", {})).approval).toMatchObject({ approvers: 2 });
    const plain = await decide("plain", {});
    expect(plain.effect).toBe("require_approval");
    expect(plain.approval).toBeUndefined();
  });

  it("explain shows which approval rule applied", () => {
    const e = engine.explain(
      transfer,
      { name: "transfer_funds", arguments: { amount: 20_000 } },
      who,
    );
    expect(e.trace.find((s) => s.step === "approval")).toMatchObject({
      result: "matched",
      ruleId: "tools.transfer_funds.approval[0]",
    });
    expect(e.verdict.effect).toBe("require_approval");
  });

  it("refuses bad rules with the path and a fix", () => {
    const bad = (approval: unknown) => {
      try {
        compilePolicy({ version: "1", tools: { t: { approval } } } as PolicyDocument);
      } catch (err) {
        return (err as PolicyError).issues;
      }
      throw new Error("accepted");
    };
    expect(bad({ approvers: 0 })[0]?.path).toBe("tools.t.approval[0].approvers");
    expect(bad({ expires: "soon" })[0]).toMatchObject({
      path: "tools.t.approval[0].expires",
      fix: expect.stringContaining("30m"),
    });
    expect(bad([{ approver: 2 }])[0]).toMatchObject({
      path: "tools.t.approval[0].approver",
      fix: expect.stringContaining("approvers"),
    });
    expect(bad({ from: ["no spaces"] })[0]?.path).toBe("tools.t.approval[0].from[0]");
    expect(bad({ when: [{ path: "amount", op: "gt", value: 1 }] })[0]?.path).toBe(
      "tools.t.approval[0].when[0].path",
    );
    expect(PolicyError).toBeDefined();
  });
});
