/**
 * The logging seam, pino-compatible in call shape (object first, message second) so a
 * pino logger can be passed as is. Every method is optional: a component calls
 * `logger.warn?.(...)`. Loggers never receive secrets or argument values.
 */
export interface Logger {
  info?(obj: Record<string, unknown>, msg?: string): void;
  warn?(obj: Record<string, unknown>, msg?: string): void;
  error?(obj: Record<string, unknown>, msg?: string): void;
  debug?(obj: Record<string, unknown>, msg?: string): void;
}

/** The default logger: says nothing. */
export const silentLogger: Logger = Object.freeze({});
