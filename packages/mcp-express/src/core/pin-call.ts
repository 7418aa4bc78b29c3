/**
 * A call to a tool whose definition no longer matches its pin: the policy's decision is
 * turned into a denial (`hide`) or a hold for approval (`approval`), or marked as what
 * would have happened (`pins.mode: shadow` or `on_mismatch: allow`). Pure apart from
 * rolling back the reservation of a call that is now denied.
 */
import { type Decision, PIN_MISMATCH_REASON, type PinVerdict } from "../engine.js";

/** The pin facts an audit record of the call carries (digests only). */
export interface PinFacts {
  readonly expected?: string | undefined;
  readonly actual: string;
  readonly action: PinVerdict["action"];
  readonly shadow: boolean;
}

/** A tool's pin verdict and what the policy does on a mismatch (for shadow reports). */
export interface PinCheck {
  readonly verdict: PinVerdict;
  readonly onMismatch: "hide" | "approval" | "allow";
}

/** The pin facts of a verdict worth reporting (a mismatch), else undefined. */
export function pinFacts(check: PinCheck | undefined): PinFacts | undefined {
  const v = check?.verdict;
  if (v?.status !== "mismatch") return undefined;
  return { expected: v.expected, actual: v.actual, action: v.action, shadow: v.shadow };
}

/**
 * The decision to enforce for a call under the tool's pin verdict. A policy denial
 * stands as it is (it was denied anyway); otherwise `hide` denies with the changed-tool
 * reason (rolling back what the decision reserved), `approval` holds an allowed call
 * (keeping its reservation, like any held call), and a report (shadow, `allow`) keeps
 * the decision and records what would have happened in `shadow`.
 */
export async function applyPinVerdict(d: Decision, check: PinCheck | undefined): Promise<Decision> {
  const v = check?.verdict;
  if (v?.status !== "mismatch" || d.effect === "deny") return d;
  const base = { code: "PIN_MISMATCH" as const, ruleId: "pins" };
  if (v.action === "hide") {
    await d.reservation?.rollback();
    const { reservation: _r, limits: _l, retryAfterMs: _a, shadow: _s, ...rest } = d;
    return { ...rest, ...base, effect: "deny", reason: PIN_MISMATCH_REASON };
  }
  if (v.action === "approval") {
    if (d.effect === "require_approval")
      return { ...d, reason: `${PIN_MISMATCH_REASON}; ${d.reason}` };
    return {
      ...d,
      ...base,
      effect: "require_approval",
      reason: `${PIN_MISMATCH_REASON}; a person must approve the call`,
    };
  }
  if (!v.shadow || d.shadow !== undefined) return d;
  // Shadow: what enforcing would have done, for the audit log and the feed.
  const held = check!.onMismatch === "approval";
  return {
    ...d,
    shadow: { ...base, effect: held ? "require_approval" : "deny", reason: PIN_MISMATCH_REASON },
  };
}
