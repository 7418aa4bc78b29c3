import type { PolicyCondition, ToolRule } from "@toolgate/policy-engine";
import type { RiskAssessment } from "./classify.js";

/** How a starter policy treats a tool. */
export type RecommendedVerdict = "allow" | "limit" | "approve";

/** A rule suggestion for one tool, with the one-line reason written above it. */
export interface RiskRecommendation {
  readonly verdict: RecommendedVerdict;
  /** The policy rule to write under `tools.<name>`. */
  readonly rule: ToolRule;
  /** E.g. `high risk, execute → limit 10/minute per grant`. */
  readonly summary: string;
}

/** Per-minute limits by risk: what a person would start from, not a final answer. */
export const RECOMMENDED_LIMITS = { high: 10, medium: 30, low: 120 } as const;

/** Counter names must match `[A-Za-z0-9_.:-]+`; tool names may hold anything. */
function counterName(tool: string): string {
  const safe = tool.replace(/[^A-Za-z0-9_.:-]/g, "_").slice(0, 120);
  return `${safe || "tool"}_rate`;
}

/**
 * The per-risk recommendation: destructive and money-moving tools (and tools that run
 * code or commands) are held for a person's approval; other high-risk tools get a tight
 * limit plus argument conditions where the schema shows a file path or URL; medium ones
 * a moderate limit; low ones are allowed with a generous limit.
 *
 * @example
 * recommendRule(classifyToolRisk({ name: "delete_file" })).verdict // "approve"
 */
export function recommendRule(a: RiskAssessment): RiskRecommendation {
  const first = a.reasons[0]?.text ?? a.category;
  const runsCode = a.sensitiveArguments.some((s) => s.kind === "code");
  if (
    a.category === "destructive" ||
    a.category === "money" ||
    (a.category === "execute" && runsCode)
  ) {
    return {
      verdict: "approve",
      rule: { action: "require_approval", reason: `${a.tool} needs a person's approval: ${first}` },
      summary: `${a.risk} risk, ${a.category} → approval`,
    };
  }
  const max = RECOMMENDED_LIMITS[a.risk];
  const rule: {
    action?: "allow";
    limits: NonNullable<ToolRule["limits"]>;
    deny_if?: PolicyCondition[];
    require?: PolicyCondition[];
  } = {
    limits: [{ counter: counterName(a.tool), window: "minute", max, scope: "grant" }],
  };
  if (a.risk === "low") rule.action = "allow";
  if (a.risk === "high") {
    const files = a.sensitiveArguments.filter((s) => s.kind === "file");
    const urls = a.sensitiveArguments.filter((s) => s.kind === "url");
    if (files.length > 0)
      rule.deny_if = files.map((f) => ({
        path: f.path,
        op: "contains" as const,
        value: "..",
        reason: `${f.path} may not climb out of its folder with ".."`,
      }));
    if (urls.length > 0)
      rule.require = urls.map((u) => ({
        path: u.path,
        op: "regex" as const,
        value: "^https://",
        reason: `${u.path} must be an https:// URL`,
      }));
  }
  return {
    verdict: a.risk === "low" ? "allow" : "limit",
    rule,
    summary: `${a.risk} risk, ${a.category} → ${a.risk === "low" ? "allow" : "limit"} ${max}/minute per grant`,
  };
}
