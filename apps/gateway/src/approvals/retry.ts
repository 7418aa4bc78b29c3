/**
 * Retry mode: a held call is answered at once ("held for approval as apr_…; call again
 * with the same arguments after it is approved") and stored under a binding of grant,
 * tool and argument digest. A later identical call finds it: approved, it is consumed
 * exactly once (atomically in the store, so across instances too) and the call runs;
 * pending, the caller is told it still waits; rejected or expired, the caller is told so
 * once and the next identical call asks anew. Holds thereby outlive the client's request
 * timeout, which a waiting call cannot.
 */
import type { HeldOutcome } from "@toolgate/mcp-express";
import { sha256Hex } from "../mask.js";
import type { HeldCallOutcome } from "./approver.js";
import { expire } from "./decide.js";
import type { ApprovalLifecycle } from "./events.js";
import { type HeldCall, pendingRecord } from "./record.js";
import type { ApprovalRecord, ApprovalStore } from "./store.js";

/** What {@link retryApprover} needs. */
export interface RetryDeps {
  readonly store: ApprovalStore;
  readonly now: () => number;
  /** Lifetime of an approval whose rule sets no `expires`. */
  readonly expiresMs: number;
  readonly lifecycle?: ApprovalLifecycle | undefined;
  readonly secretPaths?: ((call: HeldCall) => readonly string[]) | undefined;
  readonly onError?: ((err: unknown) => void) | undefined;
}

/**
 * The key identical calls share: same grant, same caller (OAuth subject: several users
 * may share one grant), same tool, same argument digest.
 */
export function bindingOf(
  grant: string,
  subject: string | undefined,
  tool: string,
  digest: string,
): string {
  return sha256Hex(JSON.stringify([grant, subject ?? null, tool, digest]));
}

const iso = (t: number) => new Date(t).toISOString();

/** The answer for a call that is (still) held; `stateless`: a 2026 client retrying by MRTR. */
function held(r: ApprovalRecord, again: boolean, stateless = false): HeldOutcome {
  const needed = r.rule?.approvers ?? 1;
  const got = (r.decisions ?? []).filter((d) => d.decision === "approve").length;
  const what = again ? "is still waiting for approval" : "is held for approval";
  if (stateless) {
    const more = Math.max(1, needed - got);
    return {
      outcome: "held",
      approvalId: r.id,
      expiresAt: r.expiresAt,
      message:
        `This call to ${r.tool} did not run yet: it ${what} as ${r.id}, ` +
        `${more} more approval${more > 1 ? "s" : ""} needed, expires at ${iso(r.expiresAt)}. ` +
        "Send the request again with this requestState to learn the outcome; it runs once approved.",
    };
  }
  const progress = needed > 1 ? ` (${got} of ${needed} approvals so far)` : "";
  return {
    outcome: "held",
    approvalId: r.id,
    expiresAt: r.expiresAt,
    message:
      `This call to ${r.tool} did not run: it ${what} as ${r.id}${progress}. ` +
      `Call ${r.tool} again with exactly the same arguments after it is approved; ` +
      `the approval expires at ${iso(r.expiresAt)}.`,
  };
}

/**
 * What a 2026 retry gets for the approval its sealed state names. The state was bound
 * to this call and spent before it got here; the record's own binding is checked again
 * (defence in depth: an id never reaches a call it was not issued for). It ends the
 * flow in every case but `pending`: approved runs once, anything else is a denial.
 */
async function fromResumed(
  deps: RetryDeps,
  id: string,
  binding: string,
  at: number,
): Promise<HeldCallOutcome | HeldOutcome> {
  const r = await deps.store.get(id);
  if (!r || r.binding !== binding) {
    return { outcome: "rejected", reason: `${id} is not an approval of this call`, by: "gateway" };
  }
  if (r.status === "approved") {
    if (await deps.store.consume(r.id, at)) return { outcome: "approved", by: r.resolvedBy };
    const why = r.consumedAt !== undefined ? "was already used" : `expired at ${iso(r.expiresAt)}`;
    return { outcome: "rejected", reason: `${id} ${why}`, by: "gateway" };
  }
  if (r.status === "pending" && r.expiresAt > at) return held(r, true, true);
  return (await fromExisting(deps, r, at)) ?? { outcome: "rejected", reason: id, by: "gateway" };
}

/**
 * What an identical call gets from the record already bound to it, or undefined when a
 * new approval must be asked for (the old one was used, or lapsed after approval).
 */
async function fromExisting(
  deps: RetryDeps,
  r: ApprovalRecord,
  at: number,
  stateless = false,
): Promise<HeldCallOutcome | HeldOutcome | undefined> {
  const { store } = deps;
  if (r.status === "approved") {
    if (await store.consume(r.id, at)) return { outcome: "approved", by: r.resolvedBy };
    return undefined;
  }
  if (r.status === "pending" && r.expiresAt > at) return held(r, true, stateless);
  // Rejected or expired: say so once; the next identical call asks anew.
  await store.clearBinding(r.binding ?? "", r.id);
  if (r.status === "rejected")
    return {
      outcome: "rejected",
      reason: `${r.id} was rejected: ${r.resolution ?? "rejected by an approver"}`,
      by: r.resolvedBy,
    };
  const lapsed = r.status === "pending" ? await expire(deps, r) : r;
  return {
    outcome: "timeout",
    reason: `${r.id} expired at ${iso(r.expiresAt)} without approval; call again to ask anew`,
    by: lapsed.resolvedBy ?? "timeout",
  };
}

/**
 * The retry-mode approval hook: never waits for a person.
 *
 * @example
 * const approve = retryApprover({ store, now: Date.now, expiresMs: 3_600_000 });
 */
export function retryApprover(deps: RetryDeps) {
  return async function approveByRetry(call: HeldCall): Promise<HeldCallOutcome | HeldOutcome> {
    try {
      const at = deps.now();
      const binding = bindingOf(call.grant, call.subject, call.tool, call.argumentsDigest);
      if (call.resume !== undefined) return await fromResumed(deps, call.resume, binding, at);
      const existing = await deps.store.findByBinding(binding);
      const answer = existing && (await fromExisting(deps, existing, at, call.stateless === true));
      if (answer !== undefined) return answer;
      const lifetime = call.decision.approval?.expiresMs ?? deps.expiresMs;
      const record: ApprovalRecord = {
        ...pendingRecord(call, deps.secretPaths?.(call) ?? [], at, lifetime, "retry"),
        binding,
      };
      await deps.store.create(record);
      deps.lifecycle?.emit({ type: "approval.requested", approval: record, at });
      return held(record, false, call.stateless === true);
    } catch (err) {
      deps.onError?.(err);
      return { outcome: "rejected", reason: "the approval store is unavailable", by: "gateway" };
    }
  };
}

/**
 * Marks pending approvals whose time is up as expired (once across instances) and
 * announces each: retry-mode ones at their expiry (nobody waits on them), waiting ones a
 * minute later (their holder's own timer should have fired; its instance may be gone).
 * The gateway runs it on a timer; tests call it with their clock.
 */
export async function sweepExpired(
  deps: Pick<RetryDeps, "store" | "now"> & { readonly lifecycle?: ApprovalLifecycle | undefined },
): Promise<number> {
  const at = deps.now();
  let n = 0;
  for (const r of await deps.store.listPending()) {
    const due = r.mode === "retry" ? r.expiresAt : r.expiresAt + 60_000;
    if (due > at) continue;
    const after = await expire(deps, r);
    if (after.resolvedAt === at) n++;
  }
  return n;
}
