/**
 * Small parsers shared by the schema (to reject bad input with a precise message) and
 * the compiler (to turn the accepted text into fast structures): windows, argument
 * paths, globs and JSON paths for error messages.
 */

const NAMED_WINDOWS: Readonly<Record<string, number>> = {
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION = /^([1-9][0-9]{0,9})(ms|s|m|h|d)$/;

/** Longest window accepted (366 days): longer windows are almost always a typo. */
const MAX_WINDOW_MS = 366 * 86_400_000;

/**
 * Window text to milliseconds: `second`/`minute`/`hour`/`day` or `<n><unit>` with unit
 * `ms`, `s`, `m`, `h`, `d` (e.g. `30s`, `15m`). Returns `undefined` when invalid.
 */
export function parseWindow(text: string): number | undefined {
  // Own keys only: `__proto__` or `constructor` must not resolve to Object.prototype.
  if (Object.hasOwn(NAMED_WINDOWS, text)) return NAMED_WINDOWS[text];
  const m = DURATION.exec(text);
  if (m === null) return undefined;
  const ms = Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? Number.NaN);
  if (!Number.isFinite(ms) || ms < 1 || ms > MAX_WINDOW_MS) return undefined;
  return ms;
}

/** One step of an argument path: an object key or an array index. */
export type PathSegment = string | number;

const ARG_SEGMENT = /^[A-Za-z0-9_$-]+$/;

/**
 * `args.a.b[0]` → `["a", "b", 0]`. Only paths rooted at `args.` are accepted; keys may
 * contain letters, digits, `_`, `$` and `-`. Returns an error text when invalid.
 */
export function parseArgPath(text: string): PathSegment[] | string {
  if (!text.startsWith("args.")) return 'must start with "args."';
  const rest = text.slice(5);
  const out: PathSegment[] = [];
  for (const raw of rest.split(".")) {
    const m = /^([^[\]]*)((?:\[[0-9]+\])*)$/.exec(raw);
    if (m === null) return `"${raw}" is not a valid path segment`;
    const key = m[1] ?? "";
    const idx = m[2] ?? "";
    if (key === "" && (idx === "" || out.length === 0)) return "has an empty segment";
    if (key !== "") {
      if (!ARG_SEGMENT.test(key)) return `"${key}" may only contain letters, digits, _, $ and -`;
      out.push(key);
    }
    for (const n of idx.matchAll(/\[([0-9]+)\]/g)) out.push(Number(n[1]));
  }
  return out;
}

/** First segments an `identity.` path may start with, and the Identity field each reads. */
const IDENTITY_ROOTS: Readonly<Record<string, string>> = {
  grant: "grant",
  session: "session",
  sub: "sub",
  client_id: "clientId",
  scopes: "scopes",
  claims: "claims",
};

/** Where a condition path reads from: the call's arguments or the caller's identity. */
export type ConditionRoot = "args" | "identity";

/**
 * A condition path: `args.<path>` (see {@link parseArgPath}) or `identity.<field>` with
 * field `grant`, `session`, `sub`, `client_id`, `scopes` or `claims.<path>`. The
 * segments returned read the `Identity` object itself (`client_id` reads `clientId`).
 */
export function parseConditionPath(
  text: string,
): { root: ConditionRoot; segments: PathSegment[] } | string {
  if (!text.startsWith("identity.")) {
    const segments = parseArgPath(text);
    if (typeof segments === "string")
      return text.startsWith("args.") ? segments : 'must start with "args." or "identity."';
    return { root: "args", segments };
  }
  const parsed = parseArgPath(`args.${text.slice("identity.".length)}`);
  if (typeof parsed === "string") return parsed;
  const first = parsed[0];
  const field = typeof first === "string" ? IDENTITY_ROOTS[first] : undefined;
  if (field === undefined || !Object.hasOwn(IDENTITY_ROOTS, first as string))
    return `"identity.${String(first)}" is not an identity field (use grant, session, sub, client_id, scopes or claims.<name>)`;
  if (first === "claims" ? parsed.length < 2 : first !== "scopes" && parsed.length > 1)
    return first === "claims"
      ? 'names no claim (write "identity.claims.<name>")'
      : `"identity.${first}" has no fields below it`;
  return { root: "identity", segments: [field, ...parsed.slice(1)] };
}

/** Reads an argument path; `undefined` when any step is missing. Own properties only. */
export function readPath(root: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = root;
  for (let i = 0; i < path.length; i++) {
    if (cur === null || typeof cur !== "object") return undefined;
    const seg = path[i] as PathSegment;
    if (Array.isArray(cur)) {
      const idx = typeof seg === "number" ? seg : /^[0-9]+$/.test(seg) ? Number(seg) : -1;
      if (idx < 0 || idx >= cur.length) return undefined;
      cur = cur[idx];
    } else {
      const key = String(seg);
      if (!Object.hasOwn(cur, key)) return undefined;
      cur = (cur as Record<string, unknown>)[key];
    }
  }
  return cur;
}

/** True when a tool key or hide entry contains glob syntax (`*` or `?`). */
export function isGlob(pattern: string): boolean {
  return pattern.includes("*") || pattern.includes("?");
}

/**
 * Compiles a glob to an anchored RegExp. `*` (and `**`, which means the same) matches
 * any run of characters including none, `?` exactly one; everything else is literal.
 */
export function globToRegExp(pattern: string): RegExp {
  let src = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === "*") {
      while (pattern[i + 1] === "*") i++;
      src += "[\\s\\S]*";
    } else if (ch === "?") {
      src += "[\\s\\S]";
    } else {
      // Outside a character class the `u` flag rejects escapes like `\-` and `\/`, so
      // escape only characters that are special there.
      src += ch.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
    }
  }
  return new RegExp(src + "$", "u");
}

/** Literal (non-wildcard) characters of a glob: the primary specificity measure. */
export function globLiterals(pattern: string): number {
  let n = 0;
  for (const ch of pattern) if (ch !== "*" && ch !== "?") n++;
  return n;
}

const SIMPLE_KEY = /^[A-Za-z_$*?][A-Za-z0-9_$*?-]*$/;

/** JSON path text for messages and rule ids: `tools.x.limits[0].window`, `tools["a.b"]`. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of segments) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const key = String(seg);
      if (SIMPLE_KEY.test(key)) out += out === "" ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/** Edit distance counting swapped neighbours as one edit, for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const up = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(
        (up[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (up[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** The closest candidate within a small edit distance, if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return bestD <= limit ? best : undefined;
}
