import type { ElicitAnswer, ElicitSchema, Scheduler } from "@toolgate/mcp-express";
import { maskForApprover } from "../mask.js";
import type { ApprovalRecord, ApprovalStore } from "./store.js";

/** The part of mcp-express's ApprovalRequest the approver needs. */
export interface HeldCall {
  readonly id: string;
  readonly grant: string;
  readonly session?: string | undefined;
  readonly tool: string;
  readonly upstream: string;
  readonly arguments: Record<string, unknown>;
  readonly argumentsDigest: string;
  readonly decision: { readonly reason: string; readonly ruleId: string };
  readonly signal: AbortSignal;
  /** Asks the *caller* (the party being controlled) through MCP elicitation. */
  readonly elicit?: (message: string, schema: ElicitSchema) => Promise<ElicitAnswer>;
  /** Open sessions of the grant when the call was held (default 1). */
  readonly grantSessions?: number;
}

/** What the approver resolves to; the shape mcp-express's `approve` option expects. */
export interface HeldCallOutcome {
  readonly outcome: "approved" | "rejected" | "timeout";
  readonly reason?: string | undefined;
  readonly by?: string | undefined;
}

/** A setTimeout/clearTimeout pair, injectable so tests drive time (mcp-express's seam). */
export type { Scheduler } from "@toolgate/mcp-express";

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
  const timeoutMs = options.timeoutMs ?? 55_000;
  const timeoutS = Math.round(timeoutMs / 1000);
  const now = options.now ?? Date.now;
  const scheduler: Scheduler = options.scheduler ?? {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  };
  const waiters = new Map<string, (record: ApprovalRecord) => void>();
  store.subscribe((event) => {
    if (event.type === "resolved") waiters.get(event.approval.id)?.(event.approval);
  });

  const toOutcome = (r: ApprovalRecord): HeldCallOutcome => {
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
  };

  /**
   * Tells the caller its call is held. By default the only thing it can do is withdraw
   * the call: the caller is the party being controlled, so its answer is never an
   * approval. With `callerMayApprove` (single-user setups) and a grant no other session
   * shares, it may approve or decline instead.
   */
  const askCaller = (
    call: HeldCall,
    elicit: NonNullable<HeldCall["elicit"]>,
    args: string,
    resolveAs: (s: "approved" | "rejected", by: string, reason?: string) => Promise<void>,
  ): void => {
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
  };

  return async function approve(call: HeldCall): Promise<HeldCallOutcome> {
    const createdAt = now();
    const shown = maskForApprover(call.arguments, options.secretPaths?.(call) ?? []);
    const record: ApprovalRecord = {
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
        askCaller(call, call.elicit, JSON.stringify(record.arguments), resolveAs);
      }
    } catch (err) {
      options.onError?.(err);
      finished = true;
      cleanUp();
      return { outcome: "rejected", reason: "the approval store is unavailable", by: "gateway" };
    }
    try {
      return toOutcome(await done);
    } finally {
      cleanUp();
    }
  };
}
