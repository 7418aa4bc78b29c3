import { PolicyError, PolicyErrorCode, type PolicyIssue } from "./errors.js";
import { crossFieldIssues } from "./schema/cross-field.js";
import { issueFromZod, typeOf } from "./schema/issues.js";
import { type PolicyDocument, PolicySchema } from "./schema/policy.js";

// The policy language v1, one file per part of a policy under schema/ (conditions,
// limits, results and pins, tool rules, the document), and here the entry points that
// run the schema plus the checks spanning fields.

export { ConditionSchema, type PolicyCondition } from "./schema/condition.js";
export { LimitSchema, type PolicyLimit } from "./schema/limit.js";
export { type PolicyDocument, PolicySchema, policyJsonSchema } from "./schema/policy.js";
export { PinsSchema, type PolicyResults, ResultsSchema } from "./schema/results.js";
export { type ToolRule, ToolRuleSchema } from "./schema/rule.js";
export { CONDITION_OPS, type ConditionOp } from "./schema/vocabulary.js";

/** Every issue with `input` as a v1 policy (empty when valid). */
export function policyIssues(input: unknown): PolicyIssue[] {
  if (input === null || typeof input !== "object" || Array.isArray(input))
    return [
      {
        path: "",
        message: `a policy must be an object, got ${typeOf(input)}`,
        fix: 'start from { "version": "1", "default": "deny", "tools": {} }',
      },
    ];
  const result = PolicySchema.safeParse(input);
  const issues = result.success ? [] : result.error.issues.flatMap((i) => issueFromZod(i, input));
  issues.push(...crossFieldIssues(input));
  return issues;
}

/**
 * Validates an already-parsed value as a v1 policy.
 *
 * @throws PolicyError `POLICY_INVALID` listing every problem (path, what, fix).
 * @example
 * const doc = parsePolicy(JSON.parse(text), "policy.json");
 */
export function parsePolicy(input: unknown, source?: string): PolicyDocument {
  const issues = policyIssues(input);
  if (issues.length > 0) throw new PolicyError(PolicyErrorCode.POLICY_INVALID, issues, { source });
  return PolicySchema.parse(input);
}
