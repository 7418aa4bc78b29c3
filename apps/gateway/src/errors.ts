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
 * The error type of the gateway app.
 *
 * @example
 * throw new GatewayError("APPROVAL_NOT_FOUND", `no pending approval ${id}`);
 */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  readonly code: GatewayErrorCode;
  readonly issues: readonly GatewayIssue[];

  constructor(code: GatewayErrorCode, message: string, issues: readonly GatewayIssue[] = []) {
    super(message);
    this.code = code;
    this.issues = issues;
  }
}

/** Renders issues one per line as `path: message (fix: ...)` for terminals and logs. */
export function formatIssues(issues: readonly GatewayIssue[]): string {
  return issues
    .map((i) => `  ${i.path || "(root)"}: ${i.message}${i.fix ? ` (fix: ${i.fix})` : ""}`)
    .join("\n");
}
