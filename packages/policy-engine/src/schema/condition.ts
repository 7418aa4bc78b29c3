import { z } from "zod";
import { parseConditionPath } from "../syntax.js";
import { custom } from "./fix.js";
import { CONDITION_OPS } from "./vocabulary.js";

const CONDITION_PATH_FIX =
  'write "args." and the argument path ("args.amount", "args.order.items[0]"), or "identity." and a field of the caller ("identity.sub", "identity.client_id", "identity.scopes", "identity.claims.role")';

const ConditionPathSchema = z.string().superRefine((value, ctx) => {
  const parsed = parseConditionPath(value);
  if (typeof parsed === "string") custom(ctx, `path "${value}" ${parsed}`, CONDITION_PATH_FIX);
});
/**
 * A condition on the call's arguments, e.g. `{ "path": "args.amount", "op": "lte",
 * "value": 100 }`, or on the verified caller, e.g. `{ "path": "identity.claims.role",
 * "op": "eq", "value": "trader" }`. A missing value makes every op false except
 * `exists: false`, so a `require` on a claim an API key or token lacks fails closed.
 */
export const ConditionSchema = z
  .strictObject({
    path: ConditionPathSchema,
    op: z.enum(CONDITION_OPS),
    value: z.unknown().optional(),
    reason: z.string().optional(),
  })
  .superRefine((c, ctx) => {
    const v = c.value;
    const at: PropertyKey[] = ["value"];
    switch (c.op) {
      case "eq":
      case "neq":
      case "contains":
        if (v === undefined)
          custom(ctx, `op "${c.op}" needs a value`, 'add "value": the value to compare with', at);
        break;
      case "in":
      case "not_in":
        if (!Array.isArray(v))
          custom(
            ctx,
            `op "${c.op}" needs a list value`,
            'use a list, e.g. "value": ["BTCUSD"]',
            at,
          );
        break;
      case "lt":
      case "lte":
      case "gt":
      case "gte":
        if (typeof v !== "number" && typeof v !== "string")
          custom(
            ctx,
            `op "${c.op}" needs a number or string value`,
            'use a number, e.g. "value": 100',
            at,
          );
        break;
      case "regex":
        if (typeof v !== "string")
          custom(ctx, 'op "regex" needs a string value', 'use a pattern, e.g. "value": "^BTC"', at);
        else {
          try {
            new RegExp(v);
          } catch (err) {
            custom(
              ctx,
              `invalid regular expression: ${(err as Error).message}`,
              "write a valid JavaScript regular expression (escape special characters with \\\\)",
              at,
            );
          }
        }
        break;
      case "exists":
        if (v !== undefined && typeof v !== "boolean")
          custom(ctx, 'op "exists" takes true or false', 'use "value": true or omit it', at);
        break;
    }
  });
/** A condition as written in a policy. */
export type PolicyCondition = z.infer<typeof ConditionSchema>;
