import { z } from "zod";
import { checkJsonSchema } from "../ajv.js";
import { approvalSpecSchema } from "../approval-rule.js";
import { ConditionSchema } from "./condition.js";
import { custom } from "./fix.js";
import { LimitSchema } from "./limit.js";
import { ResultsSchema } from "./results.js";
import { ACTIONS, MODES, PIN } from "./vocabulary.js";

const JsonSchemaSchema = z.record(z.string(), z.unknown()).superRefine((schema, ctx) => {
  const err = checkJsonSchema(schema);
  if (err !== undefined)
    custom(
      ctx,
      `invalid JSON Schema: ${err}`,
      "fix the schema so it is valid JSON Schema (draft-07) that Ajv can compile",
    );
});

/** What a policy says about one tool (or every tool a glob matches). */
export const ToolRuleSchema = z.strictObject({
  action: z.enum(ACTIONS).optional(),
  reason: z.string().optional(),
  description: z.string().optional(),
  mode: z.enum(MODES).optional(),
  limits: z.array(LimitSchema).optional(),
  require: z.array(ConditionSchema).optional(),
  deny_if: z.array(ConditionSchema).optional(),
  arguments: JsonSchemaSchema.optional(),
  /**
   * Longest wait for the upstream's answer to a call of this tool, in ms; overrides the
   * upstream's `timeoutMs`. When it passes the call is cancelled and rolled back.
   */
  timeoutMs: z.number().int().positive().max(86_400_000).optional(),
  /**
   * Argument paths whose values are secret: masked (and marked as masked) wherever the
   * arguments are shown to a person, e.g. on the approvals page. `args.<path>`, where a
   * segment may be `*` (any key or index).
   */
  secret: z.array(z.string().regex(/^args(\.[^.]+)+$/)).optional(),
  /** Digest of the tool definition a reviewer approved (`toolgate scan --pin` writes it). */
  pin: z.string().regex(PIN).optional(),
  /** What results of this tool may carry back to the model. */
  results: ResultsSchema.optional(),
  /** Who must approve a held call and when conditions hold it (see approval-rule.ts). */
  approval: approvalSpecSchema(ConditionSchema).optional(),
});
/** A tool rule as written in a policy. */
export type ToolRule = z.infer<typeof ToolRuleSchema>;
