// The words of the policy language, shared by the schemas and the fix table.

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

/** A rule's `action`. */
export const ACTIONS = ["allow", "deny", "require_approval"] as const;
/** A limit's `scope`. */
export const SCOPES = ["grant", "session", "user", "global"] as const;
/** A rule's `mode`. */
export const MODES = ["enforce", "shadow"] as const;
/** The policy's `default`. */
export const DEFAULTS = ["allow", "deny"] as const;

/** A counter name. */
export const COUNTER_NAME = /^[A-Za-z0-9_.:-]+$/;

/** A tool definition digest. */
export const PIN = /^sha256:[0-9a-f]{64}$/;
