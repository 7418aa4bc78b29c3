import type { Decision, PinVerdict } from "@toolgate/policy-engine";
import { describe, expect, it } from "vitest";
import { applyPinVerdict, type PinCheck, pinFacts } from "./pin-call.js";

function decision(over: Partial<Decision> = {}): Decision & { rolledBack: () => number } {
  let rollbacks = 0;
  return {
    id: "d1",
    effect: "allow",
    code: "ALLOWED",
    reason: "allowed by tools.order",
    ruleId: "tools.order",
    policyVersion: "v",
    tool: "order",
    decideUs: 1,
    limits: [{ counter: "c", key: "k", used: 1, max: 5, resetAtMs: 0 }] as never,
    reservation: {
      id: "r1",
      commit: async () => undefined,
      rollback: async () => {
        rollbacks++;
      },
    },
    ...over,
    rolledBack: () => rollbacks,
  };
}

const mismatch = (action: PinVerdict["action"], shadow = false): PinVerdict => ({
  tool: "order",
  status: "mismatch",
  action,
  expected: "sha256:old",
  actual: "sha256:new",
  shadow,
});
const check = (v: PinVerdict, onMismatch: PinCheck["onMismatch"] = "hide"): PinCheck => ({
  verdict: v,
  onMismatch,
});

describe("applyPinVerdict", () => {
  it("hide: denies with the changed-tool reason and rolls the reservation back", async () => {
    const d = decision();
    const out = await applyPinVerdict(d, check(mismatch("hide")));
    expect(out).toMatchObject({
      effect: "deny",
      code: "PIN_MISMATCH",
      ruleId: "pins",
      reason: "tool definition changed since it was approved",
    });
    expect(out.reservation).toBeUndefined();
    expect(out.limits).toBeUndefined();
    expect(d.rolledBack()).toBe(1);
  });

  it("a policy denial stands as it is (nothing to roll back twice)", async () => {
    const d = decision({ effect: "deny", code: "RATE_LIMITED", reservation: undefined });
    expect(await applyPinVerdict(d, check(mismatch("hide")))).toBe(d);
  });

  it("approval: holds an allowed call keeping its reservation; a held one says why too", async () => {
    const d = decision();
    const out = await applyPinVerdict(d, check(mismatch("approval"), "approval"));
    expect(out).toMatchObject({ effect: "require_approval", code: "PIN_MISMATCH" });
    expect(out.reservation).toBe(d.reservation);
    expect(d.rolledBack()).toBe(0);
    const held = decision({ effect: "require_approval", code: "APPROVAL_REQUIRED", reason: "big" });
    expect((await applyPinVerdict(held, check(mismatch("approval"), "approval"))).reason).toBe(
      "tool definition changed since it was approved; big",
    );
  });

  it("shadow: the decision is kept and records what enforcing would have done", async () => {
    const d = decision();
    const hide = await applyPinVerdict(d, check(mismatch("report", true), "hide"));
    expect(hide).toMatchObject({
      effect: "allow",
      shadow: { effect: "deny", code: "PIN_MISMATCH" },
    });
    const hold = await applyPinVerdict(d, check(mismatch("report", true), "approval"));
    expect(hold.shadow?.effect).toBe("require_approval");
    // on_mismatch: allow is a report, not shadow: nothing would have been different.
    expect(await applyPinVerdict(d, check(mismatch("report"), "allow"))).toBe(d);
  });

  it("matching, unpinned and trusted definitions change nothing and report nothing", async () => {
    const d = decision();
    for (const status of ["match", "unpinned", "trusted"] as const) {
      const v: PinVerdict = {
        tool: "order",
        status,
        action: "show",
        actual: "sha256:x",
        shadow: false,
      };
      expect(await applyPinVerdict(d, check(v))).toBe(d);
      expect(pinFacts(check(v))).toBeUndefined();
    }
    expect(pinFacts(check(mismatch("hide")))).toEqual({
      expected: "sha256:old",
      actual: "sha256:new",
      action: "hide",
      shadow: false,
    });
  });
});
