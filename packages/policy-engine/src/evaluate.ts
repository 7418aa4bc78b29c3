/**
 * The one matching path of the engine. `evaluate` runs it without a trace (the hot
 * path: cached plan, first failure decides); `explain` runs the same functions with a
 * trace, which makes them record every entry they consider and look at every check
 * instead of stopping at the first failure, while the verdict stays the first failure
 * in precedence order. A new rule kind is added here once and both see it.
 */
import type { ErrorObject } from "ajv";
import {
  type ApprovalRequirement,
  type CompiledApprovalRule,
  pickApprovalRule,
} from "./approval-rule.js";
import type { CompiledPolicy, CompiledRule, GuardrailsView, ToolPlan } from "./compile.js";
import type { CounterSpec, DecisionCode, Effect, Identity, ToolCall } from "./contracts.js";
import { type CompiledLimit, counterKey } from "./limits.js";
import { readPath } from "./syntax.js";
import type { TraceStep } from "./trace.js";

/** An outcome without the tool name: what a rule (or shadow rule) said. */
export interface Outcome {
  readonly effect: Effect;
  readonly code: DecisionCode;
  readonly reason: string;
  readonly ruleId: string;
}

/**
 * What the policy says about a call before counters are consulted: the effect, and
 * the counters the call needs. Synchronous and side-effect free.
 */
export interface Verdict extends Outcome {
  readonly tool: string;
  /** Counters to reserve if the effect is not `deny` (all_tools limits first, then the rule's). */
  readonly counters: readonly CounterSpec[];
  /** The shadow rule's own outcome when it would not allow (the effect is then `allow`). */
  readonly shadow?: Outcome | undefined;
  /** A shadow rule's own limits: peeked, never consumed. */
  readonly shadowCounters?: readonly CounterSpec[] | undefined;
  /** For a held call: the `approval` rule chosen for it (absent: the gateway's default). */
  readonly approval?: ApprovalRequirement | undefined;
}

/** The verdict plus how it was reached, for `toolgate explain`. */
export interface Explanation {
  readonly verdict: Verdict;
  readonly trace: readonly TraceStep[];
  readonly policyVersion: string;
  /** Pin and result policy of the tool (absent when it has none). */
  readonly guardrails?: GuardrailsView | undefined;
}

const EMPTY: readonly CounterSpec[] = Object.freeze([]);
const EMPTY_ARGS: Readonly<Record<string, unknown>> = Object.freeze({});

function describeType(v: unknown): string {
  if (v === undefined) return "missing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "number") return "a negative or non-finite number";
  return `a ${typeof v}`;
}

/** The weight one limit charges for `args`, or the deny outcome when it cannot. */
function limitWeight(l: CompiledLimit, args: unknown): number | Outcome {
  if (l.incrementSegments === undefined) return 1;
  const v = readPath(args, l.incrementSegments);
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
    return {
      effect: "deny",
      code: "ARGUMENTS_INVALID",
      reason: `limit "${l.counter}" counts ${l.incrementFrom}, which must be a number of at least 0 (got ${describeType(v)})`,
      ruleId: l.ruleId,
    };
  if (v > l.capacity)
    return {
      effect: "deny",
      code: "RATE_LIMITED",
      reason: `${l.reasonPrefix}; this call needs ${v}, more than the limit allows in one window`,
      ruleId: l.ruleId,
    };
  return v;
}

/**
 * Builds the specs of `limits` into `out`. Returns a deny outcome when an
 * `increment_from` argument is unusable or the weight can never fit.
 */
function pushSpecs(
  limits: readonly CompiledLimit[],
  args: unknown,
  identity: Identity,
  out: CounterSpec[],
  trace: TraceStep[] | undefined,
): Outcome | undefined {
  let first: Outcome | undefined;
  for (let i = 0; i < limits.length; i++) {
    const l = limits[i] as CompiledLimit;
    const key = counterKey(l, identity);
    if (trace !== undefined) {
      const from = l.incrementFrom === undefined ? "" : ` counted from ${l.incrementFrom}`;
      trace.push({
        step: "limit",
        ruleId: l.ruleId,
        result: "needs",
        detail: `counter "${key}": ${l.max} per ${l.window}${from}, algorithm ${l.algorithm}${l.burst === undefined ? "" : ` (burst ${l.burst})`}`,
      });
    }
    const weight = limitWeight(l, args);
    if (typeof weight !== "number") {
      first ??= weight;
      if (trace === undefined) return first;
      continue;
    }
    out.push({
      key,
      counter: l.counter,
      windowMs: l.windowMs,
      max: l.max,
      weight,
      ruleId: l.ruleId,
      ...(l.algorithm !== "fixed" && { algorithm: l.algorithm }),
      ...(l.burst !== undefined && { burst: l.burst }),
    });
  }
  return first;
}

/** `/order/items/0/qty` → `arguments.order.items[0].qty`, the form conditions use. */
function argumentPath(pointer: string): string {
  let out = "arguments";
  if (pointer === "") return out;
  for (const raw of pointer.slice(1).split("/")) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out += /^[0-9]+$/.test(seg)
      ? `[${seg}]`
      : /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg)
        ? `.${seg}`
        : `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/**
 * One JSON Schema error as the agent should read it: the argument's path and what to
 * change. Ajv's own text omits the offending property for `additionalProperties`
 * and the allowed values for `enum`, which are exactly what a model needs to retry.
 */
function schemaErrorText(e: ErrorObject): string {
  const at = argumentPath(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "required":
      return `${at}.${String(params.missingProperty)} is required`;
    case "additionalProperties":
      return `${at} must not have property "${String(params.additionalProperty)}" (remove it)`;
    case "enum":
      return `${at} must be one of ${JSON.stringify(params.allowedValues)}`;
    default:
      return `${at} ${e.message ?? "is invalid"}`;
  }
}

/** The rule's `arguments` JSON Schema check, or `undefined` when there is none or it passes. */
function checkSchema(rule: CompiledRule, args: unknown, trace: TraceStep[] | undefined) {
  const v = rule.validate;
  if (v === undefined) return undefined;
  const ok = v(args);
  trace?.push({
    step: "arguments",
    ruleId: `${rule.ruleId}.arguments`,
    result: ok ? "passed" : "failed",
    detail: ok ? "arguments match the schema" : "arguments do not match the schema",
  });
  if (ok) return undefined;
  const detail = (v.errors ?? []).slice(0, 5).map(schemaErrorText).join("; ");
  const outcome: Outcome = {
    effect: "deny",
    code: "ARGUMENTS_INVALID",
    reason:
      rule.reason === undefined
        ? `arguments do not match the schema of ${rule.ruleId}: ${detail}`
        : `${rule.reason}: ${detail}`,
    ruleId: `${rule.ruleId}.arguments`,
  };
  return outcome;
}

/** Argument checks of a rule in precedence order (deny_if, require, arguments); the first failure decides. */
function checkArguments(
  rule: CompiledRule,
  args: unknown,
  identity: Identity,
  trace: TraceStep[] | undefined,
): Outcome | undefined {
  let first: Outcome | undefined;
  for (const c of rule.denyIf) {
    const reason = c.denies(args, identity);
    trace?.push({
      step: "deny_if",
      ruleId: c.ruleId,
      result: reason !== undefined ? "failed" : "passed",
      detail: reason ?? `${c.path} ${c.op} does not match`,
    });
    if (reason === undefined || first !== undefined) continue;
    first = { effect: "deny", code: "CONDITION_FAILED", reason, ruleId: c.ruleId };
    if (trace === undefined) return first;
  }
  for (const c of rule.require) {
    const ok = c.test(args, identity);
    trace?.push({
      step: "require",
      ruleId: c.ruleId,
      result: ok ? "passed" : "failed",
      detail: ok ? `${c.path} ${c.op} holds` : c.failReason,
    });
    if (ok || first !== undefined) continue;
    first = { effect: "deny", code: "CONDITION_FAILED", reason: c.failReason, ruleId: c.ruleId };
    if (trace === undefined) return first;
  }
  const schema = checkSchema(rule, args, trace);
  return first ?? schema;
}

function withTool(o: Outcome, tool: string, counters: readonly CounterSpec[] = EMPTY): Verdict {
  return {
    tool,
    effect: o.effect,
    code: o.code,
    reason: o.reason,
    ruleId: o.ruleId,
    counters,
  };
}

/** Records which rule decides (or that the default does) and whether it is in shadow mode. */
function traceRule(policy: CompiledPolicy, rule: CompiledRule | undefined, trace: TraceStep[]) {
  if (rule === undefined)
    trace.push({
      step: "default",
      ruleId: "default",
      result: "matched",
      detail: `no rule matched; default is ${policy.defaultEffect}`,
    });
  else if (rule.shadow)
    trace.push({
      step: "mode",
      ruleId: rule.ruleId,
      result: "matched",
      detail: "shadow: the rule's outcome is reported but the call is allowed",
    });
}

function traceAction(rule: CompiledRule, trace: TraceStep[] | undefined): void {
  trace?.push({
    step: "action",
    ruleId: rule.ruleId,
    result: "matched",
    detail: `action ${rule.action}`,
  });
}

/**
 * A rule with `approval` entries: the first whose `when` holds holds the call (even when
 * the rule's action is `allow`) and says who must approve it; when none holds, the
 * rule's own action stands.
 */
function withApprovalRule(
  rule: CompiledRule,
  rules: readonly CompiledApprovalRule[],
  base: Outcome,
  name: string,
  args: unknown,
  identity: Identity,
  counters: readonly CounterSpec[],
  trace: TraceStep[] | undefined,
): Verdict {
  const picked = pickApprovalRule(rules, args, identity);
  trace?.push({
    step: "approval",
    ruleId: picked?.ruleId ?? `${rule.ruleId}.approval`,
    result: picked === undefined ? "no_match" : "matched",
    detail:
      picked === undefined
        ? "no approval rule applies to this call"
        : `needs ${picked.approvers} approver${picked.approvers > 1 ? "s" : ""}${picked.from ? ` from ${picked.from.join(", ")}` : ""}`,
  });
  if (picked === undefined) return withTool(base, name, counters);
  const n = picked.approvers;
  return {
    ...withTool(base, name, counters),
    effect: "require_approval",
    code: "APPROVAL_REQUIRED",
    reason:
      rule.reason ??
      `tool "${name}" needs ${n === 1 ? "a person's approval" : `${n} approvals`} before it runs (${picked.ruleId})`,
    ruleId: picked.ruleId,
    approval: picked,
  };
}

/** The verdict of an enforcing (non-shadow) rule or of the default. */
function enforcedVerdict(
  policy: CompiledPolicy,
  plan: ToolPlan,
  call: ToolCall,
  identity: Identity,
  trace: TraceStep[] | undefined,
): Verdict {
  const name = call.name;
  const args = call.arguments ?? EMPTY_ARGS;
  const rule = plan.rule;
  const failed = rule === undefined ? undefined : checkArguments(rule, args, identity, trace);
  if (rule !== undefined) traceAction(rule, trace);
  if (failed !== undefined && trace === undefined) return withTool(failed, name);
  // Static denies were settled by the plan's fixed verdict; here base is allow or require_approval.
  const counters: CounterSpec[] = [];
  const badAll = pushSpecs(policy.allLimits, args, identity, counters, trace);
  const badRule =
    rule === undefined || (badAll !== undefined && trace === undefined)
      ? undefined
      : pushSpecs(rule.limits, args, identity, counters, trace);
  const bad = failed ?? badAll ?? badRule;
  if (bad !== undefined) return withTool(bad, name);
  return rule?.approval === undefined
    ? withTool(plan.base, name, counters)
    : withApprovalRule(rule, rule.approval, plan.base, name, args, identity, counters, trace);
}

/** A shadow rule: its outcome is reported, the call is allowed; all_tools limits still bind. */
function shadowVerdict(
  policy: CompiledPolicy,
  plan: ToolPlan,
  rule: CompiledRule,
  call: ToolCall,
  identity: Identity,
  trace: TraceStep[] | undefined,
): Verdict {
  const name = call.name;
  const args = call.arguments ?? EMPTY_ARGS;
  const baseDenies = plan.base.effect === "deny";
  const checked =
    baseDenies && trace === undefined ? undefined : checkArguments(rule, args, identity, trace);
  traceAction(rule, trace);
  const counters: CounterSpec[] = [];
  const bad = pushSpecs(policy.allLimits, args, identity, counters, trace);
  if (bad !== undefined && trace === undefined) return withTool(bad, name);
  let shadow: Outcome | undefined = baseDenies ? plan.base : checked;
  let shadowCounters: CounterSpec[] | undefined;
  if (shadow === undefined || trace !== undefined) {
    const own: CounterSpec[] = [];
    const limitDenies = pushSpecs(rule.limits, args, identity, own, trace);
    if (shadow === undefined) {
      shadowCounters = own;
      shadow = limitDenies;
      if (shadow === undefined && plan.base.effect === "require_approval") shadow = plan.base;
    }
  }
  if (bad !== undefined) return withTool(bad, name);
  return {
    tool: name,
    effect: "allow",
    code: "ALLOWED",
    reason:
      shadow === undefined
        ? `tool "${name}" is allowed by ${rule.ruleId} (shadow mode)`
        : `tool "${name}" is allowed: ${rule.ruleId} is in shadow mode and would have decided "${shadow.effect}"`,
    ruleId: rule.ruleId,
    counters,
    shadow,
    shadowCounters: shadow?.effect === "deny" ? undefined : shadowCounters,
  };
}

/**
 * The verdict for a call under a plan: argument checks and counter specs, no I/O.
 * Without `trace` a plan's fixed verdict is returned at once; with one, every check is
 * still recorded and the fixed verdict (if any) still decides.
 */
export function evaluatePlan(
  policy: CompiledPolicy,
  plan: ToolPlan,
  call: ToolCall,
  identity: Identity,
  trace?: TraceStep[],
): Verdict {
  const fixed = plan.fixedVerdict;
  if (fixed !== undefined && trace === undefined) return fixed;
  const rule = plan.rule;
  if (trace !== undefined) traceRule(policy, rule, trace);
  const v =
    rule?.shadow === true
      ? shadowVerdict(policy, plan, rule, call, identity, trace)
      : enforcedVerdict(policy, plan, call, identity, trace);
  return fixed ?? v;
}

/** The verdict for a call: cached plan lookup, argument checks and counter specs, no I/O. */
export function evaluateCall(policy: CompiledPolicy, call: ToolCall, identity: Identity): Verdict {
  const plan = policy.plan(call.name);
  // The common case (a verdict no argument or identity can change) without another call.
  return plan.fixedVerdict ?? evaluatePlan(policy, plan, call, identity);
}

/** The verdict with a trace of every entry the matching path considered. Counters are not consulted. */
export function explainCall(
  policy: CompiledPolicy,
  call: ToolCall,
  identity: Identity,
): Explanation {
  const trace: TraceStep[] = [];
  const plan = policy.tracedPlan(call.name, trace);
  const verdict = evaluatePlan(policy, plan, call, identity, trace);
  const g = policy.guardrailsFor(call.name);
  return {
    verdict,
    trace,
    policyVersion: policy.version,
    ...(Object.keys(g).length > 0 && { guardrails: g }),
  };
}
