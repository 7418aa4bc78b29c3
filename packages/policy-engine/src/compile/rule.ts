import type { Ajv, ValidateFunction } from "ajv";
import { compileJsonSchema } from "../ajv.js";
import { type CompiledApprovalRule, compileApprovalRules } from "../approval-rule.js";
import { type CompiledCondition, compileCondition } from "../conditions.js";
import type { Effect } from "../contracts.js";
import { PolicyError, PolicyErrorCode } from "../errors.js";
import { type CompiledLimit, compileLimit } from "../limits.js";
import type { ToolRule } from "../schema.js";
import { formatPath, isGlob } from "../syntax.js";

/** A tool rule with everything parsed and compiled. */
export interface CompiledRule {
  /** The key as written in `tools` (exact name or glob). */
  readonly key: string;
  /** `tools.<key>`. */
  readonly ruleId: string;
  readonly glob: boolean;
  readonly action: Effect;
  readonly shadow: boolean;
  readonly reason?: string | undefined;
  readonly require: readonly CompiledCondition[];
  readonly denyIf: readonly CompiledCondition[];
  readonly validate?: ValidateFunction | undefined;
  readonly limits: readonly CompiledLimit[];
  /** `approval` rules in order (the first whose `when` holds applies). */
  readonly approval?: readonly CompiledApprovalRule[] | undefined;
}

/**
 * Compiles one `tools` entry: its conditions, JSON Schema and limits (each limit is
 * also recorded in `limitsById`). `ajv` is the policy's validator, present when any rule
 * has `arguments`.
 */
export function compileRule(
  key: string,
  rule: ToolRule,
  limitsById: Map<string, CompiledLimit>,
  ajv: Ajv | undefined,
  source: string | undefined,
): CompiledRule {
  const ruleId = formatPath(["tools", key]);
  const limits = (rule.limits ?? []).map((l, i) => {
    const c = compileLimit(l, `${ruleId}.limits[${i}]`);
    limitsById.set(c.ruleId, c);
    return c;
  });
  return {
    key,
    ruleId,
    glob: isGlob(key),
    action: rule.action ?? "allow",
    shadow: rule.mode === "shadow",
    reason: rule.reason,
    require: (rule.require ?? []).map((c, i) => compileCondition(c, `${ruleId}.require[${i}]`)),
    denyIf: (rule.deny_if ?? []).map((c, i) => compileCondition(c, `${ruleId}.deny_if[${i}]`)),
    validate:
      rule.arguments === undefined || ajv === undefined
        ? undefined
        : compileSchema(ajv, ruleId, rule.arguments, source),
    limits,
    approval: compileApprovalRules(rule.approval, ruleId),
  };
}

function compileSchema(
  ajv: Ajv,
  ruleId: string,
  schema: unknown,
  source: string | undefined,
): ValidateFunction {
  try {
    return compileJsonSchema(ajv, schema);
  } catch (err) {
    // Valid on its own but not next to the others, e.g. two rules using one `$id`.
    throw new PolicyError(
      PolicyErrorCode.POLICY_INVALID,
      [
        {
          path: `${ruleId}.arguments`,
          message: `JSON Schema does not compile with the rest of the policy: ${(err as Error).message}`,
          fix: "give every schema a unique $id (or none)",
        },
      ],
      { source },
    );
  }
}
