import { ToolgateError } from "@toolgate/policy-engine";

/** Stable codes of {@link GuardError}. */
export const GuardErrorCode = {
  /** An option is missing or of the wrong kind; the message names each bad path. */
  GUARD_OPTIONS_INVALID: "GUARD_OPTIONS_INVALID",
  /** The object passed is not an `McpServer` of SDK 1.x or 2.x. */
  GUARD_UNSUPPORTED_SERVER: "GUARD_UNSUPPORTED_SERVER",
  /** The server is already guarded; a second guard would count every call twice. */
  GUARD_ALREADY_APPLIED: "GUARD_ALREADY_APPLIED",
} as const;
export type GuardErrorCode = (typeof GuardErrorCode)[keyof typeof GuardErrorCode];

/** Thrown by `guardMcpServer` at set-up time; calls themselves never throw it. */
export class GuardError extends ToolgateError {
  declare readonly code: GuardErrorCode;
  constructor(code: GuardErrorCode, message: string, data?: unknown) {
    super(code, message, data === undefined ? undefined : { data });
    this.name = "GuardError";
  }
}
