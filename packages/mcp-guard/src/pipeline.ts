import {
  argumentsDigest as coreDigest,
  type PinCheck,
  type PinFacts,
  type ResultFacts,
} from "@toolgate/mcp-express/core";
import type {
  CompiledPolicy,
  Decision,
  Identity,
  PolicyEngine,
  PolicyHolder,
} from "@toolgate/policy-engine";

/**
 * The guard's face of the tool-call pipeline: its option and event types, and the
 * results a refused call gets. The pipeline itself (decide -> [approve] -> forward ->
 * settle -> emit) is mcp-express's framework-free core, run by ./run.ts.
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
  /** The tool's definition changed since pinned: both digests and what the policy did. */
  readonly pin?: PinFacts | undefined;
  /** What the tool's result policy did to the result (counts per detector, never values). */
  readonly result?: ResultFacts | undefined;
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
  /** The tool definition's pin verdict, when the caller's policy uses pins. */
  readonly pin?: PinCheck | undefined;
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

/** `sha256:<hex>` of the canonical JSON of a call's arguments (the same digest everywhere). */
export const argumentsDigest: (args: Readonly<Record<string, unknown>> | undefined) => string =
  coreDigest;

/** The decision as it may leave the process: the reservation handle stripped. */
export function publicDecision(d: Decision): Omit<Decision, "reservation"> {
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
export function unidentifiedResult(): ToolResultLike {
  return {
    isError: true,
    content: [{ type: "text", text: "denied: the caller could not be identified" }],
    _meta: { "toolgate/decision": { effect: "deny", code: "UNIDENTIFIED" } },
  };
}
