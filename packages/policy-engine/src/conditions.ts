import type { Identity } from "./contracts.js";
import type { ConditionOp, PolicyCondition } from "./schema.js";
import { type ConditionRoot, type PathSegment, parseConditionPath, readPath } from "./syntax.js";

/** A condition turned into a predicate once, at compile time. */
export interface CompiledCondition {
  /** Path of the condition in the policy, e.g. `tools.x.require[0]`. */
  readonly ruleId: string;
  readonly path: string;
  /** `args` for `args.*` paths, `identity` for `identity.*` paths (the caller). */
  readonly root: ConditionRoot;
  /** Segments below the root (for `identity.*`, the Identity field names). */
  readonly segments: readonly PathSegment[];
  readonly op: ConditionOp;
  /**
   * True when the value satisfies the condition (a `require` passes). `identity` is read
   * by `identity.*` conditions; without one they see nothing, so a `require` fails.
   */
  readonly test: (args: unknown, identity?: Identity) => boolean;
  /**
   * For `deny_if`: the deny reason when the condition matches, or when the argument is
   * present but of a type the op cannot compare (`"5000"` against `gt: 1000`), so a
   * caller cannot slip past a `deny_if` by changing an argument's type. `undefined`
   * when the call may proceed.
   */
  readonly denies: (args: unknown, identity?: Identity) => string | undefined;
  /** Reason shown when a `require` condition fails. */
  readonly failReason: string;
  /** Reason shown when a `deny_if` condition matches. */
  readonly matchReason: string;
}

/** Structural equality for JSON values; key order does not matter. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false;
    if (!jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false;
  }
  return true;
}

const isPrimitive = (v: unknown) => v === null || typeof v !== "object";

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  return `a ${typeof v}`;
}

/**
 * The type a present argument must have for `op` to compare it with `expected`, or
 * `undefined` when the op accepts any type (eq, neq, in, not_in, exists).
 */
function requiredType(op: ConditionOp, expected: unknown): ((a: unknown) => boolean) | undefined {
  switch (op) {
    case "lt":
    case "lte":
    case "gt":
    case "gte": {
      const t = typeof expected;
      return (a) => typeof a === t;
    }
    case "regex":
      return (a) => typeof a === "string";
    case "contains":
      return typeof expected === "string"
        ? (a) => typeof a === "string" || Array.isArray(a)
        : (a) => Array.isArray(a);
    default:
      return undefined;
  }
}

function typeWanted(op: ConditionOp, expected: unknown): string {
  if (op === "regex") return "a string";
  if (op === "contains") return typeof expected === "string" ? "a string or a list" : "a list";
  return typeName(expected);
}

/**
 * The predicate of one op on the value found at the path (`undefined` = missing). A
 * missing argument satisfies nothing except `exists: false`, so `require` conditions
 * fail closed and `deny_if` conditions do not fire on absent arguments.
 */
function opPredicate(op: ConditionOp, expected: unknown): (actual: unknown) => boolean {
  switch (op) {
    case "eq":
      return isPrimitive(expected)
        ? (a) => a === expected
        : (a) => a !== undefined && jsonEqual(a, expected);
    case "neq":
      return (a) => a !== undefined && !jsonEqual(a, expected);
    case "in":
    case "not_in": {
      const list = expected as unknown[];
      const prims = list.every(isPrimitive) ? new Set(list) : undefined;
      const has = prims
        ? (a: unknown) => prims.has(a)
        : (a: unknown) => list.some((e) => jsonEqual(a, e));
      return op === "in" ? (a) => a !== undefined && has(a) : (a) => a !== undefined && !has(a);
    }
    case "lt":
    case "lte":
    case "gt":
    case "gte": {
      const t = typeof expected;
      const e = expected as number | string;
      if (op === "lt") return (a) => typeof a === t && (a as number | string) < e;
      if (op === "lte") return (a) => typeof a === t && (a as number | string) <= e;
      if (op === "gt") return (a) => typeof a === t && (a as number | string) > e;
      return (a) => typeof a === t && (a as number | string) >= e;
    }
    case "regex": {
      const re = new RegExp(expected as string);
      return (a) => typeof a === "string" && re.test(a);
    }
    case "contains":
      return (a) =>
        typeof a === "string"
          ? typeof expected === "string" && a.includes(expected)
          : Array.isArray(a) && a.some((e) => jsonEqual(e, expected));
    case "exists": {
      const want = expected !== false;
      return (a) => (a !== undefined) === want;
    }
  }
}

function phrase(op: ConditionOp, value: unknown): string {
  const v = JSON.stringify(value);
  switch (op) {
    case "eq":
      return `equal to ${v}`;
    case "neq":
      return `present and different from ${v}`;
    case "in":
      return `one of ${v}`;
    case "not_in":
      return `present and not one of ${v}`;
    case "lt":
      return `less than ${v}`;
    case "lte":
      return `at most ${v}`;
    case "gt":
      return `greater than ${v}`;
    case "gte":
      return `at least ${v}`;
    case "regex":
      return `matching /${String(value)}/`;
    case "contains":
      return `containing ${v}`;
    case "exists":
      return value === false ? "absent" : "present";
  }
}

/** Compiles one condition; `ruleId` is its policy path. Input was validated by the schema. */
export function compileCondition(c: PolicyCondition, ruleId: string): CompiledCondition {
  const parsed = parseConditionPath(c.path);
  if (typeof parsed === "string") throw new TypeError(`${ruleId}.path ${parsed}`);
  const { root, segments } = parsed;
  // The value a condition looks at: an argument, or a field of the caller's identity.
  const read =
    root === "args"
      ? (args: unknown) => readPath(args, segments)
      : (_args: unknown, identity?: Identity) => readPath(identity, segments);
  const subject = root === "args" ? "argument" : "identity field";
  const pred = opPredicate(c.op, c.value);
  const p = phrase(c.op, c.value);
  const matchReason =
    c.reason ??
    (root === "args"
      ? `calls with argument "${c.path}" ${p} are not allowed`
      : `calls by a caller whose "${c.path}" is ${p} are not allowed`);
  const typeOk = requiredType(c.op, c.value);
  const wanted = typeWanted(c.op, c.value);
  return {
    ruleId,
    path: c.path,
    root,
    segments,
    op: c.op,
    test: (args, identity) => pred(read(args, identity)),
    denies:
      typeOk === undefined
        ? (args, identity) => (pred(read(args, identity)) ? matchReason : undefined)
        : (args, identity) => {
            const a = read(args, identity);
            if (a === undefined) return undefined;
            if (!typeOk(a))
              return c.reason === undefined
                ? `${subject} "${c.path}" must be ${wanted} to be checked (got ${typeName(a)}); ${matchReason}`
                : `${c.reason} (${subject} "${c.path}" must be ${wanted}, got ${typeName(a)})`;
            return pred(a) ? matchReason : undefined;
          },
    failReason: c.reason ?? `${subject} "${c.path}" must be ${p}`,
    matchReason,
  };
}
