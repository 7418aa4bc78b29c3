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
} as const;
/** One of the {@link PolicyErrorCode} values. */
export type PolicyErrorCode = (typeof PolicyErrorCode)[keyof typeof PolicyErrorCode];

/**
 * Base class of every error Toolgate packages throw on purpose. `code` is stable and
 * machine-readable; `data` carries structured details that are safe to log (never
 * secrets).
 *
 * @example
 * if (err instanceof ToolgateError && err.code === "POLICY_INVALID") { ... }
 */
export class ToolgateError extends Error {
  readonly code: string;
  readonly data?: unknown;

  constructor(code: string, message: string, options?: { data?: unknown; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ToolgateError";
    this.code = code;
    if (options?.data !== undefined) this.data = options.data;
  }
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
