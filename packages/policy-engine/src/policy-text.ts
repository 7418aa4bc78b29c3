/**
 * Policy text and files: JSON or YAML in, a validated document out, with every error
 * naming the file, the path and the fix; and merging several documents into one.
 */
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { z } from "zod";
import { PolicyError, PolicyErrorCode, type PolicyIssue } from "./errors.js";
import { type PolicyDocument, type PolicyLimit, parsePolicy, type ToolRule } from "./schema.js";
import { parseOptions } from "./seams/options.js";
import { formatPath } from "./syntax.js";

/** Options of {@link parsePolicyText}. */
export const ParsePolicyTextOptionsSchema = z
  .object({
    /** File name for messages; its extension (`.json`, `.yaml`, `.yml`) picks the format. */
    source: z.string().optional(),
    /** Overrides detection. Without it: extension, else JSON when the text starts with `{`. */
    format: z.enum(["json", "yaml"]).optional(),
  })
  .strict();

/** Options of {@link parsePolicyText}, derived from {@link ParsePolicyTextOptionsSchema}. */
export type ParsePolicyTextOptions = z.input<typeof ParsePolicyTextOptionsSchema>;

function detectFormat(text: string, opts: ParsePolicyTextOptions): "json" | "yaml" {
  if (opts.format !== undefined) return opts.format;
  const src = opts.source?.toLowerCase() ?? "";
  if (src.endsWith(".json")) return "json";
  if (src.endsWith(".yaml") || src.endsWith(".yml")) return "yaml";
  return text.trimStart().startsWith("{") ? "json" : "yaml";
}

/**
 * Parses policy text (JSON or YAML) and validates it.
 *
 * @throws PolicyError `POLICY_PARSE` for broken syntax, `POLICY_INVALID` for a bad policy.
 * @example
 * const doc = parsePolicyText('version: "1"\ndefault: deny\n', { format: "yaml" });
 */
export function parsePolicyText(
  text: string,
  options: ParsePolicyTextOptions = {},
): PolicyDocument {
  const opts = parseOptions(ParsePolicyTextOptionsSchema, options, "parsePolicyText options");
  const format = detectFormat(text, opts);
  let value: unknown;
  try {
    value = format === "json" ? JSON.parse(text) : parseYamlStrict(text);
  } catch (err) {
    throw new PolicyError(
      PolicyErrorCode.POLICY_PARSE,
      [
        {
          path: "",
          message: `not valid ${format.toUpperCase()}: ${(err as Error).message}`,
          fix: `fix the ${format.toUpperCase()} syntax at the position given`,
        },
      ],
      { source: opts.source, cause: err },
    );
  }
  if (format === "json") rejectDuplicateJsonKeys(text, opts.source);
  return parsePolicy(value, opts.source);
}

/**
 * YAML with its warnings treated as errors: an unknown tag (`!!foo`) or an ambiguous
 * alias would otherwise become a plain string plus a process warning on stderr, and a
 * policy that means something other than what its author wrote must be refused.
 * `merge` lets YAML policies share rule bodies with `<<: *anchor`; duplicate keys are
 * errors (the yaml default), never a silent "last one wins".
 */
function parseYamlStrict(text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, merge: true, uniqueKeys: true });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw problem;
  // Alias expansion stays bounded (the "billion laughs" document is refused).
  return doc.toJS({ maxAliasCount: 100 });
}

/**
 * `JSON.parse` keeps the last of two equal keys without a word, so a second
 * `"binance_us_create_listen_key"` entry would silently replace the first rule. One
 * linear scan over text `JSON.parse` already accepted finds every duplicate (a general
 * YAML/JSON document parser took seconds on multi-megabyte policies).
 */
function rejectDuplicateJsonKeys(text: string, source: string | undefined): void {
  const issues: PolicyIssue[] = [];
  // Per open container: its keys so far (objects) or undefined (arrays), and its path.
  const keys: (Set<string> | undefined)[] = [];
  const path: PropertyKey[] = [];
  let expectKey = false;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22) {
      const start = i;
      for (i++; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 0x5c) i++;
        else if (c === 0x22) break;
      }
      const own = keys[keys.length - 1];
      if (expectKey && own !== undefined) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        path[path.length - 1] = key;
        if (own.has(key))
          issues.push({
            path: formatPath(path),
            message: `duplicate key "${key}" at line ${line}, column ${start - lineStart + 1}`,
            fix: "keep one entry per key (merge the two entries into one)",
          });
        else own.add(key);
        expectKey = false;
      }
    } else if (ch === 0x7b || ch === 0x5b) {
      keys.push(ch === 0x7b ? new Set() : undefined);
      path.push(0);
      expectKey = ch === 0x7b;
    } else if (ch === 0x7d || ch === 0x5d) {
      keys.pop();
      path.pop();
    } else if (ch === 0x2c) {
      expectKey = keys[keys.length - 1] !== undefined;
      if (!expectKey) path[path.length - 1] = (path[path.length - 1] as number) + 1;
    } else if (ch === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  if (issues.length > 0) throw new PolicyError(PolicyErrorCode.POLICY_PARSE, issues, { source });
}

/**
 * The text of a policy file. Internal: shared by {@link loadPolicyFile} and the holder's
 * reload, so an unreadable file reads the same wherever it is met.
 *
 * @throws PolicyError `POLICY_IO`.
 */
export async function readPolicyFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new PolicyError(
      PolicyErrorCode.POLICY_IO,
      [
        {
          path: "",
          message: `cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          fix: "check the path and the file permissions",
        },
      ],
      { source: path, cause: err },
    );
  }
}

/**
 * Reads and validates a policy file (format from the extension).
 *
 * @throws PolicyError `POLICY_IO` when unreadable, else as {@link parsePolicyText}.
 */
export async function loadPolicyFile(path: string): Promise<PolicyDocument> {
  return parsePolicyText(await readPolicyFile(path), { source: path });
}

/**
 * Combines several policies into one: tools and hide lists are united, `all_tools`
 * limits concatenated. All documents must agree on `default` (omitted counts as
 * `deny`) and no tool key may appear twice.
 *
 * @throws PolicyError `POLICY_CONFLICT` listing every conflict, or `POLICY_INVALID`
 *   when the union breaks a rule (e.g. one counter with two windows).
 * @example
 * const doc = mergePolicies([createPolicy, keepalivePolicy]);
 */
export function mergePolicies(docs: readonly PolicyDocument[]): PolicyDocument {
  const issues: PolicyIssue[] = [];
  const tools: Record<string, ToolRule> = {};
  const owner = new Map<string, number>();
  const hide: string[] = [];
  const allLimits: PolicyLimit[] = [];
  const defaults = new Set(docs.map((d) => d.default ?? "deny"));
  if (defaults.size > 1)
    issues.push({
      path: "default",
      message: 'the policies disagree on "default" (allow vs deny)',
      fix: 'give every merged policy the same "default"',
    });
  docs.forEach((doc, i) => {
    for (const [key, rule] of Object.entries(doc.tools ?? {})) {
      const first = owner.get(key);
      if (first !== undefined) {
        issues.push({
          path: formatPath(["tools", key]),
          message: `tool key "${key}" is defined by policy #${first + 1} and policy #${i + 1}`,
          fix: "keep the rule in one policy only",
        });
        continue;
      }
      owner.set(key, i);
      tools[key] = rule;
    }
    for (const h of doc.hide ?? []) if (!hide.includes(h)) hide.push(h);
    allLimits.push(...(doc.all_tools?.limits ?? []));
  });
  if (issues.length > 0) throw new PolicyError(PolicyErrorCode.POLICY_CONFLICT, issues);
  const merged: PolicyDocument = {
    version: "1",
    default: [...defaults][0] ?? "deny",
    tools,
  };
  if (hide.length > 0) merged.hide = hide;
  if (allLimits.length > 0) merged.all_tools = { limits: allLimits };
  return parsePolicy(merged, "merged policy");
}
