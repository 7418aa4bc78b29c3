import type { ApprovalOutcome, HeldOutcome } from "@toolgate/mcp-express";
import { realScheduler, type Scheduler } from "@toolgate/policy-engine";
import type { ApprovalLifecycle } from "./events.js";
import { type HeldCall, pendingRecord } from "./record.js";
import { retryApprover } from "./retry.js";
import type { ApprovalRecord, ApprovalStore } from "./store.js";

export type { HeldCall } from "./record.js";

/** What a waiting approval resolves to: approved, rejected or timed out, and by whom. */
export type HeldCallOutcome = Exclude<ApprovalOutcome, string | HeldOutcome>;

/** The timer seam (policy-engine's), injectable so tests drive time. */
export type { Scheduler } from "@toolgate/policy-engine";

/**
 * Longest hold of a call running as an MCP task (mcp-express's `taskApprovalTimeoutMs`
 * is derived from it with {@link approvalHoldCeilingMs}).
 */
export const MAX_TASK_HOLD_MS = 7 * 86_400_000;

/** Default time a held call waits for a person: below the MCP SDK client's 60 s timeout. */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 55_000;

/**
 * Extra time mcp-express waits beyond the approver's own timeout before it gives up on
 * the approval itself. The approver's timeout must fire first: it records "timeout" in
 * the shared store (so the approvals page on every instance shows it and a late approve
 * is refused as already resolved) and answers the caller with the gateway's own denial.
 * The margin covers a slow store write at that moment.
 */
const HOLD_CEILING_MARGIN_MS = 5_000;

/**
 * mcp-express's `approvalTimeoutMs` for an approver with `timeoutMs`: the one place the
 * two coupled timeouts are derived from each other.
 *
 * @example createToolgateMcp({ approve, approvalTimeoutMs: approvalHoldCeilingMs(55_000) })
 */
export function approvalHoldCeilingMs(timeoutMs: number): number {
  return timeoutMs + HOLD_CEILING_MARGIN_MS;
}

/** Options of {@link createApprover}. */
export interface ApproverOptions {
  readonly store: ApprovalStore;
  /** How long a call may wait before it is denied. Default 55 s (below the SDK client's 60 s). */
  readonly timeoutMs?: number;
  /**
   * Tell the caller through MCP elicitation (when its client supports it) that the call is
   * held, and let it withdraw the call. The caller can never approve through it unless
   * `callerMayApprove`. Default true.
   */
  readonly elicitation?: boolean;
  /**
   * Lets the caller approve its own held call through elicitation: only for a trusted
   * single-user desktop setup where the person at the client is the approver. Refused
   * (withdraw-only) whenever the grant has several open sessions. Default false.
   */
  readonly callerMayApprove?: boolean;
  /** Argument paths to mask for this call (policy `secret` and config), `args.<path>`. */
  readonly secretPaths?: (call: HeldCall) => readonly string[];
  /** Told when callerMayApprove is refused because the grant is shared. */
  readonly onWarn?: (msg: string, fields: Record<string, unknown>) => void;
  readonly now?: () => number;
  readonly scheduler?: Scheduler;
  /** Called when a waiter could not reach the store (counted in metrics, logged). */
  readonly onError?: (err: unknown) => void;
  /** Where requested / decided / expired events go (notifications, audit). */
  readonly lifecycle?: ApprovalLifecycle;
  /**
   * `wait` (default): the call waits for the decision. `retry`: it is answered at once
   * with the approval id, and an identical call after approval runs (once). A policy's
   * approval rule may choose per tool. Calls of stateless (MCP 2026) clients always use
   * retry (answered through MRTR); calls running as MCP tasks always wait.
   */
  readonly mode?: "wait" | "retry";
  /**
   * How long a retry-mode approval, or the hold of a call running as an MCP task, lives
   * when its rule sets no `expires`. Default 1 hour.
   */
  readonly retryExpiresMs?: number;
}

/** The caller-facing outcome of a resolved approval record. */
function toOutcome(r: ApprovalRecord, timeoutS: number): HeldCallOutcome {
  if (r.status === "approved") return { outcome: "approved", by: r.resolvedBy };
  if (r.status === "timeout") {
    return {
      outcome: "timeout",
      reason: r.resolution ?? `approval timed out after ${timeoutS} s`,
      by: r.resolvedBy,
    };
  }
  return {
    outcome: "rejected",
    reason: r.resolution ?? "rejected by an approver",
    by: r.resolvedBy,
  };
}

/**
 * Tells the caller its call is held. By default the only thing it can do is withdraw
 * the call: the caller is the party being controlled, so its answer is never an
 * approval. With `callerMayApprove` (single-user setups) and a grant no other session
 * shares, it may approve or decline instead.
 */
function askCaller(
  options: Pick<ApproverOptions, "callerMayApprove" | "onWarn">,
  call: HeldCall,
  elicit: NonNullable<HeldCall["elicit"]>,
  args: string,
  resolveAs: (s: "approved" | "rejected", by: string, reason?: string) => Promise<void>,
): void {
  const sessions = call.grantSessions ?? 1;
  let mayApprove = options.callerMayApprove === true;
  if (mayApprove && sessions > 1) {
    mayApprove = false;
    options.onWarn?.(
      "approvals.callerMayApprove refused: the grant is shared by several sessions; the caller may only withdraw",
      { grant: call.grant, sessions, tool: call.tool },
    );
  }
  const about = `a call to ${call.tool} (grant ${call.grant}) with arguments ${args}. Reason: ${call.decision.reason}.`;
  if (mayApprove) {
    elicit(`Toolgate holds ${about} Approve it?`, {
      type: "object",
      properties: { approve: { type: "boolean", title: "Approve this tool call" } },
      required: ["approve"],
    })
      .then((a) => {
        if (a === "unsupported") return undefined;
        if (a.action === "accept" && a.content.approve === true)
          return resolveAs("approved", "caller:elicitation");
        return resolveAs("rejected", "caller:declined", "the user declined the call");
      })
      .catch(() => {});
    return;
  }
  elicit(
    `Toolgate holds ${about} It runs only when an approver approves it on the approvals page. You may withdraw it.`,
    {
      type: "object",
      properties: { withdraw: { type: "boolean", title: "Withdraw this call" } },
      required: ["withdraw"],
    },
  )
    .then((a) => {
      // Only a withdrawal counts; anything else (an "approve" included) keeps it held.
      if (a !== "unsupported" && a.action === "accept" && a.content.withdraw === true)
        return resolveAs("rejected", "caller:withdrawn", "the caller withdrew the call");
      return undefined;
    })
    .catch(() => {});
}

/** What one held call's wait shares with the approver that created it. */
interface WaitContext {
  readonly options: ApproverOptions;
  readonly store: ApprovalStore;
  readonly now: () => number;
  readonly scheduler: Scheduler;
  readonly timeoutMs: number;
  /** Hold of a call that runs as an MCP task when its rule sets no `expires`. */
  readonly taskExpiresMs: number;
  readonly waiters: Map<string, (record: ApprovalRecord) => void>;
}

/** Tells the lifecycle listeners how a held call ended (when this instance ended it). */
function announceEnd(
  lifecycle: ApprovalLifecycle | undefined,
  approval: ApprovalRecord,
  at: number,
) {
  if (approval.status === "timeout") lifecycle?.emit({ type: "approval.expired", approval, at });
  else lifecycle?.emit({ type: "approval.decided", approval, final: true, at });
}

/** Holds one call in wait mode: stores it, then waits for the decision, timeout or abort. */
async function waitForApproval(ctx: WaitContext, call: HeldCall): Promise<HeldCallOutcome> {
  const { options, store, now, scheduler, waiters } = ctx;
  // A task waits as long as the approval may (nobody's request times out); a plain call
  // no longer than its client is likely to wait.
  const ruleMs = call.decision.approval?.expiresMs;
  const expiresMs = call.task
    ? Math.min(ruleMs ?? ctx.taskExpiresMs, MAX_TASK_HOLD_MS)
    : Math.min(ctx.timeoutMs, ruleMs ?? ctx.timeoutMs);
  const timeoutS = Math.round(expiresMs / 1000);
  const record = pendingRecord(call, options.secretPaths?.(call) ?? [], now(), expiresMs);
  let settle!: (r: ApprovalRecord) => void;
  const done = new Promise<ApprovalRecord>((res) => {
    settle = res;
  });
  let finished = false;
  waiters.set(record.id, (r) => {
    if (!finished) {
      finished = true;
      settle(r);
    }
  });
  const resolveAs = async (
    status: "approved" | "rejected" | "timeout",
    by: string,
    reason?: string,
  ) => {
    try {
      const at = now();
      const { approval, changed } = await store.resolve(record.id, { status, by, reason, at });
      if (changed) announceEnd(options.lifecycle, approval, at);
      waiters.get(record.id)?.(approval);
    } catch (err) {
      options.onError?.(err);
      // The store is unreachable: decide locally so the client is not left hanging.
      waiters.get(record.id)?.({ ...record, status, resolvedBy: by, resolution: reason });
    }
  };
  const needed = record.rule?.approvers ?? 1;
  const timer = scheduler.setTimeout(() => {
    const what =
      needed > 1 ? `fewer than ${needed} approvers approved the call` : "no one approved the call";
    void resolveAs("timeout", "timeout", `${what} within ${timeoutS} s; it was denied`);
  }, expiresMs);
  const onAbort = () => {
    void resolveAs("rejected", "caller:cancelled", "the client cancelled the call or disconnected");
  };
  call.signal.addEventListener("abort", onAbort, { once: true });
  const cleanUp = () => {
    scheduler.clearTimeout(timer);
    waiters.delete(record.id);
    call.signal.removeEventListener("abort", onAbort);
  };
  try {
    await store.create(record);
    options.lifecycle?.emit({ type: "approval.requested", approval: record, at: record.createdAt });
    if (call.signal.aborted) onAbort();
    if (options.elicitation !== false && call.elicit) {
      askCaller(options, call, call.elicit, JSON.stringify(record.arguments), resolveAs);
    }
  } catch (err) {
    options.onError?.(err);
    finished = true;
    cleanUp();
    return { outcome: "rejected", reason: "the approval store is unavailable", by: "gateway" };
  }
  try {
    return toOutcome(await done, timeoutS);
  } finally {
    cleanUp();
  }
}

/**
 * Builds the `approve` callback for `createToolgateMcp`: it records the held call in the
 * approval store, then waits until approvers decide it (admin page/API on any instance
 * sharing the store), the timeout denies it, or the client goes away; or, in retry mode,
 * answers at once and lets an identical later call consume the approval (see retry.ts).
 * Every change goes through the store's single-use operations: when a timeout and an
 * approve race, exactly one wins and both sides agree on which.
 *
 * @example
 * const approve = createApprover({ store: createMemoryApprovalStore(), timeoutMs: 60_000 });
 * createToolgateMcp({ ..., approve });
 */
export function createApprover(options: ApproverOptions) {
  const { store } = options;
  const ctx: WaitContext = {
    options,
    store,
    now: options.now ?? Date.now,
    scheduler: options.scheduler ?? realScheduler,
    timeoutMs: options.timeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS,
    taskExpiresMs: options.retryExpiresMs ?? 3_600_000,
    waiters: new Map(),
  };
  store.subscribe((event) => {
    if (event.type === "resolved") ctx.waiters.get(event.approval.id)?.(event.approval);
  });
  const retry = retryApprover({
    store,
    now: ctx.now,
    expiresMs: options.retryExpiresMs ?? 3_600_000,
    lifecycle: options.lifecycle,
    secretPaths: options.secretPaths,
    onError: options.onError,
  });
  return async function approve(call: HeldCall): Promise<HeldCallOutcome | HeldOutcome> {
    // A task is itself the hold the client comes back to: it always waits. A stateless
    // (2026) client comes back through MRTR with a sealed state: it never waits.
    const mode = call.task
      ? "wait"
      : call.stateless
        ? "retry"
        : (call.decision.approval?.mode ?? options.mode ?? "wait");
    return mode === "retry" ? retry(call) : waitForApproval(ctx, call);
  };
}
