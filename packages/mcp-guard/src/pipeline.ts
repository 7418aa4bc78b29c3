import { createHash } from "node:crypto";
import type {
  CompiledPolicy,
  Decision,
  Identity,
  PolicyEngine,
  PolicyHolder,
} from "@toolgate/policy-engine";

/**
 * The tool-call pipeline without any transport: decide -> [approve] -> forward -> settle
 * -> emit. It knows nothing of an SDK, HTTP or sessions, so the same function can sit
 * behind an in-place guard, a proxy or a test. Everything it needs comes in `deps`.
 */

/** What the approval hook receives for a `require_approval` call. */
export interface ApprovalRequest {
  /** Unique approval id. */
  readonly id: string;
  readonly grant: string;
  readonly session?: string | undefined;
  readonly tool: string;
  /** Full values: an approval UI masks secrets itself. */
  readonly arguments: Readonly<Record<string, unknown>>;
  /** `sha256:<hex>` of the canonical JSON of the arguments; bind an approval to it. */
  readonly argumentsDigest: string;
  readonly decision: Omit<Decision, "reservation">;
  /** Aborted when the client cancels the call or the approval times out. */
  readonly signal: AbortSignal;
}

/** What the approval hook answers; a thrown error counts as `rejected`. */
export type ApprovalOutcome =
  | "approved"
  | "rejected"
  | "timeout"
  | { readonly outcome: "approved" | "rejected" | "timeout"; readonly reason?: string };

/** What became of one call, as reported to `onDecision`. */
export type CallOutcome =
  /** The handler ran and returned a result (`isError` results too; see `rolledBack`). */
  | "forwarded"
  /** The handler threw. */
  | "handler_error"
  /** Refused by policy, rate limits included. */
  | "denied"
  | "approval_rejected"
  | "approval_timeout"
  /** `identify` returned nothing: no decision was made. */
  | "unidentified";

/** `onDecision` payload: argument keys and a digest, never argument values. */
export interface DecisionEvent {
  /** Absent only for `unidentified`. */
  readonly decision?: Omit<Decision, "reservation"> | undefined;
  readonly grant?: string | undefined;
  readonly session?: string | undefined;
  readonly tool: string;
  readonly argumentKeys: readonly string[];
  readonly argumentsDigest: string;
  readonly outcome: CallOutcome;
  /** True when reserved counters were given back (failed call, refused approval). */
  readonly rolledBack: boolean;
  /** Time the handler took, ms. */
  readonly handlerMs?: number | undefined;
  readonly at: number;
}

/** A policy source: a holder (hot reload), a compiled policy, or one per grant. */
export type PolicySource =
  | PolicyHolder
  | CompiledPolicy
  | ((grant: string) => PolicyHolder | CompiledPolicy | undefined);

/** setTimeout/clearTimeout seam so approval timeouts run under fake time in tests. */
export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** A `CallToolResult` as far as the pipeline cares. */
export interface ToolResultLike {
  readonly isError?: boolean | undefined;
  readonly [key: string]: unknown;
}

/** Everything the pipeline uses, passed in explicitly. */
export interface PipelineDeps {
  readonly engine: PolicyEngine;
  readonly policyFor: (grant: string) => CompiledPolicy | undefined;
  readonly approve?: ((req: ApprovalRequest) => Promise<ApprovalOutcome>) | undefined;
  readonly approvalTimeoutMs: number;
  readonly onDecision?: ((e: DecisionEvent) => void) | undefined;
  readonly now: () => number;
  readonly newId: () => string;
  readonly scheduler: Scheduler;
  /** Called with errors thrown by `onDecision` or a settle that failed; never rethrown. */
  readonly onInternalError: (err: unknown, where: string) => void;
}

/** One call as it arrived: already checked to be a string name and an object (or no) arguments. */
export interface PipelineCall {
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>> | undefined;
  readonly identity: Identity | undefined;
  /** The client's cancellation of this request, if the transport has one. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Resolves a policy source to a lookup by grant; holders are read per call so a reload
 * applies to the next call.
 */
export function policyLookup(source: PolicySource): (grant: string) => CompiledPolicy | undefined {
  const read = (p: PolicyHolder | CompiledPolicy | undefined): CompiledPolicy | undefined =>
    p === undefined ? undefined : "current" in p ? p.current : p;
  if (typeof source === "function") return (grant) => read(source(grant));
  return () => read(source);
}

/**
 * Canonical JSON (sorted keys, `undefined` members dropped), so a digest does not depend
 * on how a client happened to order its keys.
 */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k];
    if (v !== undefined) parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(",")}}`;
}

/** `sha256:<hex>` of the canonical JSON of a call's arguments. */
export function argumentsDigest(args: Readonly<Record<string, unknown>> | undefined): string {
  return `sha256:${createHash("sha256")
    .update(canonicalJson(args ?? {}))
    .digest("hex")}`;
}

/** The decision as it may leave the process: the reservation handle stripped. */
function publicDecision(d: Decision): Omit<Decision, "reservation"> {
  const { reservation: _r, ...rest } = d;
  return rest;
}

/**
 * A refused call as the model should see it: a normal `CallToolResult` with `isError`,
 * a text that says why (and when to retry), and the decision in `_meta`.
 */
export function deniedResult(decision: Decision, why: string = decision.reason): ToolResultLike {
  let text = `denied by policy: ${why}`;
  // The engine's rate-limit reason already says when to retry; add it only when missing.
  if (decision.retryAfterMs !== undefined && !/retry/i.test(why))
    text += `; retry after ${Math.max(1, Math.ceil(decision.retryAfterMs / 1000))}s`;
  return {
    isError: true,
    content: [{ type: "text", text }],
    _meta: { "toolgate/decision": publicDecision(decision) },
  };
}

/** The result for a caller `identify` did not recognise: nothing was decided. */
function unidentifiedResult(): ToolResultLike {
  return {
    isError: true,
    content: [{ type: "text", text: "denied: the caller could not be identified" }],
    _meta: { "toolgate/decision": { effect: "deny", code: "UNIDENTIFIED" } },
  };
}

function normalizeOutcome(o: ApprovalOutcome): {
  outcome: "approved" | "rejected" | "timeout";
  reason?: string | undefined;
} {
  return typeof o === "string" ? { outcome: o } : o;
}

/**
 * Waits for the approval hook, bounded by `approvalTimeoutMs` and the client's own
 * cancellation. Anything but an explicit `approved` is a refusal.
 */
async function awaitApproval(
  deps: PipelineDeps,
  call: PipelineCall,
  identity: Identity,
  decision: Decision,
): Promise<{ outcome: "approved" | "rejected" | "timeout"; reason?: string | undefined }> {
  const approve = deps.approve;
  if (approve === undefined) return { outcome: "rejected", reason: "no approver configured" };
  const ac = new AbortController();
  const onClientAbort = () => ac.abort(call.signal?.reason);
  call.signal?.addEventListener("abort", onClientAbort, { once: true });
  let timer: unknown;
  const timeout = new Promise<{ outcome: "timeout" }>((resolve) => {
    timer = deps.scheduler.setTimeout(() => {
      ac.abort(new Error("approval timed out"));
      resolve({ outcome: "timeout" });
    }, deps.approvalTimeoutMs);
  });
  const cancelled = new Promise<{ outcome: "rejected"; reason: string }>((resolve) => {
    if (call.signal?.aborted) resolve({ outcome: "rejected", reason: "the client cancelled" });
    call.signal?.addEventListener(
      "abort",
      () => resolve({ outcome: "rejected", reason: "the client cancelled" }),
      { once: true },
    );
  });
  const args = call.arguments ?? {};
  const asked = Promise.resolve()
    .then(() =>
      approve({
        id: deps.newId(),
        grant: identity.grant,
        session: identity.session,
        tool: call.name,
        arguments: args,
        argumentsDigest: argumentsDigest(args),
        decision: publicDecision(decision),
        signal: ac.signal,
      }),
    )
    .then(normalizeOutcome, () => ({
      outcome: "rejected" as const,
      reason: "the approver failed",
    }));
  try {
    return await Promise.race([asked, timeout, cancelled]);
  } finally {
    deps.scheduler.clearTimeout(timer);
    call.signal?.removeEventListener("abort", onClientAbort);
  }
}

/**
 * Runs one tool call through the policy: decide, hold for approval when the policy asks,
 * run `forward` (the real handler) only when admitted, then commit the reserved counters
 * on success or roll them back when the handler threw or answered `isError`.
 * Denials never reach `forward` and come back as {@link deniedResult}.
 *
 * @throws whatever `forward` throws (after rolling back), so the transport reports it as usual.
 */
export async function runToolCall<R extends ToolResultLike>(
  deps: PipelineDeps,
  call: PipelineCall,
  forward: () => Promise<R>,
): Promise<R | ToolResultLike> {
  const args = call.arguments;
  const digest = argumentsDigest(args);
  const argumentKeys = args === undefined ? [] : Object.keys(args);
  const emit = (e: Omit<DecisionEvent, "tool" | "argumentKeys" | "argumentsDigest" | "at">) => {
    if (deps.onDecision === undefined) return;
    try {
      deps.onDecision({
        ...e,
        tool: call.name,
        argumentKeys,
        argumentsDigest: digest,
        at: deps.now(),
      });
    } catch (err) {
      deps.onInternalError(err, "onDecision");
    }
  };
  const identity = call.identity;
  const policy = identity === undefined ? undefined : deps.policyFor(identity.grant);
  if (identity === undefined || policy === undefined) {
    emit({ outcome: "unidentified", rolledBack: false, grant: identity?.grant });
    return unidentifiedResult();
  }
  const decision = await deps.engine.decide(policy, { name: call.name, arguments: args }, identity);
  const who = { grant: identity.grant, session: identity.session };
  const settle = async (how: "commit" | "rollback"): Promise<void> => {
    try {
      await decision.reservation?.[how]();
    } catch (err) {
      deps.onInternalError(err, how);
    }
  };
  if (decision.effect === "deny") {
    emit({ ...who, decision: publicDecision(decision), outcome: "denied", rolledBack: false });
    return deniedResult(decision);
  }
  if (decision.effect === "require_approval") {
    const answer = await awaitApproval(deps, call, identity, decision);
    if (answer.outcome !== "approved") {
      await settle("rollback");
      emit({
        ...who,
        decision: publicDecision(decision),
        outcome: answer.outcome === "timeout" ? "approval_timeout" : "approval_rejected",
        rolledBack: decision.reservation !== undefined,
      });
      const why =
        answer.outcome === "timeout"
          ? `${decision.reason}; no approval within ${Math.ceil(deps.approvalTimeoutMs / 1000)}s`
          : `${decision.reason}; the approval was rejected${answer.reason ? `: ${answer.reason}` : ""}`;
      return deniedResult(decision, why);
    }
  }
  const started = deps.now();
  let result: R;
  try {
    result = await forward();
  } catch (err) {
    await settle("rollback");
    emit({
      ...who,
      decision: publicDecision(decision),
      outcome: "handler_error",
      rolledBack: decision.reservation !== undefined,
      handlerMs: deps.now() - started,
    });
    throw err;
  }
  // An isError result is a failed call: it costs no quota.
  const failed = result?.isError === true;
  await settle(failed ? "rollback" : "commit");
  emit({
    ...who,
    decision: publicDecision(decision),
    outcome: "forwarded",
    rolledBack: failed && decision.reservation !== undefined,
    handlerMs: deps.now() - started,
  });
  return result;
}
