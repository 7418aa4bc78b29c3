import { ToolgateError } from "@toolgate/policy-engine";

/**
 * Stable error codes of the gateway app. Anything the gateway throws on purpose is a
 * {@link GatewayError} carrying one of these, so the CLI and the admin API can map it
 * to an exit code or an HTTP status without parsing messages.
 */
export const GatewayErrorCode = {
  /** The config file failed validation; `issues` lists every problem by path. */
  CONFIG_INVALID: "CONFIG_INVALID",
  /** The config file (or a file it names) could not be read. */
  CONFIG_UNREADABLE: "CONFIG_UNREADABLE",
  /** A `${ENV_VAR}` reference in the config names a variable that is not set. */
  CONFIG_ENV_MISSING: "CONFIG_ENV_MISSING",
  /** No pending approval with that id (never existed, or expired from the store). */
  APPROVAL_NOT_FOUND: "APPROVAL_NOT_FOUND",
  /** The approval was already approved, rejected or timed out: approvals are single use. */
  APPROVAL_ALREADY_RESOLVED: "APPROVAL_ALREADY_RESOLVED",
  /** The approval store (memory or Redis) failed. */
  APPROVAL_STORE_FAILED: "APPROVAL_STORE_FAILED",
  /** A CLI invocation was malformed (unknown flag, missing argument). */
  CLI_USAGE: "CLI_USAGE",
  /** `scan` could not connect to or list the upstream. */
  SCAN_FAILED: "SCAN_FAILED",
  // Policy studio (src/studio): mapped to HTTP statuses by its router.
  /** The studio was asked about a grant the config does not have. */
  STUDIO_UNKNOWN_GRANT: "STUDIO_UNKNOWN_GRANT",
  /** A draft policy is not valid; `issues` gives every problem by path with a fix. */
  STUDIO_POLICY_INVALID: "STUDIO_POLICY_INVALID",
  /** The policy file changed since the draft was opened; reload and redo the edit. */
  STUDIO_CONFLICT: "STUDIO_CONFLICT",
  /** The grant runs on the built-in default policy, which the studio does not overwrite. */
  STUDIO_READ_ONLY: "STUDIO_READ_ONLY",
  /** No policy test file sits next to the grant's policy. */
  STUDIO_NO_TESTS: "STUDIO_NO_TESTS",
  /** The file was written but the gateway refused to load it (the last good policy stays). */
  STUDIO_PUBLISH_FAILED: "STUDIO_PUBLISH_FAILED",
} as const;
/** One of the {@link GatewayErrorCode} values. */
export type GatewayErrorCode = (typeof GatewayErrorCode)[keyof typeof GatewayErrorCode];

/** One problem found in a config or input, by path, with a suggested fix. */
export interface GatewayIssue {
  readonly path: string;
  readonly message: string;
  readonly fix?: string | undefined;
}

/**
 * The error type of the gateway app: a policy-engine {@link ToolgateError} (the one
 * error root of every Toolgate package) with the app's local codes and the problems by
 * path. `issues` is also in `data`, so code that only knows `ToolgateError` logs them.
 *
 * @example
 * throw new GatewayError("APPROVAL_NOT_FOUND", `no pending approval ${id}`);
 */
export class GatewayError extends ToolgateError<GatewayErrorCode> {
  readonly issues: readonly GatewayIssue[];

  constructor(
    code: GatewayErrorCode,
    message: string,
    issues: readonly GatewayIssue[] = [],
    options: { cause?: unknown } = {},
  ) {
    super(code, message, { data: issues.length > 0 ? { issues } : undefined, ...options });
    this.name = "GatewayError";
    this.issues = issues;
  }
}

/** Renders issues one per line as `path: message (fix: ...)` for terminals and logs. */
export function formatIssues(issues: readonly GatewayIssue[]): string {
  return issues
    .map((i) => `  ${i.path || "(root)"}: ${i.message}${i.fix ? ` (fix: ${i.fix})` : ""}`)
    .join("\n");
}
