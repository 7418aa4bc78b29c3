import type { PolicyDocument } from "@toolgate/policy-engine";

// Shadow publishing: the rules a draft changes go live in `mode: shadow` only.

function canonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  return `{${Object.keys(value)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
    .join(",")}}`;
}

/**
 * Every rule the draft adds or changes, in `mode: shadow`: it is decided and logged,
 * never enforced, while the rest of the policy stays in force. Changes the language
 * cannot shadow (default, hide, all_tools, removed rules) are reported.
 */
export function shadowChanges(
  live: PolicyDocument,
  draft: PolicyDocument,
): { document: PolicyDocument; notShadowed: string[] } {
  const tools: Record<string, NonNullable<PolicyDocument["tools"]>[string]> = {};
  for (const [key, rule] of Object.entries(draft.tools ?? {})) {
    const before = live.tools?.[key];
    tools[key] =
      before !== undefined && canonical(before) === canonical(rule)
        ? rule
        : { ...rule, mode: "shadow" };
  }
  const notShadowed: string[] = [];
  if ((live.default ?? "deny") !== (draft.default ?? "deny")) notShadowed.push("default");
  if (canonical(live.hide ?? []) !== canonical(draft.hide ?? [])) notShadowed.push("hide");
  if (canonical(live.all_tools ?? {}) !== canonical(draft.all_tools ?? {}))
    notShadowed.push("all_tools");
  for (const key of Object.keys(live.tools ?? {}))
    if (!(key in (draft.tools ?? {}))) notShadowed.push(`tools.${key} (removed)`);
  return { document: { ...draft, tools }, notShadowed };
}
