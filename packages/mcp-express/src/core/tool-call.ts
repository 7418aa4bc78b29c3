/**
 * The tool-call pipeline: decide → [approve] → validate → forward → settle → emit, as one
 * function over explicit dependencies. It knows no session and no HTTP: a session (or a
 * stateless front) passes who calls, what, how to reach the upstream, an abort signal
 * and what it can tell the caller, and gets the JSON-RPC answer back.
 */
import { type Span, SpanKind } from "@opentelemetry/api";
import { argumentsDigest } from "../digest.js";
import type { CompiledResultPolicy, Decision, Identity } from "../engine.js";
import { ToolgateMcpError } from "../errors.js";
import { RpcErrorCode, type RpcId, type RpcMessage, rpcError } from "../jsonrpc.js";
import type {
  ApprovalOutcome,
  ApprovalRequest,
  DecisionEvent,
  ElicitAnswer,
  ElicitSchema,
  Logger,
  Scheduler,
} from "../options.js";
import { endWith, type RequestTrace, type Telemetry } from "../telemetry.js";
import { holdForApproval } from "./approval.js";
import type { CallSignal } from "./call-abort.js";
import { applyPinVerdict, type PinCheck, pinFacts } from "./pin-call.js";
import { type ResultScreen, resultScreen } from "./result-policy.js";
import { deniedResult, errorResponse, heldResult } from "./results.js";
import type { ArgumentCheck } from "./validate.js";

/** Where an exposed tool really lives. */
export interface ToolTarget {
  /** The upstream's name (for events, approvals and spans). */
  readonly upstream: string;
  /** The tool's name at the upstream. */
  readonly tool: string;
  /** The upstream's tool definition (its `inputSchema` validates arguments). */
  readonly definition: Record<string, unknown>;
  /** The definition's pin verdict under the caller's policy, when the policy uses pins. */
  readonly pin?: PinCheck | undefined;
}

/** What the upstream is asked: the real tool name, the timeout, the span to carry. */
export interface ForwardRequest {
  readonly tool: string;
  readonly timeoutMs: number | undefined;
  readonly span: Span | undefined;
}

/** The gateway-wide dependencies of the pipeline (one set per gateway). */
export interface ToolCallDeps {
  /** Decides a call under the caller's policy (throws `NO_POLICY` when it has none). */
  decide(identity: Identity, tool: string, args: Record<string, unknown>): Promise<Decision>;
  /**
   * Decides by the policy's rules without counting (no limit is reserved or checked): for
   * a 2026 MRTR continuation, whose first round was decided and counted.
   */
  decideUncounted?(
    identity: Identity,
    tool: string,
    args: Record<string, unknown>,
  ): Promise<Decision>;
  /** The approval hook (rejects when none is configured). */
  approve(req: ApprovalRequest): Promise<ApprovalOutcome>;
  /** The argument check of a tool, when arguments are validated and it has a schema. */
  validator(exposed: string, target: ToolTarget): ArgumentCheck | undefined;
  /** The caller's result policy of `tool` (`results`), if any. */
  resultPolicy?(identity: Identity, tool: string): CompiledResultPolicy | undefined;
  /** Timeout of a call of `tool` set by the caller's policy, if any. */
  toolTimeoutMs(identity: Identity, tool: string): number | undefined;
  /** Receives every call's decision event; undefined when nobody listens (none built). */
  onDecision: ((e: DecisionEvent) => void) | undefined;
  approvalTimeoutMs: number;
  /** How long a held call that runs as an MCP task may wait; undefined: no tasks. */
  taskApprovalTimeoutMs?: number | undefined;
  approvalProgressMs: number;
  now: () => number;
  newId: () => string;
  scheduler: Scheduler;
  logger: Logger;
  telemetry: Telemetry;
}

/** One `tools/call` as the front hands it in. */
export interface ToolCall {
  /** The JSON-RPC id the answer carries. */
  readonly id: RpcId;
  /** Who calls; decided and reported under this identity for the whole call. */
  readonly identity: Identity;
  /** The session, on fronts that have one (events and approvals name it). */
  readonly session?: string | undefined;
  /** The `tools/call` params as received (`name`, `arguments`, `_meta`, ...). */
  readonly params: Record<string, unknown>;
  /**
   * A 2026 MRTR continuation carrying a valid sealed state for this very call (checked
   * by the front): decided again by the rules, not counted again.
   */
  readonly continuation?: boolean | undefined;
  /**
   * A stateless (2026) caller: a hold is answered at once (see ApprovalRequest.stateless),
   * `resume` naming the approval its sealed state carries.
   */
  readonly stateless?: { readonly resume?: string | undefined } | undefined;
  /** Resolves the exposed name to its upstream; undefined when no upstream offers it. */
  resolve(name: string): Promise<ToolTarget | undefined>;
  /** Upstreams that are down right now (an unknown tool may live on one of them). */
  unavailable(): readonly string[];
  /** Sends the call upstream and returns its answer (with any id). */
  forward(req: ForwardRequest): Promise<RpcMessage>;
  /**
   * Aborted when the caller gives up: with a string reason for a cancel or disconnect
   * (the call then reports `cancelled`); with any other reason (e.g. its session
   * closed) a held approval just ends.
   */
  readonly signal: CallSignal;
  /** Open sessions of the caller's grant (told to the approval hook; read when held). */
  grantSessions(): number;
  /** The call runs as an MCP task: a hold may last as long as the approval may wait. */
  readonly task?: boolean | undefined;
  /** Tells the caller a held call is still waiting (when it asked for progress). */
  readonly progress?: ((n: number, message: string) => void) | undefined;
  /** Asks the caller through elicitation (when its client declared it). */
  readonly elicit?: ((message: string, schema: ElicitSchema) => Promise<ElicitAnswer>) | undefined;
  /** The request's span, when traced. */
  readonly trace?: RequestTrace | undefined;
  /** The call's result policy screen, when the front also screens its progress with it. */
  readonly screen?: ResultScreen | undefined;
}

type Outcome = NonNullable<DecisionEvent["outcome"]>;

/** The client's reason for giving up, when it did (see {@link ToolCall.signal}). */
function cancelReason(signal: CallSignal): string | undefined {
  return signal.aborted && typeof signal.reason === "string" ? signal.reason : undefined;
}

/**
 * Runs one `tools/call` through policy: decides it (unknown tools too, so every call is
 * audited and a forbidden tool looks like a missing one), holds it for approval when the
 * policy says so, validates its arguments, forwards it, commits the reservation on a
 * result or rolls it back when the call ends without one (denial, approval refused,
 * invalid arguments, cancel, upstream error or timeout), and emits one decision event.
 * Resolves with the JSON-RPC answer; throws a {@link ToolgateMcpError} for a cancelled
 * call or a failed upstream (the front answers it with its code).
 */
export async function toolCall(deps: ToolCallDeps, call: ToolCall): Promise<RpcMessage> {
  const { id, params } = call;
  const name = params.name;
  if (typeof name !== "string") {
    return rpcError(id, RpcErrorCode.INVALID_PARAMS, "tools/call: params.name must be a string");
  }
  const rawArgs = params.arguments;
  if (
    rawArgs !== undefined &&
    (typeof rawArgs !== "object" || rawArgs === null || Array.isArray(rawArgs))
  ) {
    // The policy decides on the arguments the upstream will see: anything but an object
    // would be decided as `{}` while something else is forwarded.
    return rpcError(
      id,
      RpcErrorCode.INVALID_PARAMS,
      "tools/call: params.arguments must be an object",
    );
  }
  const args = (rawArgs ?? {}) as Record<string, unknown>;
  const target = await call.resolve(name);
  const decide = call.continuation && deps.decideUncounted ? deps.decideUncounted : deps.decide;
  const decided = await deps.telemetry.decide(call.trace, () =>
    decide.call(deps, call.identity, name, args),
  );
  // A changed definition (pins) can turn the policy's answer into a denial or a hold.
  const decision = await applyPinVerdict(decided, target?.pin);
  const run = new CallRun(deps, call, name, args, target, decision);
  return run.proceed();
}

/** The state of one call once decided: what the later steps and the event share. */
class CallRun {
  private digest: string | undefined;
  private approver: string | undefined;
  private screen: ResultScreen | undefined;

  constructor(
    private readonly deps: ToolCallDeps,
    private readonly call: ToolCall,
    private readonly name: string,
    private readonly args: Record<string, unknown>,
    private readonly target: ToolTarget | undefined,
    private readonly decision: Decision,
  ) {}

  async proceed(): Promise<RpcMessage> {
    const { decision, call, target } = this;
    if (decision.effect === "deny") {
      this.emit("denied");
      return this.denied(decision.reason);
    }
    if (!target) return this.unknownTool();
    if (decision.effect === "require_approval") {
      const refused = await this.approve(target);
      if (refused) return refused;
    }
    const check = this.deps.validator(this.name, target);
    const problem = check?.(this.args);
    if (problem !== undefined) {
      await this.undo("denied");
      return {
        jsonrpc: "2.0",
        id: call.id,
        result: {
          isError: true,
          content: [{ type: "text", text: `invalid arguments for ${this.name}: ${problem}` }],
        },
      };
    }
    const cancelled = cancelReason(call.signal);
    if (cancelled !== undefined) {
      // The client gave up while the call was decided or held: nothing is forwarded.
      await this.undo("cancelled");
      throw new ToolgateMcpError("CANCELLED", `request cancelled: ${cancelled}`);
    }
    return this.forward(target);
  }

  private getDigest(): string {
    // Hashing costs a few microseconds per call: only when an audit hook or approval needs it.
    this.digest ??= argumentsDigest(this.args);
    return this.digest;
  }

  private denied(why: string): RpcMessage {
    return { jsonrpc: "2.0", id: this.call.id, result: deniedResult(this.decision, why) };
  }

  private emit(outcome: Outcome, upstreamMs?: number): void {
    const { deps, call } = this;
    if (!deps.onDecision) return;
    const { reservation: _r, ...d } = this.decision;
    const e: DecisionEvent = {
      decision: d,
      grant: call.identity.grant,
      tool: this.name,
      argumentKeys: Object.keys(this.args),
      argumentsDigest: this.getDigest(),
      outcome,
      at: deps.now(),
    };
    if (call.session !== undefined) e.session = call.session;
    if (this.target) e.upstream = this.target.upstream;
    if (this.approver !== undefined) e.approver = this.approver;
    if (upstreamMs !== undefined) e.upstreamMs = upstreamMs;
    if (call.identity.sub !== undefined) e.subject = call.identity.sub;
    if (call.identity.clientId !== undefined) e.clientId = call.identity.clientId;
    const pin = pinFacts(this.target?.pin);
    if (pin) e.pin = pin;
    const result = this.screen?.facts();
    if (result) e.result = result;
    deps.onDecision(e);
  }

  /** A call that ends without a result costs no quota: roll back, then report. */
  private async undo(outcome: Outcome, upstreamMs?: number): Promise<void> {
    await this.decision.reservation?.rollback();
    this.emit(outcome, upstreamMs);
  }

  private async unknownTool(): Promise<RpcMessage> {
    // Allowed (or held) by policy but no upstream has it: nothing ran, so nothing is
    // counted, and nobody is asked to approve a call that cannot happen.
    await this.undo("unknown_tool");
    // An upstream that is down has unknown tools: say so, or the agent is told that a
    // tool it may just have used does not exist.
    const down = this.call.unavailable();
    const why = down.length
      ? `; upstream ${down.join(", ")} ${down.length > 1 ? "are" : "is"} unavailable right now, retry shortly`
      : "";
    return rpcError(
      this.call.id,
      RpcErrorCode.INVALID_PARAMS,
      `MCP error -32602: Tool ${this.name} not found${why}`,
    );
  }

  /** Holds the call for approval; the denial to answer when it was not approved. */
  private async approve(target: ToolTarget): Promise<RpcMessage | undefined> {
    const { deps, call } = this;
    const timeoutMs =
      call.task === true
        ? (deps.taskApprovalTimeoutMs ?? deps.approvalTimeoutMs)
        : deps.approvalTimeoutMs;
    const held = call.trace?.child("toolgate.approval", SpanKind.INTERNAL, {
      "toolgate.approval.timeout_ms": timeoutMs,
    });
    const outcome = await holdForApproval(
      {
        approve: deps.approve,
        scheduler: deps.scheduler,
        newId: deps.newId,
        timeoutMs,
        progressEveryMs: deps.approvalProgressMs,
      },
      {
        identity: call.identity,
        session: call.session,
        tool: this.name,
        upstream: target.upstream,
        args: this.args,
        digest: this.getDigest(),
        decision: this.decision,
        grantSessions: call.grantSessions(),
        signal: call.signal,
        progress: call.progress,
        elicit: call.elicit,
        task: call.task === true,
        stateless: call.stateless,
      },
    );
    if (held) {
      held.span.setAttribute("toolgate.approval.outcome", outcome.outcome);
      held.span.end();
    }
    if (outcome.outcome === "held") {
      // Nothing ran: the quota goes back and the caller learns how to retry.
      await this.undo("approval_held");
      return { jsonrpc: "2.0", id: call.id, result: heldResult(outcome) };
    }
    this.approver = outcome.by;
    if (outcome.outcome === "approved") return undefined;
    await this.undo(
      cancelReason(call.signal) !== undefined
        ? "cancelled"
        : outcome.outcome === "timeout"
          ? "approval_timeout"
          : "approval_rejected",
    );
    return this.denied(
      `approval ${outcome.outcome === "timeout" ? "timed out" : "rejected"}${outcome.reason ? `: ${outcome.reason}` : ""}`,
    );
  }

  /** Forwards, then commits (on a result) or rolls back, and reports. */
  private async forward(target: ToolTarget): Promise<RpcMessage> {
    const { deps, call } = this;
    const started = deps.now();
    const up = call.trace?.child(`tools/call ${target.tool}`, SpanKind.CLIENT, {
      "mcp.method.name": "tools/call",
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": target.tool,
      "toolgate.upstream": target.upstream,
    });
    let res: RpcMessage;
    try {
      res = await call.forward({
        tool: target.tool,
        timeoutMs: deps.toolTimeoutMs(call.identity, this.name),
        span: up?.span,
      });
    } catch (e) {
      if (up) endWith(up.span, errorResponse(call.id, e));
      const code = e instanceof ToolgateMcpError ? e.code : undefined;
      await this.undo(
        code === "UPSTREAM_TIMEOUT"
          ? "upstream_timeout"
          : cancelReason(call.signal) !== undefined
            ? "cancelled"
            : "upstream_error",
        deps.now() - started,
      );
      throw e;
    }
    if (up) endWith(up.span, res);
    if (res.error) {
      await this.undo("upstream_error", deps.now() - started);
      return res;
    }
    // The answer does not wait for the commit: the units are already counted.
    this.decision.reservation
      ?.commit()
      .catch((e: unknown) =>
        deps.logger.warn?.({ err: String(e), tool: this.name }, "reservation commit failed"),
      );
    this.screen = call.screen ?? resultScreen(deps.resultPolicy?.(call.identity, this.name));
    const answer = this.screen ? this.screen.answer(res, this.decision) : res;
    this.emit("forwarded", deps.now() - started);
    return answer;
  }
}
