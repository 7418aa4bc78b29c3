/** Compiles the guardrail parts of a policy (`pins`, per-tool `pin` and `results`). */

import type { z } from "zod";
import type { PinsSchema, PolicyResults } from "../schema.js";
import type { PinSettings } from "./definition.js";
import type { DetectorName } from "./detectors.js";
import {
  type CompiledRedaction,
  type CompiledResultPolicy,
  parseJsonPath,
} from "./result-guard.js";

/**
 * The policy's pin settings with defaults filled in (`enforce`, `hide`), or `undefined`
 * when the policy neither sets `pins` nor pins any tool (the feature is off).
 */
export function compilePinSettings(
  pins: z.infer<typeof PinsSchema> | undefined,
  anyPin: boolean,
): PinSettings | undefined {
  if (pins === undefined && !anyPin) return undefined;
  return { mode: pins?.mode ?? "enforce", onMismatch: pins?.on_mismatch ?? "hide" };
}

/** Compiles one validated `results` entry; `ruleId` is its policy path. */
export function compileResultPolicy(
  raw: PolicyResults,
  ruleId: string,
  shadow: boolean,
): CompiledResultPolicy {
  const redact: CompiledRedaction[] = (raw.redact ?? []).map((entry, i) => {
    if (typeof entry === "string") return { kind: "detector", name: entry as DetectorName };
    const o = entry as { regex?: string; flags?: string; path?: string; name?: string };
    if (o.regex !== undefined)
      return {
        kind: "regex",
        name: o.name ?? `regex[${i}]`,
        re: new RegExp(o.regex, `g${o.flags ?? ""}`),
      };
    const steps = parseJsonPath(o.path!);
    if (typeof steps === "string") throw new TypeError(`${ruleId}.redact[${i}].path ${steps}`);
    return { kind: "path", name: o.name ?? "path", path: steps };
  });
  return {
    ruleId,
    redact,
    maxBytes: raw.maxBytes,
    onViolation: raw.on_violation ?? "truncate",
    deny: (raw.deny ?? []).map((r) => new RegExp(r, "i")),
    shadow,
  };
}

/** A readable one-line summary of a result policy, for `explain`. */
export function describeResultPolicy(raw: PolicyResults): string {
  const parts: string[] = [];
  if (raw.redact !== undefined && raw.redact.length > 0) {
    parts.push(
      `redact ${raw.redact
        .map((r) =>
          typeof r === "string"
            ? r
            : (r as { regex?: string }).regex !== undefined
              ? `regex ${(r as { name?: string }).name ?? ""}`.trim()
              : `path ${(r as { path: string }).path}`,
        )
        .join(", ")}`,
    );
  }
  if (raw.maxBytes !== undefined)
    parts.push(`max ${raw.maxBytes} bytes, then ${raw.on_violation ?? "truncate"}`);
  if (raw.deny !== undefined && raw.deny.length > 0)
    parts.push(`deny on ${raw.deny.length} pattern(s)`);
  return parts.join("; ");
}
