import type { ApprovalRequest } from "@toolgate/mcp-express";
import { maskForApprover } from "../mask.js";
import type { ApprovalRecord, ApprovalRule } from "./store.js";

/**
 * The held call the approver receives: mcp-express's {@link ApprovalRequest}, of whose
 * decision it reads only the reason and rule (and `grantSessions` defaults to 1), so a
 * test or another front end can hold a call without building a whole decision.
 */
export type HeldCall = Omit<ApprovalRequest, "decision" | "grantSessions"> & {
  readonly decision: Pick<ApprovalRequest["decision"], "reason" | "ruleId" | "approval">;
  readonly grantSessions?: ApprovalRequest["grantSessions"];
};

/** The rule a held call is stored with: the policy's approval rule, or one approver. */
function ruleOf(call: HeldCall): ApprovalRule {
  const a = call.decision.approval;
  if (a === undefined) return { ruleId: call.decision.ruleId, approvers: 1 };
  return {
    ruleId: a.ruleId,
    approvers: a.approvers,
    from: a.from,
    reasonRequired: a.reasonRequired || undefined,
  };
}

/**
 * The record stored for a held call: what will be forwarded, with secrets masked, and
 * the rule it needs. `timeoutMs` is its lifetime.
 */
export function pendingRecord(
  call: HeldCall,
  secretPaths: readonly string[],
  createdAt: number,
  timeoutMs: number,
  mode: "wait" | "retry" = "wait",
): ApprovalRecord {
  const shown = maskForApprover(call.arguments, secretPaths);
  return {
    subject: call.subject,
    rule: ruleOf(call),
    mode: mode === "retry" ? "retry" : undefined,
    id: call.id,
    grant: call.grant,
    session: call.session,
    tool: call.tool,
    upstream: call.upstream,
    arguments: shown.arguments,
    masked: shown.masked.length > 0 ? [...shown.masked] : undefined,
    argumentsDigest: call.argumentsDigest,
    reason: call.decision.reason,
    ruleId: call.decision.ruleId,
    createdAt,
    expiresAt: createdAt + timeoutMs,
    status: "pending",
  };
}
