import type { Logger as LoggerSeam } from "@toolgate/policy-engine";
import pino from "pino";

/** Paths pino replaces with `[redacted]`: credentials must never reach a log line. */
export const REDACT_PATHS = [
  "authorization",
  "apiKey",
  "apiSecret",
  "adminToken",
  "token",
  "password",
  "secret",
  "*.authorization",
  "*.apiKey",
  "*.apiSecret",
  "*.adminToken",
  "*.token",
  "*.password",
  "*.secret",
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers['x-mbx-apikey']",
  "headers.authorization",
  "headers['x-mbx-apikey']",
  "*.headers.authorization",
  "*.headers['x-mbx-apikey']",
  "config.approvals.adminToken",
  "config.grants.*.apiKey",
  "config.approvals.approvers.*.token",
];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Default: `LOG_LEVEL` or `info`. */
  readonly level?: string | undefined;
  /** Where lines go; default stderr so stdout stays for the start-up banner and CLI output. */
  readonly destination?: NodeJS.WritableStream | { write(s: string): void };
}

/**
 * A pino logger with secret redaction. Logs go to stderr by default.
 *
 * @example
 * const log = createLogger({ level: "debug" });
 * log.info({ apiKey: "x" }, "hello"); // apiKey is written as "[redacted]"
 */
export function createLogger(options: LoggerOptions = {}): pino.Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { service: "toolgate" },
    },
    (options.destination as pino.DestinationStream | undefined) ?? pino.destination(2),
  );
}
/**
 * The logger the app passes around: policy-engine's logging seam (the one `Logger` of
 * every package) with each level present, so the app calls `logger.warn(...)` without
 * `?.`. A pino logger (what {@link createLogger} returns) is one.
 */
export type Logger = Required<LoggerSeam>;
