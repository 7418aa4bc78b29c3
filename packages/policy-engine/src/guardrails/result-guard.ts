/**
 * The result guard: what a tool result may carry back to the model. Redaction by
 * built-in detectors, regexes and JSON paths into `structuredContent`; a size limit
 * (truncate or deny); patterns that deny the whole result. Pure and framework-free:
 * the runtime calls {@link guardResult} on every `tools/call` result and
 * {@link guardText} on progress/log notification text of the same tool.
 *
 * Consistency: redaction runs in two passes. Pass 1 finds every secret value anywhere
 * (text content, structured content, embedded resources, including JSON inside text);
 * pass 2 removes each found value everywhere. So a value caught in one representation
 * never survives in another (a listen key found under `structuredContent.listenKey` is
 * also removed from the text content that repeats it). Counts are occurrences removed
 * per detector; the values themselves are never returned.
 */
import { type DetectorName, findSecrets, isListenKeyField } from "./detectors.js";

/** One redaction rule, compiled. */
export type CompiledRedaction =
  | { readonly kind: "detector"; readonly name: DetectorName }
  | { readonly kind: "regex"; readonly name: string; readonly re: RegExp }
  | { readonly kind: "path"; readonly name: string; readonly path: readonly PathStep[] };

/** A step of a JSON path: a key, an index, or `*` (any key or index). */
export type PathStep = string | number | { readonly any: true };

/** A tool's result policy, compiled (see `results` in the policy language). */
export interface CompiledResultPolicy {
  /** Policy path of the `results` entry, e.g. `tools.binance_us_*.results`. */
  readonly ruleId: string;
  readonly redact: readonly CompiledRedaction[];
  readonly maxBytes?: number | undefined;
  /** What an oversize result gets: cut to fit, or denied. */
  readonly onViolation: "truncate" | "deny";
  /** A result with a string matching one of these is denied. */
  readonly deny: readonly RegExp[];
  /** The governing rule is in `mode: shadow`: report only, pass the result unchanged. */
  readonly shadow: boolean;
}

/** What the guard did to one result. */
export interface ResultGuardOutcome {
  /** `pass`: unchanged. `redacted`/`truncated`: `result` is the cleaned copy. `deny`: do not deliver. */
  readonly action: "pass" | "redacted" | "truncated" | "deny";
  /** The result to deliver (the original when `pass`, shadow or `deny`). */
  readonly result: unknown;
  /** Occurrences removed, per detector / rule name. Never the values. */
  readonly counts: Readonly<Record<string, number>>;
  /** Size of the serialized result before and after. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Why it was denied or truncated, for the agent and the audit log (never a value). */
  readonly reason?: string | undefined;
  /** Policy path that decided. */
  readonly ruleId: string;
  /** Set in shadow mode: what would have happened; the original was delivered. */
  readonly shadow?: { readonly action: "redacted" | "truncated" | "deny" } | undefined;
}

const MARK = (name: string) => `[REDACTED:${name}]`;
/** Literal values shorter than this are redacted where found but not chased elsewhere. */
const MIN_LITERAL = 4;
/** Parsing JSON inside text is bounded so a huge text does not cost twice. */
const MAX_TEXT_JSON = 4 * 1024 * 1024;
const utf8 = new TextEncoder();

/**
 * Parses `$.a.b[0].*`, `$.items[*].secret`, `$["odd key"]` into steps.
 *
 * @returns the steps, or a message naming the problem.
 */
export function parseJsonPath(path: string): PathStep[] | string {
  if (!path.startsWith("$")) return "must start with $ (the root of structuredContent)";
  const steps: PathStep[] = [];
  const re = /\.([A-Za-z_$][A-Za-z0-9_$-]*)|\.\*|\[(\d+)\]|\[\*\]|\["((?:[^"\\]|\\.)*)"\]/y;
  re.lastIndex = 1;
  while (re.lastIndex < path.length) {
    const at = re.lastIndex;
    const m = re.exec(path);
    if (m === null) return `has an unreadable step at character ${at}`;
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push(Number(m[2]));
    else if (m[3] !== undefined) steps.push(JSON.parse(`"${m[3]}"`) as string);
    else steps.push({ any: true });
  }
  if (steps.length === 0) return "must name at least one step below $";
  return steps;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Calls `fn(parent, key)` for every node `steps` reach in `root`. */
function visitPath(
  root: Json,
  steps: readonly PathStep[],
  fn: (parent: Json[] | { [k: string]: Json }, key: string | number) => void,
): void {
  const go = (node: Json, i: number): void => {
    if (node === null || typeof node !== "object") return;
    const step = steps[i]!;
    const last = i === steps.length - 1;
    const keys: Array<string | number> =
      typeof step === "object"
        ? Array.isArray(node)
          ? node.map((_, j) => j)
          : Object.keys(node)
        : [step];
    for (const k of keys) {
      const child = (node as Record<string | number, Json>)[k];
      if (child === undefined) continue;
      if (Array.isArray(node) !== (typeof k === "number")) continue;
      if (last) fn(node, k);
      else go(child, i + 1);
    }
  };
  go(root, 0);
}

/** Every string and number leaf under `v`. */
function leaves(v: Json, out: string[]): void {
  if (typeof v === "string") out.push(v);
  else if (typeof v === "number") out.push(String(v));
  else if (v !== null && typeof v === "object")
    for (const c of Object.values(v)) leaves(c as Json, out);
}

/** Calls `fn` on every string of the deliverable parts of a result, with its key. */
function eachString(
  node: Json,
  fn: (s: string, key: string | undefined) => string,
  key?: string,
): Json {
  if (typeof node === "string") return fn(node, key);
  if (Array.isArray(node)) return node.map((c) => eachString(c, fn, key));
  if (node !== null && typeof node === "object") {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(node)) {
      // Binary image/audio data is not text; `blob` is handled by the caller.
      out[k] = k === "data" || k === "mimeType" || k === "type" ? v : eachString(v, fn, k);
    }
    return out;
  }
  return node;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

interface Work {
  literals: Map<string, string>;
  counts: Record<string, number>;
}

function collect(policy: CompiledResultPolicy, text: string, key: string | undefined, w: Work) {
  for (const r of policy.redact) {
    if (r.kind === "detector") {
      if (r.name === "binance_listen_key" && isListenKeyField(key, text))
        addLiteral(w, text, r.name);
      for (const s of findSecrets(r.name, text)) addLiteral(w, s, r.name);
    } else if (r.kind === "regex") {
      r.re.lastIndex = 0;
      for (const m of text.matchAll(r.re)) {
        const s = m[1] ?? m[0];
        if (s.length > 0) addLiteral(w, s, r.name);
      }
    }
  }
}

function addLiteral(w: Work, value: string, name: string): void {
  if (!w.literals.has(value)) w.literals.set(value, name);
}

/** Replaces every collected literal in `s` (longest first), counting per detector. */
function replacer(w: Work): (s: string) => string {
  if (w.literals.size === 0) return (s) => s;
  const all = [...w.literals.keys()].sort((a, b) => b.length - a.length);
  const re = new RegExp(all.map(escapeRe).join("|"), "g");
  return (s) =>
    s.replace(re, (m) => {
      const name = w.literals.get(m)!;
      w.counts[name] = (w.counts[name] ?? 0) + 1;
      return MARK(name);
    });
}

/** Applies the path rules to `root` (structured content or JSON in a text). */
function redactPaths(policy: CompiledResultPolicy, root: Json, w: Work, count: boolean): number {
  let hits = 0;
  for (const r of policy.redact) {
    if (r.kind !== "path") continue;
    visitPath(root, r.path, (parent, k) => {
      const v = (parent as Record<string | number, Json>)[k]!;
      const found: string[] = [];
      leaves(v, found);
      for (const s of found) if (s.length >= MIN_LITERAL) addLiteral(w, s, r.name);
      (parent as Record<string | number, Json>)[k] = MARK(r.name);
      hits++;
      if (count) w.counts[r.name] = (w.counts[r.name] ?? 0) + 1;
    });
  }
  return hits;
}

function tryJson(text: string): Json | undefined {
  if (text.length > MAX_TEXT_JSON) return undefined;
  const c = text.trimStart()[0];
  if (c !== "{" && c !== "[") return undefined;
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
}

function decodeBlob(b64: string): string | undefined {
  const buf = Buffer.from(b64, "base64");
  const s = buf.toString("utf8");
  // Only text blobs are inspected; binary stays as it is.
  return s.includes("\uFFFD") || Buffer.from(s, "utf8").toString("base64") !== b64 ? undefined : s;
}

/**
 * Redacts one string the way results are redacted (detectors and regexes; path rules
 * need structure): for progress and log notifications of a guarded tool.
 *
 * @example guardText(policy, "listenKey=Ab3…").text // "listenKey=[REDACTED:binance_listen_key]"
 */
export function guardText(
  policy: CompiledResultPolicy,
  text: string,
): { text: string; counts: Record<string, number>; denied: boolean } {
  const w: Work = { literals: new Map(), counts: {} };
  const denied = policy.deny.some((re) => {
    re.lastIndex = 0;
    return re.test(text);
  });
  collect(policy, text, undefined, w);
  const out = replacer(w)(text);
  return { text: policy.shadow ? text : out, counts: w.counts, denied: denied && !policy.shadow };
}

function byteSize(v: unknown): number {
  return utf8.encode(JSON.stringify(v) ?? "").length;
}

/** Cuts a string to at most `bytes` UTF-8 bytes without splitting a character. */
function cutUtf8(s: string, bytes: number): string {
  if (bytes <= 0) return "";
  const enc = utf8.encode(s);
  if (enc.length <= bytes) return s;
  let end = bytes;
  while (end > 0 && (enc[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(enc.subarray(0, end));
}

/**
 * Applies a result policy to a `tools/call` result (`{ content, structuredContent?,
 * isError? }`) or a `resources/read` result (`{ contents }`). Returns what to deliver and what was done, with counts per detector.
 *
 * @example
 * const out = guardResult(policy, result);
 * if (out.action === "deny") return toolError(out.reason);
 * metrics.redactions(tool, out.counts); // never the values
 * return out.result;
 */
export function guardResult(policy: CompiledResultPolicy, result: unknown): ResultGuardOutcome {
  const bytesIn = byteSize(result);
  const base = { ruleId: policy.ruleId, bytesIn };
  const sizeOnly = policy.redact.length === 0 && policy.deny.length === 0;
  // Nothing to look for and within size (or no size limit): no copy, no walk.
  const fits = policy.maxBytes === undefined || bytesIn <= policy.maxBytes;
  if (result === null || typeof result !== "object" || (sizeOnly && fits)) {
    return { ...base, action: "pass", result, counts: {}, bytesOut: bytesIn };
  }
  const src = JSON.parse(JSON.stringify(result)) as { [k: string]: Json };
  const w: Work = { literals: new Map(), counts: {} };
  const { texts, deniedBy } = findAll(policy, src, w);
  const deny = (reason: string): ResultGuardOutcome =>
    policy.shadow
      ? {
          ...base,
          action: "pass",
          result,
          counts: w.counts,
          bytesOut: bytesIn,
          reason,
          shadow: { action: "deny" },
        }
      : { ...base, action: "deny", result, counts: w.counts, bytesOut: 0, reason };
  if (deniedBy !== undefined)
    return deny(
      `result denied by ${policy.ruleId}.deny[${deniedBy}] (it matched a denied pattern)`,
    );
  let out = removeAll(src, texts, w);
  let action: ResultGuardOutcome["action"] = Object.keys(w.counts).length > 0 ? "redacted" : "pass";
  let reason: string | undefined;
  let size = byteSize(out);
  const max = policy.maxBytes;
  if (max !== undefined && size > max) {
    if (policy.onViolation === "deny")
      return deny(`result of ${size} bytes exceeds ${policy.ruleId}.maxBytes (${max})`);
    const cut = truncate(out, max);
    if (cut === undefined)
      return deny(`result exceeds ${policy.ruleId}.maxBytes (${max}) even with its text cut`);
    out = cut;
    size = byteSize(out);
    action = "truncated";
    reason = `result cut from ${bytesIn} to ${size} bytes (${policy.ruleId}.maxBytes ${max})`;
  }
  const why = reason !== undefined ? { reason } : {};
  if (policy.shadow) {
    const would = action !== "pass" ? { shadow: { action } } : {};
    return {
      ...base,
      action: "pass",
      result,
      counts: w.counts,
      bytesOut: bytesIn,
      ...why,
      ...would,
    };
  }
  const pass = action === "pass";
  return {
    ...base,
    action,
    result: pass ? result : out,
    counts: w.counts,
    bytesOut: pass ? bytesIn : size,
    ...why,
  };
}

/** A text or text blob of the result, found in pass 1 and rewritten in pass 2. */
interface TextSite {
  readonly item: { [k: string]: Json };
  readonly field: "text" | "blob";
  /** The text parsed as JSON, when path rules matched inside it. */
  readonly json?: Json;
}

/**
 * Pass 1: finds every secret in the copy `src` (path rules first, so their values are
 * chased through the texts), and the first `deny` pattern that matches, if any.
 */
function findAll(
  policy: CompiledResultPolicy,
  src: { [k: string]: Json },
  w: Work,
): { texts: TextSite[]; deniedBy: number | undefined } {
  let deniedBy: number | undefined;
  const scan = (s: string, key: string | undefined): string => {
    if (key === "blob") return s;
    if (deniedBy === undefined) {
      const i = policy.deny.findIndex((re) => {
        re.lastIndex = 0;
        return re.test(s);
      });
      if (i >= 0) deniedBy = i;
    }
    collect(policy, s, key, w);
    return s;
  };
  const hasPaths = policy.redact.some((r) => r.kind === "path");
  if (src.structuredContent !== undefined && hasPaths)
    redactPaths(policy, src.structuredContent, w, true);
  const texts: TextSite[] = [];
  for (const item of items(src)) {
    if (item === null || typeof item !== "object" || Array.isArray(item)) continue;
    const holders = [item, item.resource].filter(
      (h): h is { [k: string]: Json } => h !== null && typeof h === "object" && !Array.isArray(h),
    );
    for (const h of holders) {
      if (typeof h.text === "string") {
        let json = hasPaths ? tryJson(h.text) : undefined;
        if (json !== undefined && redactPaths(policy, json, w, false) === 0) json = undefined;
        texts.push({ item: h, field: "text", ...(json !== undefined && { json }) });
      }
      if (typeof h.blob === "string") {
        const s = decodeBlob(h.blob);
        if (s !== undefined) {
          scan(s, undefined);
          texts.push({ item: h, field: "blob" });
        }
      }
    }
  }
  eachString(src as Json, scan);
  return { texts, deniedBy };
}

/**
 * The content items of a result: a tool result's `content`, and a `resources/read`
 * result's `contents` (each a text or a blob of one resource).
 */
function items(res: { [k: string]: Json }): Json[] {
  return [
    ...(Array.isArray(res.content) ? res.content : []),
    ...(Array.isArray(res.contents) ? res.contents : []),
  ];
}

/** Pass 2: removes every value found, everywhere (texts, JSON in texts, text blobs). */
function removeAll(
  src: { [k: string]: Json },
  texts: readonly TextSite[],
  w: Work,
): { [k: string]: Json } {
  const rep = replacer(w);
  for (const t of texts) {
    if (t.field === "text") {
      if (t.json !== undefined) {
        const pretty = /\n/.test(t.item.text as string);
        t.item.text = JSON.stringify(t.json, null, pretty ? 2 : undefined);
      }
    } else {
      const s = decodeBlob(t.item.blob as string)!;
      t.item.blob = Buffer.from(rep(s), "utf8").toString("base64");
    }
  }
  return eachString(src as Json, (s, key) => (key === "blob" ? s : rep(s))) as {
    [k: string]: Json;
  };
}

const CUT_NOTE = (n: number) => `\n[truncated ${n} bytes]`;

/**
 * Cuts text content (last items first) until the whole result fits `max` bytes.
 * `undefined` when even empty texts do not fit (structured content alone too big).
 */
function truncate(res: { [k: string]: Json }, max: number): { [k: string]: Json } | undefined {
  const out = JSON.parse(JSON.stringify(res)) as { [k: string]: Json };
  const texts = items(out).filter(
    (i): i is { [k: string]: Json } =>
      i !== null && typeof i === "object" && !Array.isArray(i) && typeof i.text === "string",
  );
  for (let i = texts.length - 1; i >= 0; i--) {
    const over = byteSize(out) - max;
    if (over <= 0) return out;
    const text = texts[i]!.text as string;
    const len = utf8.encode(text).length;
    // Room for the note, whose own length is at most ~32 bytes.
    const keep = Math.max(0, len - over - 40);
    texts[i]!.text = cutUtf8(text, keep) + CUT_NOTE(len - keep);
  }
  return byteSize(out) <= max ? out : undefined;
}
