/**
 * The tool risk classifier: one pure function that judges an MCP tool definition by its
 * name, description, input and output schemas and annotations. `toolgate scan` writes its
 * verdicts into the starter policy and the policy studio shows them next to every tool,
 * so both always agree.
 *
 * Annotations are the upstream's claim about its own tool. A claim that makes a tool
 * look *more* dangerous (`destructiveHint: true`) is believed: being wrong costs an
 * approval click. A claim that makes it look *safer* (`readOnlyHint: true`,
 * `destructiveHint: false`) is believed only when nothing in the name, description or
 * schema says otherwise; when something does, the claim is reported as contradicted.
 */

/** What kind of thing a tool does. */
export type RiskCategory = "read" | "write" | "execute" | "money" | "destructive" | "other";
/** How much harm a misused call can do. */
export type RiskLevel = "high" | "medium" | "low";

/** The parts of an MCP tool definition the classifier reads (a `tools/list` entry fits). */
export interface ToolDefinition {
  readonly name: string;
  readonly title?: string | undefined;
  readonly description?: string | undefined;
  readonly inputSchema?: unknown;
  readonly outputSchema?: unknown;
  readonly annotations?:
    | {
        readonly title?: string | undefined;
        readonly readOnlyHint?: boolean | undefined;
        readonly destructiveHint?: boolean | undefined;
        readonly idempotentHint?: boolean | undefined;
        readonly openWorldHint?: boolean | undefined;
      }
    | undefined;
}

/** Where a reason came from. */
export type RiskSignal = "name" | "description" | "schema" | "output" | "annotations";

/** One piece of evidence, worded for a person reviewing the tool. */
export interface RiskReason {
  readonly signal: RiskSignal;
  readonly text: string;
}

/** The classifier's judgement of one tool. */
export interface RiskAssessment {
  readonly tool: string;
  readonly category: RiskCategory;
  readonly risk: RiskLevel;
  /** The evidence, strongest first. Never empty. */
  readonly reasons: readonly RiskReason[];
  /** Annotation claims the definition itself contradicts, e.g. `readOnlyHint: true`. */
  readonly contradicted: readonly string[];
  /** Argument names that carry money, destinations, files, code or queries. */
  readonly sensitiveArguments: readonly SensitiveArgument[];
}

/** An input argument whose name (or format) says what it carries. */
export interface SensitiveArgument {
  /** Argument path as policy conditions write it, e.g. `args.amount`. */
  readonly path: string;
  readonly kind: "money" | "destination" | "file" | "code" | "query" | "url" | "secret";
}

// Word lists. Tool names are split into words (snake, kebab, camel case) and compared
// whole, so "preset" never matches "reset" and "ls" only matches a word "ls".
const DESTROY = new Set(
  "delete del remove rm drop destroy purge erase wipe truncate kill terminate revoke uninstall unlink rmdir shred overwrite".split(
    " ",
  ),
);
// Ending something is destructive only when the upstream or the description says so.
const END = new Set("close cancel stop disable reset clear end abort".split(" "));
const MONEY_VERBS = new Set(
  "pay payment payments transfer withdraw withdrawal charge refund payout buy sell trade purchase checkout wire swap bid tip donate".split(
    " ",
  ),
);
const MONEY_NOUNS = new Set(
  "order orders payment payments funds money invoice trade trades transaction transactions".split(
    " ",
  ),
);
const EXEC = new Set(
  "exec execute run shell eval evaluate script spawn invoke command cmd bash sh powershell terminal deploy launch kubectl".split(
    " ",
  ),
);
const TRIGGER = new Set(["trigger", "call", "dispatch"]);
const CREATE = new Set("create open start issue generate mint new".split(" "));
const CREDENTIAL = new Set(
  "key token credential credentials session stream listen feed socket subscription password secret apikey".split(
    " ",
  ),
);
const HEARTBEAT = new Set("keepalive heartbeat ping renew refresh extend touch".split(" "));
const AUTHORITY = new Set(
  "publish merge push sign approve grant authorize release share invite send email post".split(" "),
);
const WRITE = new Set(
  "create add new update edit modify set put upload write insert patch save copy move rename toggle enable start open subscribe unsubscribe comment append register assign tag label mark schedule book reply forward import sync make build apply configure install restart store upsert".split(
    " ",
  ),
);
const READ = new Set(
  "get list read search find fetch describe show query view lookup inspect status info echo check count download head tail stat ls cat explain help version whoami browse retrieve poll scan compute calculate sum convert validate preview print resolve events history summarize analyze details lookup diff compare".split(
    " ",
  ),
);
const COMPUTE = new Set(
  "gzip zip compress decompress encode decode hash format transform translate render".split(" "),
);
const SECRET_WORDS = new Set(
  "env environment secret secrets password passwords credential credentials token tokens apikey privatekey".split(
    " ",
  ),
);

const MONEY_ARGS = new Set(
  "amount price quantity qty total currency iban card cardnumber accountnumber value notional".split(
    " ",
  ),
);
const DEST_ARGS = new Set(
  "to recipient recipients address email destination channel phone wallet toaddress payee beneficiary".split(
    " ",
  ),
);
const FILE_ARGS = new Set(
  "path paths file filename filepath dir directory folder source target".split(" "),
);
const CODE_ARGS = new Set(
  "command cmd script code shell expression sql program statement".split(" "),
);
const QUERY_ARGS = new Set("query q filter search".split(" "));
const URL_ARGS = new Set("url uri href endpoint link".split(" "));
const SECRET_ARGS = /key|secret|token|password|passphrase|signature|authorization/i;

/** `createOrder`, `create_order`, `create-order` → `["create", "order"]`. */
export function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

function squash(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

interface SchemaProp {
  readonly path: string;
  readonly name: string;
  readonly format?: string | undefined;
  readonly description: string;
  readonly restricted: boolean;
}

/** Properties of a JSON Schema object, two levels deep (enough for real tool schemas). */
function schemaProps(schema: unknown, prefix = "args", depth = 0): SchemaProp[] {
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

function argKind(p: SchemaProp): SensitiveArgument["kind"] | undefined {
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

const DESC_DESTROY =
  /\b(permanently|irreversibl[ey]|cannot be undone|can't be undone|deletes?|removes?|erases?|wipes?|destroys?)\b/;
// Checked first: "ends the stream for every process" says more than an HTTP verb does.
const DESC_ENDS_ALL = /\bends the [a-z-]+ for every [a-z]+/;
const DESC_MONEY =
  /\b(payments?|pays?|transfers? (?:of )?(?:funds|money)|withdraw(?:s|al)?|refunds?|charges? (?:a|the) (?:card|customer)|places? (?:an? )?orders?|buys?|sells?|money)\b/;
const DESC_EXEC =
  /\b(executes?|runs? (?:a |an |the )?(?:shell|command|script|code|program)|shell command|arbitrary code|evaluates? (?:code|javascript|python))\b/;
const DESC_SECRETS =
  /\b(environment variables|secrets?|credentials?|passwords?|private keys?|api keys?)\b/;
const DESC_FEED =
  /\b(user-data stream|user data stream|live feed|real-time feed|real-time|balances?, orders|listen key)\b/;
const DESC_SAMPLING = /\b(sampling|llm|elicitation|asks? the user)\b/i;

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

/**
 * Judges one tool definition. Pure and synchronous: the same definition always gets the
 * same assessment.
 *
 * @example
 * classifyToolRisk({ name: "delete_file", inputSchema: { properties: { path: {} } } })
 * // { category: "destructive", risk: "high", reasons: [{ signal: "name", text: 'name says "delete"' }, ...] }
 */
export function classifyToolRisk(tool: ToolDefinition): RiskAssessment {
  const a = tool.annotations ?? {};
  const nameWords = words(tool.name);
  const description = `${tool.title ?? ""} ${tool.description ?? ""}`.trim();
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
  const argNames = (k: SensitiveArgument["kind"]) =>
    hasArg(k)
      .map((s) => `"${s.path.slice("args.".length)}"`)
      .join(", ");
  const unrestricted = (k: SensitiveArgument["kind"]) =>
    hasArg(k).some((s) => !props.find((p) => p.path === s.path)?.restricted);

  const reasons: RiskReason[] = [];
  const why = (signal: RiskSignal, text: string) => reasons.push({ signal, text });
  const find = (set: ReadonlySet<string>) => nameWords.find((w) => set.has(w));

  // The verb that decides: the first known verb of the name, else of the description.
  const verbSets: Array<[ReadonlySet<string>, string]> = [
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
  let verb: { word: string; kind: string; from: RiskSignal } | undefined;
  for (const w of nameWords) {
    const hit = verbSets.find(([set]) => set.has(w));
    if (hit) {
      verb = { word: w, kind: hit[1], from: "name" };
      break;
    }
  }
  if (!verb && lead) {
    const hit = verbSets.find(([set]) => set.has(lead));
    verb = {
      word: lead,
      kind: hit?.[1] ?? (lead === "compress" ? "compute" : "read"),
      from: "description",
    };
  }
  const said = (v: { word: string; from: RiskSignal }) =>
    v.from === "name" ? `name says "${v.word}"` : `description starts with "${v.word}"`;

  const destroyWord = find(DESTROY) ?? (lead && DESTROY.has(lead) ? lead : undefined);
  const descDestroy = DESC_ENDS_ALL.exec(desc)?.[0] ?? DESC_DESTROY.exec(desc)?.[1];
  const moneyVerb = find(MONEY_VERBS) ?? (lead && MONEY_VERBS.has(lead) ? lead : undefined);
  const moneyNoun = find(MONEY_NOUNS);
  const execWord = find(EXEC);
  const readFirst = verb?.kind === "read" || verb?.kind === "compute";
  // A credential is named by its last word ("listenKey", "access_token"); a masked key,
  // its hash or its expiry ("listenKeyMasked", "keyValidUntil") is about one, not one.
  const credentialOut = outProps.find((p) => {
    const last = words(p.name).at(-1) ?? "";
    return ["key", "token", "secret", "password", "credential", "apikey"].includes(last);
  });
  const credentialWord = find(CREDENTIAL);
  const secretsWord = nameWords.find((w) => SECRET_WORDS.has(w));
  const descSecrets = DESC_SECRETS.exec(desc)?.[1];
  const feed = DESC_FEED.exec(desc)?.[1];

  // Creating, writing or an unnamed action next to money words moves or commits money.
  const changes =
    verb === undefined ||
    verb.kind === "create" ||
    verb.kind === "write" ||
    verb.kind === "authority";
  const descMoney = DESC_MONEY.exec(desc)?.[1];
  let category: RiskCategory;
  let risk: RiskLevel;

  // 1. Destructive: the name's own verb, the upstream's claim, or an ending the
  //    description calls irreversible.
  const endWord = find(END);
  if (destroyWord && !readFirst) {
    category = "destructive";
    risk = "high";
    why(
      destroyWord === lead && !find(DESTROY) ? "description" : "name",
      `${destroyWord === lead && !find(DESTROY) ? "description starts with" : "name says"} "${destroyWord}": it deletes or overwrites`,
    );
  } else if (a.destructiveHint === true && a.readOnlyHint !== true) {
    category = "destructive";
    risk = "high";
    why(
      "annotations",
      "annotated destructiveHint: true (the upstream says it destroys or overwrites)",
    );
    if (descDestroy) why("description", `description says "${descDestroy}"`);
  } else if (endWord && !readFirst && descDestroy) {
    category = "destructive";
    risk = "high";
    why("name", `name says "${endWord}" and the description says "${descDestroy}"`);
  } else if (
    (moneyVerb && !readFirst) ||
    (!readFirst && changes && (moneyNoun !== undefined || hasArg("money").length > 0 || descMoney))
  ) {
    // 2. Money: moving it (pay, transfer, order) or creating something priced.
    category = "money";
    risk = "high";
    if (moneyVerb)
      why(
        find(MONEY_VERBS) ? "name" : "description",
        `${find(MONEY_VERBS) ? "name says" : "description starts with"} "${moneyVerb}": it moves money`,
      );
    else if (moneyNoun)
      why(
        "name",
        `${verb ? `name says "${verb.word}" … "${moneyNoun}"` : `name says "${moneyNoun}"`}: it places or changes something with a price`,
      );
    else if (descMoney) why("description", `description says "${descMoney}": it moves money`);
    if (hasArg("money").length > 0)
      why("schema", `argument ${argNames("money")} is a sum, price or quantity`);
  } else if (
    execWord ||
    hasArg("code").length > 0 ||
    DESC_EXEC.test(desc) ||
    (verb?.kind === "create" && (credentialWord !== undefined || credentialOut !== undefined))
  ) {
    // 3. Execute: runs code or commands, or opens something that acts on its own (a
    //    session, a stream, a credential another party can use).
    category = "execute";
    if (execWord) why("name", `name says "${execWord}": it runs something`);
    if (hasArg("code").length > 0)
      why("schema", `argument ${argNames("code")} is code or a command`);
    const m = DESC_EXEC.exec(desc);
    if (m && !execWord) why("description", `description says "${m[1]}"`);
    if (verb?.kind === "create" && (credentialWord || credentialOut)) {
      why(
        "name",
        `name says "${verb.word}" … "${credentialWord ?? credentialOut?.name}": it opens or issues something that keeps working after the call`,
      );
      if (credentialOut)
        why(
          "output",
          `returns "${credentialOut.name}", a credential (anyone holding it can use it)`,
        );
      if (feed)
        why(
          "description",
          `description mentions "${feed}": a live feed of account data (balances, orders and trades)`,
        );
    }
    risk =
      hasArg("code").length > 0 ||
      (execWord !== undefined && execWord !== "launch") ||
      credentialOut !== undefined ||
      feed !== undefined ||
      DESC_EXEC.test(desc)
        ? "high"
        : "medium";
  } else if (verb?.kind === "heartbeat") {
    // 4. Heartbeats extend what already exists: nothing new is created or exposed.
    category = "write";
    risk = "low";
    why(verb.from, `${said(verb)}: a heartbeat that extends something that already exists`);
  } else if (
    verb?.kind === "write" ||
    verb?.kind === "create" ||
    verb?.kind === "authority" ||
    verb?.kind === "end" ||
    (verb?.kind === "trigger" && a.readOnlyHint !== true)
  ) {
    // 5. Write: changes state. Publishing, sending or writing to a place the caller names
    //    reaches beyond this server.
    category = verb.kind === "trigger" ? "execute" : "write";
    risk = "medium";
    why(
      verb.from,
      `${said(verb)}: ${verb.kind === "trigger" ? "it starts something on the server" : "it changes state"}`,
    );
    if (verb.kind === "authority") {
      risk = "high";
      why(verb.from, `"${verb.word}" acts in your name or reaches other people`);
    }
    if (verb.kind === "trigger" && DESC_SAMPLING.test(tool.description ?? ""))
      why("description", "it asks the client (its model or its user) to do something");
    if (hasArg("destination").length > 0 && unrestricted("destination")) {
      risk = "high";
      why("schema", `argument ${argNames("destination")} names a recipient or destination`);
    }
    if (hasArg("file").length > 0 && unrestricted("file")) {
      risk = "high";
      why(
        "schema",
        `argument ${argNames("file")} is a file path: it can write wherever the server can`,
      );
    }
    if (hasArg("url").length > 0) why("schema", `argument ${argNames("url")} is a URL`);
  } else if (
    verb?.kind === "read" ||
    verb?.kind === "compute" ||
    (verb?.kind === "trigger" && a.readOnlyHint === true) ||
    (!verb && a.readOnlyHint === true)
  ) {
    // 6. Read: low unless what it reads is secret, or where it reads from is the
    //    caller's choice (any file, any URL) or the open world.
    category = "read";
    risk = "low";
    if (verb?.kind === "trigger")
      why(
        verb.from,
        `${said(verb)}, annotated readOnlyHint: true: it starts an operation that only reads`,
      );
    else if (verb)
      why(
        verb.from,
        `${said(verb)}: ${verb.kind === "compute" ? "it transforms data" : "it reads"}`,
      );
    else why("annotations", "annotated readOnlyHint: true");
    if (secretsWord || descSecrets) {
      risk = "high";
      if (secretsWord) why("name", `name says "${secretsWord}": it exposes secrets`);
      if (descSecrets) why("description", `description mentions "${descSecrets}": often secrets`);
    }
    if (credentialOut) {
      risk = "high";
      why("output", `returns "${credentialOut.name}", a credential`);
    }
    if (hasArg("file").length > 0 && unrestricted("file")) {
      if (risk === "low") risk = "medium";
      why(
        "schema",
        `argument ${argNames("file")} is a file path: it can read whatever the server can`,
      );
    }
    if (hasArg("url").length > 0 && unrestricted("url")) {
      if (risk === "low") risk = "medium";
      why(
        "schema",
        `argument ${argNames("url")} is a URL the server fetches (any address it can reach)`,
      );
    }
    if (a.openWorldHint === true) {
      if (risk === "low") risk = "medium";
      why("annotations", "annotated openWorldHint: true (it reaches outside systems)");
    }
    if (feed && risk === "low") {
      risk = "medium";
      why("description", `description mentions "${feed}": account data`);
    } else if (feed) why("description", `description mentions "${feed}": account data`);
  } else {
    category = "other";
    risk = "medium";
    why("name", "nothing in the name or description says what it does: review it");
  }

  // Annotation claims that the definition contradicts.
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
  if (!tool.annotations && reasons.length < 3) {
    reasons.push({
      signal: "annotations",
      text: "no annotations: judged from the definition alone",
    });
  }
  if (description === "" && category === "other") {
    reasons.push({ signal: "description", text: "no description" });
  }
  return { tool: tool.name, category, risk, reasons, contradicted, sensitiveArguments: sensitive };
}
