import { z } from "zod";
import { LimitSchema } from "./limit.js";
import { PinsSchema, ResourceRuleSchema } from "./results.js";
import { ToolRuleSchema } from "./rule.js";
import { DEFAULTS } from "./vocabulary.js";

const ToolKeySchema = z.string().min(1);

/**
 * The policy language v1 as one zod schema. Accepts the published PolicyLayer-style
 * JSON verbatim and adds `hide`, `action`, conditions, `arguments`, `mode` and
 * `all_tools`. Unknown keys are errors. Omitted `default` means `deny`.
 *
 * Prefer {@link parsePolicy}: it runs this schema plus the checks that span several
 * fields (counter consistency) and turns every problem into a {@link PolicyIssue}.
 */
export const PolicySchema = z.strictObject({
  $schema: z.string().optional(),
  version: z.literal("1"),
  description: z.string().optional(),
  default: z.enum(DEFAULTS).optional(),
  hide: z.array(z.string().min(1)).optional(),
  tools: z.record(ToolKeySchema, ToolRuleSchema).optional(),
  all_tools: z.strictObject({ limits: z.array(LimitSchema).optional() }).optional(),
  pins: PinsSchema.optional(),
  /** Result policies of `resources/read`, by resource URI or URI glob. */
  resources: z.record(z.string().min(1), ResourceRuleSchema).optional(),
});
/** A validated v1 policy document (as written: defaults are applied by the compiler). */
export type PolicyDocument = z.infer<typeof PolicySchema>;

/**
 * The policy language as a JSON Schema (draft-07), generated from {@link PolicySchema},
 * for editor completion via `"$schema"` or a YAML language server. It covers the shape
 * only; {@link parsePolicy} also checks windows, regexes, argument paths, nested JSON
 * Schemas and counter consistency.
 */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PolicySchema, { target: "draft-7", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
}
