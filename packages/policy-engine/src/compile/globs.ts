import type { Effect } from "../contracts.js";
import { globLiterals, globToRegExp } from "../syntax.js";

/** A glob key with what ranks it against the others. */
export interface GlobEntry {
  readonly pattern: string;
  readonly re: RegExp;
  readonly literals: number;
  readonly wildcards: number;
}

const STRICTNESS: Readonly<Record<Effect, number>> = { deny: 0, require_approval: 1, allow: 2 };

/**
 * Glob order: more literal characters first, then fewer wildcards. Between equally
 * specific globs that both match a name, the stricter action wins (deny, then
 * require_approval, then allow), as everywhere else in the language; only then does
 * the key's sort order decide, so a tie can never quietly loosen a policy.
 */
export function compareGlobs(
  a: { readonly entry: GlobEntry; readonly action: Effect },
  b: { readonly entry: GlobEntry; readonly action: Effect },
): number {
  const x = a.entry;
  const y = b.entry;
  if (x.literals !== y.literals) return y.literals - x.literals;
  if (x.wildcards !== y.wildcards) return x.wildcards - y.wildcards;
  if (a.action !== b.action) return STRICTNESS[a.action] - STRICTNESS[b.action];
  return x.pattern < y.pattern ? -1 : x.pattern > y.pattern ? 1 : 0;
}

/** A glob key ready to match and rank. */
export function globEntry(pattern: string): GlobEntry {
  const literals = globLiterals(pattern);
  return { pattern, re: globToRegExp(pattern), literals, wildcards: pattern.length - literals };
}
