/**
 * Approval rules of a tool (`tools.<name>.approval`): how many distinct people must
 * approve a held call, from which roles or names, how long the approval may wait, and
 * whether a decision needs a reason. Conditions (`when`) pick the rule, so a tool can be
 * allowed below a threshold and held above it, with four eyes above a higher one.
 *
 * Kept apart from the schema and the compiler: both only wire it in.
 */
import { z } from "zod";
import { type CompiledCondition, compileCondition } from "./conditions.js";
import type { Identity } from "./contracts.js";
import type { PolicyCondition } from "./schema.js";
import { parseWindow } from "./syntax.js";

/** Names and roles in `from`: what approvers are called in the gateway config. */
const APPROVER_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** What a held call needs before it may run: the rule chosen for this call. */
export interface ApprovalRequirement {
  /** Where the rule is written, e.g. `tools.transfer_funds.approval[0]`. */
  readonly ruleId: string;
  /** Distinct approvers needed. Default 1. */
  readonly approvers: number;
  /** Approver names or roles allowed to decide; absent: any approver allowed for the grant. */
  readonly from?: readonly string[] | undefined;
  /** How long the approval may wait, in ms; absent: the gateway's setting. */
  readonly expiresMs?: number | undefined;
  /** Every decision (approve or reject) must carry a reason. */
  readonly reasonRequired: boolean;
  /** `wait`: the call waits; `retry`: it is answered at once and retried. Absent: the gateway's. */
  readonly mode?: "wait" | "retry" | undefined;
}

/** One compiled `approval` entry: its requirement and the conditions that pick it. */
export interface CompiledApprovalRule extends ApprovalRequirement {
  readonly when: readonly CompiledCondition[];
}

const fix = (ctx: z.RefinementCtx, message: string, fixText: string) =>
  ctx.addIssue({ code: "custom", message, params: { fix: fixText } });

/**
 * The schema of `approval`, built around the policy's condition schema (passed in, so
 * this file and the schema do not import each other). Accepts one rule object or a list
 * of them; in a list the first rule whose `when` holds applies.
 *
 * @example
 * approval: [{ when: [{ path: "args.amount", op: "gt", value: 10000 }], approvers: 2, from: ["risk"] },
 *            { when: [{ path: "args.amount", op: "gt", value: 1000 }] }]
 */
export function approvalSpecSchema<C extends z.ZodType<PolicyCondition>>(condition: C) {
  const rule = z.strictObject({
    /** Conditions that must all hold for this rule to apply; absent: always applies. */
    when: z.array(condition).optional(),
    approvers: z
      .number()
      .int()
      .min(1, "at least one approver")
      .max(10, "at most 10 approvers")
      .optional(),
    from: z
      .array(
        z
          .string()
          .regex(APPROVER_NAME, 'name approvers or roles with A-Z a-z 0-9 _ . : -, e.g. "risk"'),
      )
      .min(1, 'list at least one approver name or role, e.g. ["risk"]')
      .optional(),
    expires: z
      .string()
      .superRefine((v, ctx) => {
        if (parseWindow(v) === undefined)
          fix(ctx, `"${v}" is not a duration`, 'use a duration like "90s", "30m", "4h" or "1d"');
      })
      .optional(),
    reason_required: z.boolean().optional(),
    mode: z.enum(["wait", "retry"]).optional(),
  });
  type Rule = z.output<typeof rule>;
  // One object is read as a list of one, so paths are always `approval[i]`; the type
  // says what may be written: one rule or a list.
  return z.preprocess(
    (v) => (v !== null && typeof v === "object" && !Array.isArray(v) ? [v] : v),
    z.array(rule).min(1, "give at least one approval rule"),
  ) as unknown as z.ZodType<Rule | Rule[], z.input<typeof rule> | z.input<typeof rule>[]>;
}

/** An `approval` entry as written. */
export interface ApprovalRuleText {
  readonly when?: readonly PolicyCondition[] | undefined;
  readonly approvers?: number | undefined;
  readonly from?: readonly string[] | undefined;
  readonly expires?: string | undefined;
  readonly reason_required?: boolean | undefined;
  readonly mode?: "wait" | "retry" | undefined;
}

/**
 * Compiles a tool's `approval` (already validated; one object or a list) for
 * {@link pickApprovalRule}. `ruleId` is the tool rule's path.
 */
export function compileApprovalRules(
  spec: ApprovalRuleText | readonly ApprovalRuleText[] | undefined,
  ruleId: string,
): readonly CompiledApprovalRule[] | undefined {
  if (spec === undefined) return undefined;
  const list: readonly ApprovalRuleText[] = Array.isArray(spec) ? spec : [spec as ApprovalRuleText];
  return list.map((r, i) => {
    const id = `${ruleId}.approval[${i}]`;
    return {
      ruleId: id,
      approvers: r.approvers ?? 1,
      from: r.from,
      expiresMs: r.expires === undefined ? undefined : parseWindow(r.expires),
      reasonRequired: r.reason_required === true,
      mode: r.mode,
      when: (r.when ?? []).map((c, k) => compileCondition(c, `${id}.when[${k}]`)),
    };
  });
}

/**
 * The first rule whose conditions all hold for this call, as a plain requirement (no
 * compiled conditions), or undefined when none applies.
 */
export function pickApprovalRule(
  rules: readonly CompiledApprovalRule[],
  args: unknown,
  identity: Identity,
): ApprovalRequirement | undefined {
  for (const r of rules) {
    if (r.when.every((c) => c.test(args, identity))) {
      const { when: _w, ...req } = r;
      return req;
    }
  }
  return undefined;
}
