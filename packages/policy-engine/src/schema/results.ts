import { z } from "zod";
import { DETECTORS } from "../guardrails/detectors.js";
import { parseJsonPath } from "../guardrails/result-guard.js";
import { custom } from "./fix.js";
import { MODES } from "./vocabulary.js";

/**
 * One redaction of `results.redact`: a built-in detector name, `{ regex, flags?, name? }`
 * or `{ path, name? }` (a JSON path into `structuredContent`, e.g. `$.account.apiKey`).
 * Checked by hand so every mistake gets a message with the fix.
 */
const RedactEntrySchema = z.unknown().superRefine((v, ctx) => {
  const detectors = DETECTORS.map((d) => `"${d}"`).join(", ");
  if (typeof v === "string") {
    if (!(DETECTORS as readonly string[]).includes(v))
      custom(
        ctx,
        `"${v}" is not a built-in detector`,
        `use one of ${detectors}, or { "regex": "..." } or { "path": "$.field" }`,
      );
    return;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    custom(
      ctx,
      "must be a detector name or an object",
      `use one of ${detectors}, or { "regex": "..." } or { "path": "$.field" }`,
    );
    return;
  }
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !["regex", "flags", "path", "name"].includes(k));
  if (extra.length > 0)
    custom(ctx, `unknown key "${extra[0]}"`, 'use only "regex", "flags", "path" and "name"', [
      extra[0]!,
    ]);
  if ((o.regex === undefined) === (o.path === undefined)) {
    custom(
      ctx,
      "needs exactly one of regex or path",
      'write { "regex": "ACCT-[0-9]+" } or { "path": "$.account.id" }',
    );
    return;
  }
  if (
    o.name !== undefined &&
    (typeof o.name !== "string" || !/^[A-Za-z0-9_.:-]{1,64}$/.test(o.name))
  )
    custom(
      ctx,
      "name must be 1-64 letters, digits, _ . : -",
      'e.g. "account_id"; it labels the redaction and its metric',
      ["name"],
    );
  if (o.regex !== undefined) {
    const flags = o.flags ?? "";
    if (typeof flags !== "string" || !/^[imsu]*$/.test(flags)) {
      custom(ctx, "flags may only contain i, m, s, u", 'e.g. "i" for case-insensitive', ["flags"]);
      return;
    }
    if (typeof o.regex !== "string" || o.regex.length === 0) {
      custom(ctx, "regex must be a non-empty string", 'e.g. "ACCT-[0-9]{8}"', ["regex"]);
      return;
    }
    try {
      const re = new RegExp(o.regex, flags);
      if (re.test(""))
        custom(ctx, "regex matches the empty string", "make it match at least one character", [
          "regex",
        ]);
    } catch (err) {
      custom(
        ctx,
        `invalid regex: ${(err as Error).message}`,
        "fix the regular expression (JavaScript syntax)",
        ["regex"],
      );
    }
  } else if (o.flags !== undefined) {
    custom(ctx, "flags only apply to regex", "remove flags", ["flags"]);
  } else {
    const steps = typeof o.path === "string" ? parseJsonPath(o.path) : "must be a string";
    if (typeof steps === "string")
      custom(
        ctx,
        `path ${steps}`,
        'write a JSON path into structuredContent, e.g. "$.account.apiKey" or "$.items[*].token"',
        ["path"],
      );
  }
});

/**
 * What a tool's results may carry back to the model: redactions, a size limit and what
 * happens above it, and patterns that deny the whole result.
 */
export const ResultsSchema = z.strictObject({
  redact: z.array(RedactEntrySchema).max(64).optional(),
  /** Largest serialized result in bytes. */
  maxBytes: z.number().int().min(64).max(1_073_741_824).optional(),
  /** Above maxBytes: cut the text content to fit (default) or deny the result. */
  on_violation: z.enum(["truncate", "deny"]).optional(),
  /** Regexes (JavaScript syntax, case-insensitive) that deny a result containing a match. */
  deny: z
    .array(
      z
        .string()
        .min(1)
        .superRefine((r, ctx) => {
          try {
            new RegExp(r, "i");
          } catch (err) {
            custom(
              ctx,
              `invalid regex: ${(err as Error).message}`,
              "fix the regular expression (JavaScript syntax)",
            );
          }
        }),
    )
    .max(64)
    .optional(),
});
/** A `results` entry as written. */
export type PolicyResults = z.infer<typeof ResultsSchema>;

/** Policy-wide pin settings. */
export const PinsSchema = z.strictObject({
  /**
   * `enforce` (default): act on mismatches. `shadow`: report only. `trust_on_first_use`:
   * tools without a pin are pinned the first time the gateway sees them.
   */
  mode: z.enum(["enforce", "shadow", "trust_on_first_use"]).optional(),
  /** A mismatching tool: `hide` it and deny calls (default), hold calls for `approval`, or `allow` and report. */
  on_mismatch: z.enum(["hide", "approval", "allow"]).optional(),
});

/**
 * What `resources/read` results may carry back to the model, per resource URI or URI
 * glob (`*` any characters, `?` one), under the policy's `resources` section. The
 * same `results` rules as a tool's (`structuredContent` paths apply to JSON text).
 */
export const ResourceRuleSchema = z.strictObject({
  description: z.string().optional(),
  /** `shadow`: count and report only; the resource is delivered as it was. */
  mode: z.enum(MODES).optional(),
  results: ResultsSchema,
});
/** A `resources` entry as written. */
export type ResourceRule = z.infer<typeof ResourceRuleSchema>;
