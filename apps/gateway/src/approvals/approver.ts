import type { ApprovalOutcome, ApprovalRequest } from "@toolgate/mcp-express";
import { realScheduler, type Scheduler } from "@toolgate/policy-engine";
import { maskForApprover } from "../mask.js";
import type { ApprovalRecord, ApprovalStore } from "./store.js";

/**
 * The held call the approver receives: mcp-express's {@link ApprovalRequest}, of whose
 * decision it reads only the reason and rule (and `grantSessions` defaults to 1), so a
 * test or another front end can hold a call without building a whole decision.
 */
export type HeldCall = Omit<ApprovalRequest, "decision" | "grantSessions"> & {
  readonly decision: Pick<ApprovalRequest["decision"], "reason" | "ruleId">;
  readonly grantSessions?: ApprovalRequest["grantSessions"];
};

/** What the approver resolves to: the object form of mcp-express's {@link ApprovalOutcome}. */
export type HeldCallOutcome = Exclude<ApprovalOutcome, string>;

/** The timer seam (policy-engine's), injectable so tests drive time. */
export type { Scheduler } from "@toolgate/policy-engine";

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
}

/** The record stored for a held call: what will be forwarded, with secrets masked. */
function pendingRecord(
  call: HeldCall,
  secretPaths: readonly string[],
  createdAt: number,
  timeoutMs: number,
): ApprovalRecord {
  const shown = maskForApprover(call.arguments, secretPaths);
  return {
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

/**
 * Builds the `approve` callback for `createToolgateMcp`: it records the held call in the
 * approval store, then waits until a person resolves it (admin page/API on any instance
 * sharing the store, or MCP elicitation), the timeout denies it, or the client goes away.
 * Resolution goes through `store.resolve`, which is single use: when a timeout and an
 * approve race, exactly one wins and both sides agree on which.
 *
 * @example
 * const approve = createApprover({ store: createMemoryApprovalStore(), timeoutMs: 60_000 });
 * createToolgateMcp({ ..., approve });
 */
export function createApprover(options: ApproverOptions) {
  const { store } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
  const timeoutS = Math.round(timeoutMs / 1000);
  const now = options.now ?? Date.now;
  const scheduler: Scheduler = options.scheduler ?? realScheduler;
  const waiters = new Map<string, (record: ApprovalRecord) => void>();
  store.subscribe((event) => {
    if (event.type === "resolved") waiters.get(event.approval.id)?.(event.approval);
  });

  return async function approve(call: HeldCall): Promise<HeldCallOutcome> {
    const record = pendingRecord(call, options.secretPaths?.(call) ?? [], now(), timeoutMs);

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
        const { approval } = await store.resolve(record.id, { status, by, reason, at: now() });
        waiters.get(record.id)?.(approval);
      } catch (err) {
        options.onError?.(err);
        // The store is unreachable: decide locally so the client is not left hanging.
        waiters.get(record.id)?.({ ...record, status, resolvedBy: by, resolution: reason });
      }
    };

    const timer = scheduler.setTimeout(() => {
      void resolveAs(
        "timeout",
        "timeout",
        `no one approved the call within ${timeoutS} s; it was denied`,
      );
    }, timeoutMs);
    const onAbort = () => {
      void resolveAs(
        "rejected",
        "caller:cancelled",
        "the client cancelled the call or disconnected",
      );
    };
    call.signal.addEventListener("abort", onAbort, { once: true });
    const cleanUp = () => {
      scheduler.clearTimeout(timer);
      waiters.delete(record.id);
      call.signal.removeEventListener("abort", onAbort);
    };

    try {
      await store.create(record);
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
  };
}
