/**
 * Who may decide which held call, and recording a decision. The one place every path to a
 * decision (approvals page, admin API by token or OAuth) goes through, so the rules
 * (scope, `from`, reason, no self-approval) cannot be skipped by choosing another door.
 */
import { GatewayError } from "../errors.js";
import type { ResolvedApprover } from "./approvers-config.js";
import type { ApprovalLifecycle } from "./events.js";
import type { ApprovalRecord, ApprovalStore, DecideResult } from "./store.js";

/** An authenticated approver. `admin` (the admin token) only when no approvers are configured. */
export type Approver = Pick<
  ResolvedApprover,
  "name" | "roles" | "grants" | "tools" | "policies" | "actsAs" | "oauthSubject"
>;

/** The admin token as the one approver of a gateway that configures none. */
export const ADMIN_APPROVER: Approver = {
  name: "admin",
  roles: [],
  grants: [/^.*$/],
  tools: [/^.*$/],
  policies: undefined,
  actsAs: new Set(),
  oauthSubject: undefined,
};

/** Is `approver` the party (or acting for the party) that made the call? */
export function isSelf(approver: Approver, r: ApprovalRecord): boolean {
  if (approver.actsAs.has(r.grant)) return true;
  const sub = approver.oauthSubject;
  // Under OAuth the grant is the token's grant claim (often `sub`), so compare both.
  return sub !== undefined && (r.subject === sub || r.grant === sub);
}

/**
 * Why `approver` may not take `decision` on `r`, or undefined when it may. A rejection by
 * the calling party is allowed (as a caller may withdraw its own call); an approval never.
 */
export function refusal(
  approver: Approver,
  r: ApprovalRecord,
  decision: "approve" | "reject",
  policyOf: (grant: string) => string | undefined,
): string | undefined {
  if (decision === "approve" && isSelf(approver, r))
    return `${approver.name} acts for grant ${r.grant}, which made this call: nobody approves their own call`;
  if (!approver.grants.some((re) => re.test(r.grant)))
    return `${approver.name} may not decide calls of grant ${r.grant}`;
  if (!approver.tools.some((re) => re.test(r.tool)))
    return `${approver.name} may not decide calls of ${r.tool}`;
  const policy = policyOf(r.grant);
  if (approver.policies !== undefined && (policy === undefined || !approver.policies.has(policy)))
    return `${approver.name} may not decide calls under the policy of grant ${r.grant}`;
  const from = r.rule?.from;
  if (
    from !== undefined &&
    !from.includes(approver.name) &&
    !approver.roles.some((x) => from.includes(x))
  )
    return `this call needs an approver from ${from.join(", ")} (${r.rule?.ruleId})`;
  return undefined;
}

/** What a refused or failed decision answers (HTTP status and a stable error code). */
export class DecisionRefused extends Error {
  constructor(
    readonly status: 400 | 403 | 409,
    readonly code: string,
    message: string,
    readonly approval?: ApprovalRecord,
  ) {
    super(message);
  }
}

/** What {@link decideApproval} needs. */
export interface DecideDeps {
  readonly store: ApprovalStore;
  readonly lifecycle: ApprovalLifecycle;
  /** The policy file of a grant (for approvers limited to `policies`). */
  readonly policyOf: (grant: string) => string | undefined;
  readonly now: () => number;
}

const REFUSED: Partial<Record<DecideResult, [string, string]>> = {
  not_pending: ["already_resolved", "is already"],
  expired: ["expired", "has expired"],
  already_decided: ["already_decided", "already has your decision"],
};

/**
 * Records `approver`'s decision on approval `id` after checking they may take it.
 * Resolves with the record after the decision; throws {@link DecisionRefused} (403 not
 * allowed, 400 reason missing, 409 no longer open or already decided by them) or
 * `APPROVAL_NOT_FOUND`.
 */
export async function decideApproval(
  deps: DecideDeps,
  approver: Approver,
  id: string,
  decision: "approve" | "reject",
  reason: string | undefined,
): Promise<{ approval: ApprovalRecord; result: DecideResult }> {
  const record = await deps.store.get(id);
  if (!record) throw new GatewayError("APPROVAL_NOT_FOUND", `no approval with id ${id}`);
  const why = refusal(approver, record, decision, deps.policyOf);
  if (why !== undefined) throw new DecisionRefused(403, "not_allowed", why);
  if (record.rule?.reasonRequired === true && !reason?.trim())
    throw new DecisionRefused(
      400,
      "reason_required",
      "this approval needs a reason with every decision",
    );
  const at = deps.now();
  const { result, approval } = await deps.store.decide(id, {
    approver: approver.name,
    decision,
    reason: reason?.trim() || undefined,
    at,
  });
  const refused = REFUSED[result];
  if (refused !== undefined) {
    if (result === "expired") await expire(deps, approval);
    const state = result === "not_pending" ? ` ${approval.status}` : "";
    throw new DecisionRefused(409, refused[0], `approval ${id} ${refused[1]}${state}`, approval);
  }
  const last = approval.decisions?.[approval.decisions.length - 1];
  deps.lifecycle.emit({
    type: "approval.decided",
    approval,
    decision: last,
    final: result !== "recorded",
    at,
  });
  return { approval, result };
}

/** Marks an expired approval as timed out (once, across instances) and announces it. */
export async function expire(
  deps: Pick<DecideDeps, "store" | "now"> & { readonly lifecycle?: ApprovalLifecycle | undefined },
  r: ApprovalRecord,
): Promise<ApprovalRecord> {
  const at = deps.now();
  const { approval, changed } = await deps.store.resolve(r.id, {
    status: "timeout",
    by: "timeout",
    reason: `nobody approved it before it expired at ${new Date(r.expiresAt).toISOString()}`,
    at,
  });
  if (changed) deps.lifecycle?.emit({ type: "approval.expired", approval, at });
  return approval;
}
