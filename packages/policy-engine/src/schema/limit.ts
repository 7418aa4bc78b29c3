import { z } from "zod";
import { parseArgPath, parseWindow } from "../syntax.js";
import { custom, FIX } from "./fix.js";
import { COUNTER_NAME, SCOPES } from "./vocabulary.js";

const ArgPathSchema = z.string().superRefine((value, ctx) => {
  const parsed = parseArgPath(value);
  if (typeof parsed === "string") custom(ctx, `argument path "${value}" ${parsed}`, FIX.path);
});

const WindowSchema = z.string().superRefine((value, ctx) => {
  if (parseWindow(value) === undefined) custom(ctx, `"${value}" is not a window`, FIX.window);
});

/**
 * A limit: at most `max` units per `window` on `counter`, counted per `scope` (default
 * `grant`; `user` counts per grant and verified subject, so every person behind one
 * shared grant gets their own `max`). `increment_from` counts the numeric argument at
 * that path instead of 1.
 */
export const LimitSchema = z
  .strictObject({
    counter: z.string().regex(COUNTER_NAME),
    window: WindowSchema,
    max: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    scope: z.enum(SCOPES).optional(),
    increment_from: ArgPathSchema.optional(),
    /**
     * How the limit counts: `fixed` (default; a window opens at the first call),
     * `sliding` (exact: at most `max` in every interval of `window`) or `token_bucket`
     * (GCRA: `burst` at once, refilled at `max` per `window`).
     */
    algorithm: z.enum(["fixed", "sliding", "token_bucket"]).optional(),
    /** Bucket size of a `token_bucket`: units admitted at once. Default `max`. */
    burst: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .superRefine((l, ctx) => {
    if (l.burst !== undefined && l.algorithm !== "token_bucket")
      custom(
        ctx,
        "burst only applies to algorithm token_bucket",
        'add "algorithm": "token_bucket" or remove burst',
        ["burst"],
      );
  });
/** A limit as written in a policy. */
export type PolicyLimit = z.infer<typeof LimitSchema>;
