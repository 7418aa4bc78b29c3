import type { z } from "zod";
import { PolicyErrorCode, ToolgateError } from "../errors.js";

/**
 * Zod issues as `<what>.<path>: <message>` lines, so an options error names the exact
 * field to fix. Shared by every package's option parsing.
 *
 * @example zodIssueLines(err, "memory store options") // ["memory store options.sweepIntervalMs: ..."]
 */
export function zodIssueLines(error: z.ZodError, what: string): string[] {
  return error.issues.map((i) => {
    const path = i.path.length > 0 ? i.path.join(".") : "(root)";
    return `${what}.${path}: ${i.message}`;
  });
}

/**
 * Validates a factory's options when the factory is called, so a bad option fails at
 * start-up. Throws `OPTIONS_INVALID` whose message names every bad path.
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = zodIssueLines(result.error, what);
  throw new ToolgateError(
    PolicyErrorCode.OPTIONS_INVALID,
    `invalid ${what}: ${issues.join("; ")}`,
    { data: { issues } },
  );
}
