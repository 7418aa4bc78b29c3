import { Ajv } from "ajv";
import type { Logger } from "../options.js";

/** Checks a call's arguments; returns what is wrong, or undefined when they pass. */
export type ArgumentCheck = (args: unknown) => string | undefined;

/**
 * Compiles each tool's `inputSchema` once (cached per tool definition object, so a
 * re-listed tool is compiled again) and returns its check; undefined when the tool has
 * no schema or its schema does not compile (logged: a broken upstream schema must not
 * block every call to the tool).
 */
export function createArgumentValidator(
  logger: Logger,
): (exposed: string, tool: Record<string, unknown>) => ArgumentCheck | undefined {
  const ajv = new Ajv({ strict: false, allErrors: false });
  const cache = new WeakMap<object, ArgumentCheck | null>();
  return (exposed, tool) => {
    let v = cache.get(tool);
    if (v === undefined) {
      v = null;
      const schema = tool.inputSchema;
      if (schema && typeof schema === "object") {
        try {
          const { $schema: _s, ...rest } = schema as Record<string, unknown>;
          const check = ajv.compile(rest);
          v = (a: unknown) =>
            check(a)
              ? undefined
              : (check.errors ?? [])
                  .map((e) => `${e.instancePath || "(arguments)"} ${e.message ?? "is invalid"}`)
                  .join("; ");
        } catch (e) {
          logger.warn?.({ tool: exposed, err: String(e) }, "inputSchema does not compile");
        }
      }
      cache.set(tool, v);
    }
    return v ?? undefined;
  };
}
