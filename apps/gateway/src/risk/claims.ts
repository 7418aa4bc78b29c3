import type { RiskCategory, RiskLevel, RiskReason } from "./classify.js";
import type { Signals } from "./signals.js";

/**
 * Annotation claims that make a tool look safer than its definition says, listed and
 * explained in `reasons` (which it extends in place); also notes agreeing and missing
 * annotations and a missing description.
 */
export function weighClaims(
  s: Signals,
  category: RiskCategory,
  risk: RiskLevel,
  reasons: RiskReason[],
): string[] {
  const a = s.annotations;
  const verb = s.verb;
  const contradicted: string[] = [];
  if (a.readOnlyHint === true && category !== "read") {
    contradicted.push("readOnlyHint: true");
    reasons.splice(1, 0, {
      signal: "annotations",
      text: `annotated readOnlyHint: true, but ${reasons[0]?.text ?? "the definition says otherwise"} (the claim is not trusted)`,
    });
  }
  if (a.destructiveHint === false && category === "destructive") {
    contradicted.push("destructiveHint: false");
    reasons.push({
      signal: "annotations",
      text: "annotated destructiveHint: false, but the name or description says it destroys (the claim is not trusted)",
    });
  }
  if (a.readOnlyHint === true && category === "read" && risk === "high") {
    contradicted.push("readOnlyHint: true (as harmless)");
    reasons.push({
      signal: "annotations",
      text: "annotated readOnlyHint: true, which is true but not harmless: what it reads is sensitive",
    });
  }
  if (
    a.readOnlyHint === true &&
    category === "read" &&
    verb &&
    !reasons.some((r) => r.signal === "annotations")
  ) {
    reasons.push({ signal: "annotations", text: "annotated readOnlyHint: true (agrees)" });
  }
  if (!s.tool.annotations && reasons.length < 3) {
    reasons.push({
      signal: "annotations",
      text: "no annotations: judged from the definition alone",
    });
  }
  if (s.description === "" && category === "other") {
    reasons.push({ signal: "description", text: "no description" });
  }
  return contradicted;
}
