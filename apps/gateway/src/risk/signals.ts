import type { RiskSignal, SensitiveArgument, ToolDefinition } from "./classify.js";
import {
  AUTHORITY,
  CODE_ARGS,
  COMPUTE,
  CREATE,
  CREDENTIAL,
  DESC_DESTROY,
  DESC_ENDS_ALL,
  DESC_FEED,
  DESC_MONEY,
  DESC_SECRETS,
  DEST_ARGS,
  DESTROY,
  END,
  EXEC,
  FILE_ARGS,
  HEARTBEAT,
  MONEY_ARGS,
  MONEY_NOUNS,
  MONEY_VERBS,
  QUERY_ARGS,
  READ,
  SECRET_ARGS,
  SECRET_WORDS,
  squash,
  TRIGGER,
  URL_ARGS,
  WRITE,
  words,
} from "./words.js";

// What the classifier reads from a definition, gathered once: the deciding verb, the
// words and phrases that point at a category, and the arguments that carry something
// sensitive. The category rules (categories.ts) only combine these.

/** One input or output property, by its argument path. */
export interface SchemaProp {
  readonly path: string;
  readonly name: string;
  readonly format?: string | undefined;
  readonly description: string;
  readonly restricted: boolean;
}

/** Properties of a JSON Schema object, two levels deep (enough for real tool schemas). */
export function schemaProps(schema: unknown, prefix = "args", depth = 0): SchemaProp[] {
  if (depth > 1 || schema === null || typeof schema !== "object") return [];
  const props = (schema as { properties?: unknown }).properties;
  if (props === null || typeof props !== "object") return [];
  const out: SchemaProp[] = [];
  for (const [name, raw] of Object.entries(props as Record<string, unknown>)) {
    const p = (raw ?? {}) as Record<string, unknown>;
    const path = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name)
      ? `${prefix}.${name}`
      : `${prefix}[${JSON.stringify(name)}]`;
    out.push({
      path,
      name,
      format: typeof p.format === "string" ? p.format : undefined,
      description: typeof p.description === "string" ? p.description : "",
      // An enum or a pattern limits what the argument can name.
      restricted: Array.isArray(p.enum) || typeof p.pattern === "string" || "const" in p,
    });
    out.push(...schemaProps(p, path, depth + 1));
  }
  return out;
}

/** What an argument carries, judged by its name and format. */
export function argKind(p: SchemaProp): SensitiveArgument["kind"] | undefined {
  const s = squash(p.name);
  const ws = words(p.name);
  if (p.format === "uri" || p.format === "url" || URL_ARGS.has(s) || ws.includes("url"))
    return "url";
  if (CODE_ARGS.has(s)) return "code";
  if (MONEY_ARGS.has(s) || ws.some((w) => MONEY_ARGS.has(w) && w !== "value")) return "money";
  if (SECRET_ARGS.test(p.name)) return "secret";
  if (DEST_ARGS.has(s) || ws.some((w) => DEST_ARGS.has(w) && w !== "address")) return "destination";
  if (FILE_ARGS.has(s) || (ws.includes("file") && ws.includes("path"))) return "file";
  if (QUERY_ARGS.has(s)) return "query";
  return undefined;
}

/** The first word of the description, if it is a verb we know ("Deletes a file" → delete). */
function leadingVerb(description: string): string | undefined {
  const first = /^\s*(?:this tool\s+)?([A-Za-z]+)/i.exec(description)?.[1]?.toLowerCase();
  if (!first) return undefined;
  const stem = first.replace(/(ies)$/, "y").replace(/(es|s)$/, "");
  for (const cand of [first, stem, `${stem}e`]) {
    if (
      DESTROY.has(cand) ||
      MONEY_VERBS.has(cand) ||
      EXEC.has(cand) ||
      WRITE.has(cand) ||
      READ.has(cand) ||
      COMPUTE.has(cand) ||
      HEARTBEAT.has(cand) ||
      END.has(cand) ||
      AUTHORITY.has(cand)
    )
      return cand;
  }
  if (/^(returns?|lists?|gets?|shows?|prints?|echo(?:es)?)$/.test(first)) return "get";
  if (/^compress/.test(first)) return "compress";
  return undefined;
}

/** The verb that decides a tool's kind, and where it was read. */
export interface Verb {
  readonly word: string;
  readonly kind: string;
  readonly from: RiskSignal;
}

// The verb that decides: the first known verb of the name, else of the description.
const VERB_SETS: Array<[ReadonlySet<string>, string]> = [
  [DESTROY, "destroy"],
  [MONEY_VERBS, "money"],
  [EXEC, "exec"],
  [HEARTBEAT, "heartbeat"],
  [END, "end"],
  [AUTHORITY, "authority"],
  [CREATE, "create"],
  [WRITE, "write"],
  [TRIGGER, "trigger"],
  [READ, "read"],
  [COMPUTE, "compute"],
];

function decidingVerb(nameWords: readonly string[], lead: string | undefined): Verb | undefined {
  for (const w of nameWords) {
    const hit = VERB_SETS.find(([set]) => set.has(w));
    if (hit) return { word: w, kind: hit[1], from: "name" };
  }
  if (!lead) return undefined;
  const hit = VERB_SETS.find(([set]) => set.has(lead));
  return {
    word: lead,
    kind: hit?.[1] ?? (lead === "compress" ? "compute" : "read"),
    from: "description",
  };
}

/** Everything the category rules look at, read once from one definition. */
export interface Signals {
  readonly tool: ToolDefinition;
  readonly annotations: NonNullable<ToolDefinition["annotations"]>;
  /** The tool's title and description, trimmed. */
  readonly description: string;
  /** The description in lower case. */
  readonly desc: string;
  /** The description's leading known verb. */
  readonly lead: string | undefined;
  readonly verb: Verb | undefined;
  readonly sensitive: readonly SensitiveArgument[];
  readonly destroyWord: string | undefined;
  readonly descDestroy: string | undefined;
  readonly moneyVerb: string | undefined;
  readonly moneyNoun: string | undefined;
  readonly descMoney: string | undefined;
  readonly execWord: string | undefined;
  readonly endWord: string | undefined;
  /** The deciding verb reads or transforms. */
  readonly readFirst: boolean;
  /** Creating, writing or an unnamed action: next to money words it moves or commits money. */
  readonly changes: boolean;
  /** An output property that is a credential. */
  readonly credentialOut: SchemaProp | undefined;
  readonly credentialWord: string | undefined;
  readonly secretsWord: string | undefined;
  readonly descSecrets: string | undefined;
  readonly feed: string | undefined;
  /** The first name word in `set`. */
  find(set: ReadonlySet<string>): string | undefined;
  /** The sensitive arguments of one kind. */
  hasArg(kind: SensitiveArgument["kind"]): SensitiveArgument[];
  /** Their names, quoted, for a reason. */
  argNames(kind: SensitiveArgument["kind"]): string;
  /** Whether one of them is not limited by an enum, pattern or const. */
  unrestricted(kind: SensitiveArgument["kind"]): boolean;
}

/** How a reason names the verb: `name says "x"` or `description starts with "x"`. */
export function said(v: { word: string; from: RiskSignal }): string {
  return v.from === "name" ? `name says "${v.word}"` : `description starts with "${v.word}"`;
}

/** Reads the signals of one definition. */
export function readSignals(tool: ToolDefinition): Signals {
  const nameWords = words(tool.name);
  const desc = (tool.description ?? "").toLowerCase();
  const lead = leadingVerb(tool.description ?? "");
  const props = schemaProps(tool.inputSchema);
  const outProps = schemaProps(tool.outputSchema);
  const sensitive: SensitiveArgument[] = [];
  for (const p of props) {
    const kind = argKind(p);
    if (kind) sensitive.push({ path: p.path, kind });
  }
  const hasArg = (k: SensitiveArgument["kind"]) => sensitive.filter((s) => s.kind === k);
  const find = (set: ReadonlySet<string>) => nameWords.find((w) => set.has(w));
  const verb = decidingVerb(nameWords, lead);
  return {
    tool,
    annotations: tool.annotations ?? {},
    description: `${tool.title ?? ""} ${tool.description ?? ""}`.trim(),
    desc,
    lead,
    verb,
    sensitive,
    destroyWord: find(DESTROY) ?? (lead && DESTROY.has(lead) ? lead : undefined),
    descDestroy: DESC_ENDS_ALL.exec(desc)?.[0] ?? DESC_DESTROY.exec(desc)?.[1],
    moneyVerb: find(MONEY_VERBS) ?? (lead && MONEY_VERBS.has(lead) ? lead : undefined),
    moneyNoun: find(MONEY_NOUNS),
    descMoney: DESC_MONEY.exec(desc)?.[1],
    execWord: find(EXEC),
    endWord: find(END),
    readFirst: verb?.kind === "read" || verb?.kind === "compute",
    changes:
      verb === undefined ||
      verb.kind === "create" ||
      verb.kind === "write" ||
      verb.kind === "authority",
    // A credential is named by its last word ("listenKey", "access_token"); a masked key,
    // its hash or its expiry ("listenKeyMasked", "keyValidUntil") is about one, not one.
    credentialOut: outProps.find((p) => {
      const last = words(p.name).at(-1) ?? "";
      return ["key", "token", "secret", "password", "credential", "apikey"].includes(last);
    }),
    credentialWord: find(CREDENTIAL),
    secretsWord: nameWords.find((w) => SECRET_WORDS.has(w)),
    descSecrets: DESC_SECRETS.exec(desc)?.[1],
    feed: DESC_FEED.exec(desc)?.[1],
    find,
    hasArg,
    argNames: (k) =>
      hasArg(k)
        .map((s) => `"${s.path.slice("args.".length)}"`)
        .join(", "),
    unrestricted: (k) => hasArg(k).some((s) => !props.find((p) => p.path === s.path)?.restricted),
  };
}
