import type { z } from "zod";
import type { PolicyIssue } from "../errors.js";
import { closest, formatPath } from "../syntax.js";
import { FIX, fixFor } from "./fix.js";
import { PolicySchema } from "./policy.js";
import { ToolRuleSchema } from "./rule.js";

// Turns zod's issues into PolicyIssues: the path as written, what is wrong, and the fix.

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
  if (n === 3 && (path[0] === "tools" || path[0] === "resources") && path[2] === "results")
    return ["redact", "maxBytes", "on_violation", "deny"];
  if (n === 2 && path[0] === "resources") return ["description", "mode", "results"];
  if (n === 2 && path[0] === "tools") return RULE_KEYS;
  const parent = path[n - 2];
  if (parent === "limits") return LIMIT_KEYS;
  if (parent === "require" || parent === "deny_if" || parent === "when") return CONDITION_KEYS;
  if (parent === "approval") return APPROVAL_RULE_KEYS;
  return [];
}
/** How a value reads in a message ("a list", "a string", ...). */
export function typeOf(v: unknown): string {
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
/** One zod issue as PolicyIssues (an unknown-keys issue gives one per key). */
export function issueFromZod(issue: z.core.$ZodIssue, input: unknown): PolicyIssue[] {
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
