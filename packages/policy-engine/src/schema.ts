import { z } from "zod";
import { checkJsonSchema } from "./ajv.js";
import { approvalSpecSchema } from "./approval-rule.js";
import { PolicyError, PolicyErrorCode, type PolicyIssue } from "./errors.js";
import { DETECTORS } from "./guardrails/detectors.js";
import { parseJsonPath } from "./guardrails/result-guard.js";
import {
  closest,
  formatPath,
  isGlob,
  parseArgPath,
  parseConditionPath,
  parseWindow,
} from "./syntax.js";

/** Operators a condition may use. */
export const CONDITION_OPS = [
  "eq",
  "neq",
  "in",
  "not_in",
  "lt",
  "lte",
  "gt",
  "gte",
  "regex",
  "contains",
  "exists",
] as const;
/** One of {@link CONDITION_OPS}. */
export type ConditionOp = (typeof CONDITION_OPS)[number];

const ACTIONS = ["allow", "deny", "require_approval"] as const;
const SCOPES = ["grant", "session", "user", "global"] as const;
const MODES = ["enforce", "shadow"] as const;
const DEFAULTS = ["allow", "deny"] as const;

const COUNTER_NAME = /^[A-Za-z0-9_.:-]+$/;

const FIX = {
  version: 'set "version": "1" (the only language version this engine reads)',
  default: 'use "allow" or "deny" (omitted means "deny")',
  action: 'use "allow", "deny" or "require_approval" (omitted means "allow")',
  mode: 'use "enforce" or "shadow" (omitted means "enforce")',
  scope: 'use "grant", "session", "user" or "global" (omitted means "grant")',
  window: 'use "second", "minute", "hour", "day" or a duration like "30s", "15m", "2h", "1d"',
  max: "use a whole number of at least 1, e.g. 10",
  counter:
    'name the counter with letters, digits, "_", "-", "." or ":" only, e.g. "create_listen_key_rate"',
  op: `use one of ${CONDITION_OPS.map((o) => `"${o}"`).join(", ")}`,
  path: 'write "args." followed by the argument path, e.g. "args.amount" or "args.order.items[0]"',
  reason: "write the reason as a string the agent can act on",
  description: "write the description as a string",
  hide: 'list tool names or globs as strings, e.g. ["admin_*", "debug_dump"]',
  tools: 'map tool names or globs to rules, e.g. { "binance_us_*": { "action": "deny" } }',
  limits: 'use a list of limits, e.g. [{ "counter": "c", "window": "minute", "max": 10 }]',
  require: 'use a list of conditions, e.g. [{ "path": "args.amount", "op": "lte", "value": 100 }]',
  arguments: 'use a JSON Schema object, e.g. { "type": "object", "required": ["symbol"] }',
  all_tools: 'use an object with "limits", e.g. { "limits": [...] }',
  timeoutMs: "use a whole number of milliseconds from 1 to 86400000, e.g. 30000",
  secret: 'list argument paths as "args.<path>", e.g. ["args.apiSecret", "args.wallet.*.key"]',
  pin: 'use "sha256:" and 64 lower-case hex digits, as written by "toolgate scan --pin"',
  results: 'use an object, e.g. { "redact": ["bearer", "jwt"], "maxBytes": 65536 }',
  pins: 'use an object, e.g. { "mode": "enforce", "on_mismatch": "hide" }',
  maxBytes: "use a whole number of bytes of at least 64, e.g. 65536",
  on_violation: 'use "truncate" or "deny"',
  on_mismatch: 'use "hide", "approval" or "allow"',
  algorithm: 'use "fixed", "sliding" or "token_bucket"',
  burst: "use a whole number of at least 1, e.g. 20",
} as const;

const fixFor = (field: string): string | undefined =>
  field === "deny_if"
    ? FIX.require
    : field === "increment_from"
      ? FIX.path
      : (FIX as Record<string, string>)[field];

const custom = (ctx: z.RefinementCtx, message: string, fix: string, path: PropertyKey[] = []) =>
  ctx.addIssue({ code: "custom", message, params: { fix }, path });

const ArgPathSchema = z.string().superRefine((value, ctx) => {
  const parsed = parseArgPath(value);
  if (typeof parsed === "string") custom(ctx, `argument path "${value}" ${parsed}`, FIX.path);
});

const CONDITION_PATH_FIX =
  'write "args." and the argument path ("args.amount", "args.order.items[0]"), or "identity." and a field of the caller ("identity.sub", "identity.client_id", "identity.scopes", "identity.claims.role")';

const ConditionPathSchema = z.string().superRefine((value, ctx) => {
  const parsed = parseConditionPath(value);
  if (typeof parsed === "string") custom(ctx, `path "${value}" ${parsed}`, CONDITION_PATH_FIX);
});

const WindowSchema = z.string().superRefine((value, ctx) => {
  if (parseWindow(value) === undefined) custom(ctx, `"${value}" is not a window`, FIX.window);
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

const PIN = /^sha256:[0-9a-f]{64}$/;

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

const ROOT_KEYS = Object.keys(PolicySchema.shape);
const RULE_KEYS = Object.keys(ToolRuleSchema.shape);
const LIMIT_KEYS = [
  "counter",
  "window",
  "max",
  "scope",
  "increment_from",
  "algorithm",
  "burst",
] as const;
const CONDITION_KEYS = ["path", "op", "value", "reason"];
const APPROVAL_RULE_KEYS = ["when", "approvers", "from", "expires", "reason_required", "mode"];

function keysAt(path: readonly PropertyKey[]): readonly string[] {
  const n = path.length;
  if (n === 0) return ROOT_KEYS;
  if (n === 1 && path[0] === "all_tools") return ["limits"];
  if (n === 1 && path[0] === "pins") return ["mode", "on_mismatch"];
  if (n === 3 && path[0] === "tools" && path[2] === "results")
    return ["redact", "maxBytes", "on_violation", "deny"];
  if (n === 2 && path[0] === "tools") return RULE_KEYS;
  const parent = path[n - 2];
  if (parent === "limits") return LIMIT_KEYS;
  if (parent === "require" || parent === "deny_if" || parent === "when") return CONDITION_KEYS;
  if (parent === "approval") return APPROVAL_RULE_KEYS;
  return [];
}

function typeOf(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg as string];
  }
  return cur;
}

function lastField(path: readonly PropertyKey[]): string {
  for (let i = path.length - 1; i >= 0; i--) {
    const seg = path[i];
    if (typeof seg === "string") {
      // A record key (tool name) is not a field name.
      if (i === 1 && path[0] === "tools") return "tools.rule";
      return seg;
    }
  }
  return "";
}

/** A wrong or missing value: what was expected there and how to write it. */
function wrongValueIssue(
  issue: z.core.$ZodIssueInvalidType | z.core.$ZodIssueInvalidValue,
  where: string,
  field: string,
  got: unknown,
): PolicyIssue {
  if (got === undefined)
    return {
      path: where,
      message: `missing required "${field}"`,
      fix: fixFor(field) ?? `add "${field}"`,
    };
  if (issue.code === "invalid_value")
    return {
      path: where,
      message: `${JSON.stringify(got) ?? "nothing"} is not allowed here`,
      fix:
        fixFor(field) ??
        `use one of ${issue.values.map((v: unknown) => JSON.stringify(v)).join(", ")}`,
    };
  return {
    path: where,
    message: `expected ${issue.expected}, got ${typeOf(got)}`,
    fix:
      field === "tools.rule"
        ? 'use an object, e.g. { "action": "allow" }'
        : (fixFor(field) ?? `use ${issue.expected}`),
  };
}

function issueFromZod(issue: z.core.$ZodIssue, input: unknown): PolicyIssue[] {
  const path = issue.path as PropertyKey[];
  const field = lastField(path);
  const where = formatPath(path);
  const got = valueAt(input, path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = keysAt(path);
      return issue.keys.map((key) => {
        const guess = closest(key, known);
        return {
          path: formatPath([...path, key]),
          message: `unknown key "${key}"`,
          fix:
            guess !== undefined
              ? `did you mean "${guess}"?`
              : `remove it; allowed keys here: ${known.join(", ") || "none"}`,
        };
      });
    }
    case "invalid_type":
    case "invalid_value":
      return [wrongValueIssue(issue, where, field, got)];
    case "too_small":
    case "too_big":
      if (field === "max")
        return [
          {
            path: where,
            message: `max ${JSON.stringify(got)} is out of range`,
            fix: FIX.max,
          },
        ];
      if (field === "tools.rule")
        return [
          {
            path: where,
            message: "tool key is empty",
            fix: 'name the tool or glob, e.g. "binance_us_*"',
          },
        ];
      if (typeof got === "number")
        return [
          {
            path: where,
            message: `${field} ${got} is out of range`,
            fix: fixFor(field) ?? "use a number in the allowed range",
          },
        ];
      return [{ path: where, message: "must not be empty", fix: "write a non-empty value" }];
    case "invalid_format":
      return [
        {
          path: where,
          message: `"${String(got)}" is not a valid ${field}`,
          fix: fixFor(field) ?? "check the format",
        },
      ];
    case "invalid_key":
      return [
        {
          path: where,
          message: path[0] === "tools" ? "tool key is empty" : "invalid key",
          fix: 'name the tool or glob, e.g. "binance_us_*"',
        },
      ];
    case "custom": {
      const fix = (issue.params as { fix?: string } | undefined)?.fix;
      return [{ path: where, message: issue.message, fix: fix ?? "check the value" }];
    }
    default:
      if (field === "max")
        return [{ path: where, message: "max must be a whole number", fix: FIX.max }];
      return [{ path: where, message: issue.message, fix: fixFor(field) ?? "check the value" }];
  }
}

interface CounterUse {
  algorithm: string;
  burst: unknown;
  window: string;
  windowMs: number;
  max: number;
  scope: string;
  path: string;
}

/**
 * Checks that span fields: a counter shared by several limits must agree on window,
 * max and scope (otherwise "two tools share it" has no single meaning). Written
 * defensively over the raw input so it runs even when other parts are malformed.
 */
function crossFieldIssues(input: unknown): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const seen = new Map<string, CounterUse>();
  const visit = (limits: unknown, base: PropertyKey[]) => {
    if (!Array.isArray(limits)) return;
    limits.forEach((lim: unknown, i) => {
      if (lim === null || typeof lim !== "object") return;
      const l = lim as Record<string, unknown>;
      if (typeof l.counter !== "string" || typeof l.window !== "string") return;
      const windowMs = parseWindow(l.window);
      if (windowMs === undefined || typeof l.max !== "number") return;
      const scope = typeof l.scope === "string" ? l.scope : "grant";
      const here = formatPath([...base, i]);
      const prev = seen.get(l.counter);
      if (prev === undefined) {
        seen.set(l.counter, {
          algorithm: typeof l.algorithm === "string" ? l.algorithm : "fixed",
          burst: l.burst,
          window: l.window,
          windowMs,
          max: l.max,
          scope,
          path: here,
        });
        return;
      }
      const diffs: string[] = [];
      if (prev.windowMs !== windowMs) diffs.push(`window "${l.window}" vs "${prev.window}"`);
      if (prev.max !== l.max) diffs.push(`max ${l.max} vs ${prev.max}`);
      if (prev.scope !== scope) diffs.push(`scope "${scope}" vs "${prev.scope}"`);
      const algorithm = typeof l.algorithm === "string" ? l.algorithm : "fixed";
      if (prev.algorithm !== algorithm)
        diffs.push(`algorithm "${algorithm}" vs "${prev.algorithm}"`);
      if (prev.burst !== l.burst) diffs.push(`burst ${String(l.burst)} vs ${String(prev.burst)}`);
      if (diffs.length > 0)
        issues.push({
          path: here,
          message: `counter "${l.counter}" is also defined at ${prev.path} with different settings (${diffs.join(", ")})`,
          fix: `use the same window, max, scope, algorithm and burst as ${prev.path}, or give this limit its own counter name`,
        });
    });
  };
  if (input !== null && typeof input === "object") {
    const root = input as Record<string, unknown>;
    const all = root.all_tools;
    if (all !== null && typeof all === "object")
      visit((all as Record<string, unknown>).limits, ["all_tools", "limits"]);
    const tools = root.tools;
    if (tools !== null && typeof tools === "object" && !Array.isArray(tools)) {
      for (const [key, rule] of Object.entries(tools)) {
        if (rule !== null && typeof rule === "object") {
          visit((rule as Record<string, unknown>).limits, ["tools", key, "limits"]);
          // A pin is the digest of one definition; a glob names many tools.
          if ((rule as Record<string, unknown>).pin !== undefined && isGlob(key))
            issues.push({
              path: formatPath(["tools", key, "pin"]),
              message: `a pin belongs to one tool, but "${key}" is a glob`,
              fix: "move the pin to an entry with the exact tool name",
            });
        }
      }
    }
  }
  return issues;
}

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
