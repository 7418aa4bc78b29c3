import type { CounterSpec, DecisionCode, Effect } from "../contracts.js";
import type { CompiledRule } from "./rule.js";

/** A precomputed outcome that does not depend on arguments or identity. */
export interface StaticOutcome {
  readonly effect: Effect;
  readonly code: DecisionCode;
  readonly reason: string;
  readonly ruleId: string;
}

/** Everything known about one tool name under one policy; cached per name. */
export interface ToolPlan {
  readonly name: string;
  /** Set when a `hide` entry covers the name. */
  readonly hidden?: StaticOutcome | undefined;
  /** The rule that governs the name (most specific match), if any. */
  readonly rule?: CompiledRule | undefined;
  /** Outcome when nothing per call can change it (no conditions, schema or limits). */
  readonly fixed?: StaticOutcome | undefined;
  /** `fixed` with the tool name and no counters: the whole verdict, shared by every call. */
  readonly fixedVerdict?:
    | (StaticOutcome & { readonly tool: string; readonly counters: readonly CounterSpec[] })
    | undefined;
  /** Outcome of the rule before limits, when the rule has no argument checks. */
  readonly base: StaticOutcome;
  /** Whether `tools/list` shows it. */
  readonly visible: boolean;
}

const NO_COUNTERS: readonly CounterSpec[] = Object.freeze([]);

/** What the rule (or the default) says about `name` before arguments and limits. */
function baseOutcome(
  name: string,
  rule: CompiledRule | undefined,
  defaultEffect: "allow" | "deny",
): StaticOutcome {
  if (rule === undefined)
    return defaultEffect === "deny"
      ? {
          effect: "deny",
          code: "DEFAULT_DENY",
          reason: `tool "${name}" is not allowed by this policy (default deny)`,
          ruleId: "default",
        }
      : {
          effect: "allow",
          code: "ALLOWED",
          reason: `tool "${name}" is allowed by this policy (default allow)`,
          ruleId: "default",
        };
  if (rule.action === "deny")
    return {
      effect: "deny",
      code: "TOOL_DENIED",
      reason: rule.reason ?? `tool "${name}" is denied by this policy (${rule.ruleId})`,
      ruleId: rule.ruleId,
    };
  if (rule.action === "require_approval")
    return {
      effect: "require_approval",
      code: "APPROVAL_REQUIRED",
      reason:
        rule.reason ??
        `tool "${name}" needs a person's approval before it runs; wait for the decision`,
      ruleId: rule.ruleId,
    };
  return {
    effect: "allow",
    code: "ALLOWED",
    reason: `tool "${name}" is allowed by ${rule.ruleId}`,
    ruleId: rule.ruleId,
  };
}

/**
 * The plan for `name`, given the `hide` entry covering it (index or -1) and the rule
 * governing it: what can be decided once, and whether `tools/list` shows it.
 */
export function buildPlan(
  name: string,
  hideAt: number,
  rule: CompiledRule | undefined,
  defaultEffect: "allow" | "deny",
  hasAllLimits: boolean,
): ToolPlan {
  const hidden: StaticOutcome | undefined =
    hideAt === -1
      ? undefined
      : {
          effect: "deny",
          code: "TOOL_HIDDEN",
          reason: `tool "${name}" is not available to this client`,
          ruleId: `hide[${hideAt}]`,
        };
  const base = baseOutcome(name, rule, defaultEffect);
  const dynamic =
    rule !== undefined &&
    (rule.require.length > 0 ||
      rule.denyIf.length > 0 ||
      rule.validate !== undefined ||
      rule.limits.length > 0 ||
      rule.approval !== undefined ||
      rule.shadow);
  let fixed: StaticOutcome | undefined;
  if (hidden !== undefined) fixed = hidden;
  else if (base.effect === "deny" && (rule === undefined || !rule.shadow)) fixed = base;
  else if (!dynamic && !hasAllLimits) fixed = base;
  const visible =
    hidden === undefined &&
    (rule === undefined ? defaultEffect === "allow" : rule.shadow || rule.action !== "deny");
  // One literal shape for every fixed verdict keeps the decide path monomorphic.
  const fixedVerdict =
    fixed === undefined
      ? undefined
      : {
          tool: name,
          effect: fixed.effect,
          code: fixed.code,
          reason: fixed.reason,
          ruleId: fixed.ruleId,
          counters: NO_COUNTERS,
        };
  return { name, hidden, rule, fixed, fixedVerdict, base, visible };
}
