/**
 * Stable error codes of the policy engine. Callers branch on `code`, never on message
 * text, so messages can improve without breaking anyone.
 */
export const PolicyErrorCode = {
  /** The policy parsed but broke the v1 language rules; `issues` lists every problem. */
  POLICY_INVALID: "POLICY_INVALID",
  /** The text was not valid JSON or YAML. */
  POLICY_PARSE: "POLICY_PARSE",
  /** The policy file could not be read. */
  POLICY_IO: "POLICY_IO",
  /** Two policies given to `mergePolicies` disagree (same tool key, different default). */
  POLICY_CONFLICT: "POLICY_CONFLICT",
  /** A policy test suite file is malformed. */
  POLICY_TEST_INVALID: "POLICY_TEST_INVALID",
  /** `decide` was given an identity without a string `grant` (a programming error). */
  IDENTITY_INVALID: "IDENTITY_INVALID",
  /** An options object passed to a factory is malformed. */
  OPTIONS_INVALID: "OPTIONS_INVALID",
  /** A `CounterSpec` passed to a store is malformed (a programming error upstream). */
  SPEC_INVALID: "SPEC_INVALID",
  /** A counter store was used after `close()`. */
  STORE_CLOSED: "STORE_CLOSED",
} as const;
/** One of the {@link PolicyErrorCode} values. */
export type PolicyErrorCode = (typeof PolicyErrorCode)[keyof typeof PolicyErrorCode];

/**
 * Base class of every error Toolgate packages throw on purpose. `code` is a stable,
 * machine-readable *local* code (a string from the package's one `as const` table);
 * `data` carries structured details that are safe to log (never secrets). Local codes
 * never travel to an MCP client as they are: the adapter maps them to a wire code
 * ({@link JsonRpcErrorCode}) at the boundary, so the two can evolve separately.
 *
 * @example
 * if (err instanceof ToolgateError && err.code === "POLICY_INVALID") { ... }
 * class MyError extends ToolgateError<"MY_CODE"> {}
 */
export class ToolgateError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly data?: unknown;

  constructor(code: Code, message: string, options?: { data?: unknown; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ToolgateError";
    this.code = code;
    if (options?.data !== undefined) this.data = options.data;
  }
}

/**
 * The *wire* codes: JSON-RPC 2.0 error numbers as MCP clients see them. Kept apart
 * from the local string codes: a package's table maps each local code to one of these
 * (and an HTTP status) where the error leaves the process.
 */
export const JsonRpcErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** Implementation-defined server errors start here (-32000 .. -32099). */
  SERVER_ERROR: -32000,
  /** MCP: the request was cancelled. */
  REQUEST_CANCELLED: -32800,
} as const;
/** One of the {@link JsonRpcErrorCode} numbers. */
export type JsonRpcErrorCode = (typeof JsonRpcErrorCode)[keyof typeof JsonRpcErrorCode];

/**
 * Turns anything thrown into a {@link ToolgateError} at a boundary: Toolgate errors
 * pass through, anything else is wrapped with `code` and keeps the original as `cause`.
 *
 * @example
 * catch (err) { const e = asToolgateError(err, "INTERNAL"); log.error({ code: e.code }, e.message); }
 */
export function asToolgateError<C extends string>(err: unknown, code: C): ToolgateError {
  if (err instanceof ToolgateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ToolgateError(code, message, { cause: err });
}

/**
 * One problem found in a policy: where it is (a JSON path such as
 * `tools.binance_us_create_listen_key.limits[0].window`), what is wrong, and how to fix it.
 */
export interface PolicyIssue {
  readonly path: string;
  readonly message: string;
  readonly fix: string;
}

/**
 * Thrown when a policy cannot be used. `issues` lists every problem found (not only the
 * first), and `message` repeats them with the source file name so a log line is enough
 * to fix the file.
 */
export class PolicyError extends ToolgateError {
  readonly issues: readonly PolicyIssue[];
  readonly source?: string | undefined;

  constructor(
    code: PolicyErrorCode,
    issues: readonly PolicyIssue[],
    options?: { source?: string | undefined; cause?: unknown },
  ) {
    super(code, formatIssues(code, issues, options?.source), {
      data: { issues, source: options?.source },
      cause: options?.cause,
    });
    this.name = "PolicyError";
    this.issues = issues;
    this.source = options?.source;
  }
}

function formatIssues(
  code: PolicyErrorCode,
  issues: readonly PolicyIssue[],
  source: string | undefined,
): string {
  const where = source === undefined ? "policy" : `policy ${source}`;
  const head =
    code === PolicyErrorCode.POLICY_INVALID
      ? `${where} is invalid (${issues.length} ${issues.length === 1 ? "problem" : "problems"})`
      : code === PolicyErrorCode.POLICY_PARSE
        ? `${where} could not be parsed`
        : code === PolicyErrorCode.POLICY_IO
          ? `${where} could not be read`
          : `${where}: ${code}`;
  const lines = issues.map(
    (i) => `  - ${i.path === "" ? "(root)" : i.path}: ${i.message}; fix: ${i.fix}`,
  );
  return [head + ":", ...lines].join("\n");
}
