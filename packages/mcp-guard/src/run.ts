import {
  type ApprovalRequest as CoreApprovalRequest,
  type DecisionEvent as CoreDecisionEvent,
  type ResultFacts,
  ResultScreen,
  type RpcMessage,
  Telemetry,
  type ToolCallDeps,
  toolCall,
} from "@toolgate/mcp-express/core";
import {
  type CompiledPolicy,
  type Decision,
  type Identity,
  silentLogger,
} from "@toolgate/policy-engine";
import {
  type ApprovalOutcome,
  argumentsDigest,
  type DecisionEvent,
  deniedResult,
  type PipelineCall,
  type PipelineDeps,
  publicDecision,
  type ToolResultLike,
  unidentifiedResult,
} from "./pipeline.js";

/*
 * mcp-guard runs mcp-express's tool-call pipeline (decide -> [approve] -> forward ->
 * settle -> emit) with the guard's own contract on the edges:
 * - the handler is the "upstream": a thrown error is a failed call, and so is an
 *   `isError` result (the guard gives its quota back, so it is handed to the pipeline as
 *   an error answer and the result itself is returned);
 * - events, approval requests and denial texts keep the guard's shapes and words;
 * - a failed commit or rollback is reported to `onInternalError`, never thrown.
 */

/** The core pipeline's telemetry with no request span: it never starts a span here. */
const NO_TRACE = Telemetry.create(undefined);
/** Held calls tell no one about progress here; one tick per hold, cleared when it ends. */
const NO_PROGRESS_MS = 2 ** 31 - 1;

/** What one call learned on the way, for the event and the answer. */
interface CallState {
  decision?: Decision;
  /** The hook's reason for a rejection. */
  rejection?: string | undefined;
  /** The handler's result (also an `isError` one). */
  result?: ToolResultLike;
  threw: boolean;
  /** The handler answered `isError` (before any result policy). */
  failed?: boolean;
  /** What the pipeline reported (its outcome names). */
  outcome?: CoreDecisionEvent["outcome"];
  /** The decision as the pipeline enforced it (after a pin verdict), without its reservation. */
  enforced?: Decision;
  /** What the result policy did to the handler's result. */
  screened?: ResultFacts;
}

/** The reservation of `d` with failures of commit and rollback reported, not thrown. */
function reportingSettle(d: Decision, deps: PipelineDeps): Decision {
  const r = d.reservation;
  if (r === undefined) return d;
  const settle = (how: "commit" | "rollback") => async () => {
    try {
      await r[how]();
    } catch (err) {
      deps.onInternalError(err, how);
    }
  };
  return {
    ...d,
    reservation: { id: r.id, commit: settle("commit"), rollback: settle("rollback") },
  };
}

/** The guard's hook behind the pipeline's approval step. */
async function askApprover(
  deps: PipelineDeps,
  req: CoreApprovalRequest,
  state: CallState,
): Promise<ApprovalOutcome> {
  if (deps.approve === undefined) {
    state.rejection = "no approver configured";
    return "rejected";
  }
  let answer: ApprovalOutcome;
  try {
    answer = await deps.approve({
      id: req.id,
      grant: req.grant,
      session: req.session,
      tool: req.tool,
      arguments: req.arguments,
      argumentsDigest: req.argumentsDigest,
      decision: publicDecision(req.decision),
      signal: req.signal,
    });
  } catch {
    answer = { outcome: "rejected", reason: "the approver failed" };
  }
  if (typeof answer === "object" && answer.outcome === "rejected") state.rejection = answer.reason;
  return answer;
}

/** The pipeline's event in the guard's shape; undefined for outcomes the guard never has. */
function guardEvent(e: CoreDecisionEvent, call: PipelineCall, state: CallState) {
  const held = state.decision?.reservation !== undefined;
  const base = {
    decision: e.decision,
    grant: e.grant,
    session: call.identity?.session,
    tool: call.name,
    argumentKeys: e.argumentKeys,
    argumentsDigest: e.argumentsDigest,
    ...(e.pin !== undefined && { pin: e.pin }),
    ...(state.screened !== undefined && { result: state.screened }),
    at: e.at,
  };
  switch (e.outcome) {
    case "denied":
      return { ...base, outcome: "denied", rolledBack: false } as const;
    case "approval_rejected":
    case "approval_timeout":
    case "cancelled":
      return {
        ...base,
        outcome: e.outcome === "approval_timeout" ? "approval_timeout" : "approval_rejected",
        rolledBack: held,
      } as const;
    case "forwarded":
    case "upstream_error": {
      const failed = state.threw || state.failed === true;
      return {
        ...base,
        outcome: state.threw ? "handler_error" : "forwarded",
        rolledBack: failed && held,
        handlerMs: e.upstreamMs,
      } as const;
    }
    default:
      return undefined;
  }
}

/** The denial a held call gets when it was not approved, in the guard's words. */
function notApproved(deps: PipelineDeps, d: Decision, state: CallState, timedOut: boolean) {
  const why = timedOut
    ? `${d.reason}; no approval within ${Math.ceil(deps.approvalTimeoutMs / 1000)}s`
    : `${d.reason}; the approval was rejected${state.rejection ? `: ${state.rejection}` : ""}`;
  return deniedResult(d, why);
}

/**
 * The pipeline's dependencies for one call under `policy`. Per call, because the
 * decision, the hook's answer and the handler's result are this call's own.
 */
function coreDeps(
  deps: PipelineDeps,
  policy: CompiledPolicy,
  state: CallState,
  emit: (e: DecisionEvent) => void,
  call: PipelineCall,
): ToolCallDeps {
  return {
    decide: async (identity, name, args) => {
      const d = await deps.engine.decide(policy, { name, arguments: args }, identity);
      state.decision = reportingSettle(d, deps);
      return state.decision;
    },
    approve: (req) => askApprover(deps, req, state),
    validator: () => undefined,
    toolTimeoutMs: () => undefined,
    onDecision: (e) => {
      state.outcome = e.outcome;
      // The decision as enforced: a changed pinned definition may have turned it.
      if (e.decision !== undefined) state.enforced = e.decision as Decision;
      // The hook never answered a call its client gave up on.
      if (e.approver === "caller:cancelled") state.rejection = "the client cancelled";
      const g = guardEvent(e, call, state);
      if (g !== undefined) emit(g);
    },
    approvalTimeoutMs: deps.approvalTimeoutMs,
    approvalProgressMs: NO_PROGRESS_MS,
    now: deps.now,
    newId: deps.newId,
    scheduler: deps.scheduler,
    logger: silentLogger,
    telemetry: NO_TRACE,
  };
}

/**
 * The handler's result under the tool's result policy (`results`), `isError` results
 * included (an error text can carry a secret as well): cleaned, cut, or replaced by a
 * denial; what was done goes to the call's event.
 */
function screenResult(policy: CompiledPolicy, name: string, state: CallState): ToolResultLike {
  const result = state.result!;
  const rules = policy.resultPolicyFor(name);
  if (rules === undefined) return result;
  const screen = new ResultScreen(rules);
  const answer = screen.answer({ jsonrpc: "2.0", id: 0, result }, state.decision!);
  const facts = screen.facts();
  if (facts !== undefined) state.screened = facts;
  return (answer.result as ToolResultLike | undefined) ?? result;
}

/**
 * The caller's signal as the pipeline should see it: aborted when the caller gives up,
 * but never with a string reason, which the pipeline reads as "cancelled before
 * forwarding"; the guard has always let an approved call run.
 */
function holdSignal(signal: AbortSignal | undefined): AbortSignal {
  const ac = new AbortController();
  if (signal === undefined) return ac.signal;
  const stop = () => ac.abort(new Error("the client cancelled"));
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });
  return ac.signal;
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
  const emit = (e: DecisionEvent) => {
    try {
      deps.onDecision?.(e);
    } catch (err) {
      deps.onInternalError(err, "onDecision");
    }
  };
  const identity: Identity | undefined = call.identity;
  const policy = identity === undefined ? undefined : deps.policyFor(identity.grant);
  if (identity === undefined || policy === undefined) {
    const args = call.arguments;
    emit({
      outcome: "unidentified",
      rolledBack: false,
      grant: identity?.grant,
      tool: call.name,
      argumentKeys: args === undefined ? [] : Object.keys(args),
      argumentsDigest: argumentsDigest(args),
      at: deps.now(),
    });
    return unidentifiedResult();
  }
  const state: CallState = { threw: false };
  await toolCall(coreDeps(deps, policy, state, emit, call), {
    id: 0,
    identity,
    session: identity.session,
    params: { name: call.name, arguments: call.arguments ?? {} },
    resolve: async (name) => ({ upstream: "handler", tool: name, definition: {}, pin: call.pin }),
    unavailable: () => [],
    forward: async (): Promise<RpcMessage> => {
      try {
        state.result = await forward();
      } catch (err) {
        state.threw = true;
        throw err;
      }
      // An isError result is a failed call: it costs no quota, so the pipeline rolls back.
      // (A result the result policy withholds did run: it stays counted.)
      state.failed = state.result?.isError === true;
      state.result = screenResult(policy, call.name, state);
      return state.failed
        ? { jsonrpc: "2.0", id: 0, error: { code: -32000, message: "the tool answered isError" } }
        : { jsonrpc: "2.0", id: 0, result: {} };
    },
    signal: holdSignal(call.signal),
    grantSessions: () => 1,
  });
  if (state.result !== undefined) return state.result as R;
  const d = state.enforced ?? state.decision!;
  if (d.effect === "require_approval")
    return notApproved(deps, d, state, state.outcome === "approval_timeout");
  return deniedResult(d);
}
