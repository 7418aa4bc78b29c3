import type { PolicyIssue } from "../errors.js";
import { formatPath, isGlob, parseWindow } from "../syntax.js";

interface CounterUse {
  algorithm: string;
  burst: unknown;
  window: string;
  windowMs: number;
  max: number;
  scope: string;
  path: string;
}

/**
 * Checks that span fields: a counter shared by several limits must agree on window,
 * max and scope (otherwise "two tools share it" has no single meaning). Written
 * defensively over the raw input so it runs even when other parts are malformed.
 */ export function crossFieldIssues(input: unknown): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const seen = new Map<string, CounterUse>();
  const visit = (limits: unknown, base: PropertyKey[]) => {
    if (!Array.isArray(limits)) return;
    limits.forEach((lim: unknown, i) => {
      if (lim === null || typeof lim !== "object") return;
      const l = lim as Record<string, unknown>;
      if (typeof l.counter !== "string" || typeof l.window !== "string") return;
      const windowMs = parseWindow(l.window);
      if (windowMs === undefined || typeof l.max !== "number") return;
      const scope = typeof l.scope === "string" ? l.scope : "grant";
      const here = formatPath([...base, i]);
      const prev = seen.get(l.counter);
      if (prev === undefined) {
        seen.set(l.counter, {
          algorithm: typeof l.algorithm === "string" ? l.algorithm : "fixed",
          burst: l.burst,
          window: l.window,
          windowMs,
          max: l.max,
          scope,
          path: here,
        });
        return;
      }
      const diffs: string[] = [];
      if (prev.windowMs !== windowMs) diffs.push(`window "${l.window}" vs "${prev.window}"`);
      if (prev.max !== l.max) diffs.push(`max ${l.max} vs ${prev.max}`);
      if (prev.scope !== scope) diffs.push(`scope "${scope}" vs "${prev.scope}"`);
      const algorithm = typeof l.algorithm === "string" ? l.algorithm : "fixed";
      if (prev.algorithm !== algorithm)
        diffs.push(`algorithm "${algorithm}" vs "${prev.algorithm}"`);
      if (prev.burst !== l.burst) diffs.push(`burst ${String(l.burst)} vs ${String(prev.burst)}`);
      if (diffs.length > 0)
        issues.push({
          path: here,
          message: `counter "${l.counter}" is also defined at ${prev.path} with different settings (${diffs.join(", ")})`,
          fix: `use the same window, max, scope, algorithm and burst as ${prev.path}, or give this limit its own counter name`,
        });
    });
  };
  if (input !== null && typeof input === "object") {
    const root = input as Record<string, unknown>;
    const all = root.all_tools;
    if (all !== null && typeof all === "object")
      visit((all as Record<string, unknown>).limits, ["all_tools", "limits"]);
    const tools = root.tools;
    if (tools !== null && typeof tools === "object" && !Array.isArray(tools)) {
      for (const [key, rule] of Object.entries(tools)) {
        if (rule !== null && typeof rule === "object") {
          visit((rule as Record<string, unknown>).limits, ["tools", key, "limits"]);
          // A pin is the digest of one definition; a glob names many tools.
          if ((rule as Record<string, unknown>).pin !== undefined && isGlob(key))
            issues.push({
              path: formatPath(["tools", key, "pin"]),
              message: `a pin belongs to one tool, but "${key}" is a glob`,
              fix: "move the pin to an entry with the exact tool name",
            });
        }
      }
    }
  }
  return issues;
}
