import type { RiskCategory, RiskLevel, RiskSignal } from "./classify.js";
import { type Signals, said } from "./signals.js";
import { DESC_EXEC, DESC_SAMPLING, DESTROY, MONEY_VERBS } from "./words.js";

// The category rules, strongest first: the first rule that applies decides the category
// and the risk, and words its evidence through `why`.

/** A category and risk. */
export interface Judgement {
  category: RiskCategory;
  risk: RiskLevel;
}

/** Records one piece of evidence. */
export type Why = (signal: RiskSignal, text: string) => void;

type Rule = (s: Signals, why: Why) => Judgement | undefined;

/** 1. Destructive: the name's own verb, the upstream's claim, or an ending the description calls irreversible. */
const destructive: Rule = (s, why) => {
  const a = s.annotations;
  const { destroyWord, descDestroy, endWord, lead } = s;
  if (destroyWord && !s.readFirst) {
    const fromDescription = destroyWord === lead && !s.find(DESTROY);
    why(
      fromDescription ? "description" : "name",
      `${fromDescription ? "description starts with" : "name says"} "${destroyWord}": it deletes or overwrites`,
    );
  } else if (a.destructiveHint === true && a.readOnlyHint !== true) {
    why(
      "annotations",
      "annotated destructiveHint: true (the upstream says it destroys or overwrites)",
    );
    if (descDestroy) why("description", `description says "${descDestroy}"`);
  } else if (endWord && !s.readFirst && descDestroy) {
    why("name", `name says "${endWord}" and the description says "${descDestroy}"`);
  } else return undefined;
  return { category: "destructive", risk: "high" };
};

/** 2. Money: moving it (pay, transfer, order) or creating something priced. */
const money: Rule = (s, why) => {
  const { moneyVerb, moneyNoun, descMoney, verb } = s;
  const applies =
    (moneyVerb && !s.readFirst) ||
    (!s.readFirst &&
      s.changes &&
      (moneyNoun !== undefined || s.hasArg("money").length > 0 || descMoney));
  if (!applies) return undefined;
  if (moneyVerb)
    why(
      s.find(MONEY_VERBS) ? "name" : "description",
      `${s.find(MONEY_VERBS) ? "name says" : "description starts with"} "${moneyVerb}": it moves money`,
    );
  else if (moneyNoun)
    why(
      "name",
      `${verb ? `name says "${verb.word}" … "${moneyNoun}"` : `name says "${moneyNoun}"`}: it places or changes something with a price`,
    );
  else if (descMoney) why("description", `description says "${descMoney}": it moves money`);
  if (s.hasArg("money").length > 0)
    why("schema", `argument ${s.argNames("money")} is a sum, price or quantity`);
  return { category: "money", risk: "high" };
};

/**
 * 3. Execute: runs code or commands, or opens something that acts on its own (a session,
 * a stream, a credential another party can use).
 */
const execute: Rule = (s, why) => {
  const { execWord, verb, credentialWord, credentialOut, feed, desc } = s;
  const opensCredential =
    verb?.kind === "create" && (credentialWord !== undefined || credentialOut !== undefined);
  if (!(execWord || s.hasArg("code").length > 0 || DESC_EXEC.test(desc) || opensCredential))
    return undefined;
  if (execWord) why("name", `name says "${execWord}": it runs something`);
  if (s.hasArg("code").length > 0)
    why("schema", `argument ${s.argNames("code")} is code or a command`);
  const m = DESC_EXEC.exec(desc);
  if (m && !execWord) why("description", `description says "${m[1]}"`);
  if (verb?.kind === "create" && (credentialWord || credentialOut)) {
    why(
      "name",
      `name says "${verb.word}" … "${credentialWord ?? credentialOut?.name}": it opens or issues something that keeps working after the call`,
    );
    if (credentialOut)
      why("output", `returns "${credentialOut.name}", a credential (anyone holding it can use it)`);
    if (feed)
      why(
        "description",
        `description mentions "${feed}": a live feed of account data (balances, orders and trades)`,
      );
  }
  const risk =
    s.hasArg("code").length > 0 ||
    (execWord !== undefined && execWord !== "launch") ||
    credentialOut !== undefined ||
    feed !== undefined ||
    DESC_EXEC.test(desc)
      ? "high"
      : "medium";
  return { category: "execute", risk };
};

/** 4. Heartbeats extend what already exists: nothing new is created or exposed. */
const heartbeat: Rule = (s, why) => {
  const verb = s.verb;
  if (verb?.kind !== "heartbeat") return undefined;
  why(verb.from, `${said(verb)}: a heartbeat that extends something that already exists`);
  return { category: "write", risk: "low" };
};

/**
 * 5. Write: changes state. Publishing, sending or writing to a place the caller names
 * reaches beyond this server.
 */
const write: Rule = (s, why) => {
  const verb = s.verb;
  if (
    !(
      verb?.kind === "write" ||
      verb?.kind === "create" ||
      verb?.kind === "authority" ||
      verb?.kind === "end" ||
      (verb?.kind === "trigger" && s.annotations.readOnlyHint !== true)
    )
  )
    return undefined;
  const category: RiskCategory = verb.kind === "trigger" ? "execute" : "write";
  let risk: RiskLevel = "medium";
  why(
    verb.from,
    `${said(verb)}: ${verb.kind === "trigger" ? "it starts something on the server" : "it changes state"}`,
  );
  if (verb.kind === "authority") {
    risk = "high";
    why(verb.from, `"${verb.word}" acts in your name or reaches other people`);
  }
  if (verb.kind === "trigger" && DESC_SAMPLING.test(s.tool.description ?? ""))
    why("description", "it asks the client (its model or its user) to do something");
  if (s.hasArg("destination").length > 0 && s.unrestricted("destination")) {
    risk = "high";
    why("schema", `argument ${s.argNames("destination")} names a recipient or destination`);
  }
  if (s.hasArg("file").length > 0 && s.unrestricted("file")) {
    risk = "high";
    why(
      "schema",
      `argument ${s.argNames("file")} is a file path: it can write wherever the server can`,
    );
  }
  if (s.hasArg("url").length > 0) why("schema", `argument ${s.argNames("url")} is a URL`);
  return { category, risk };
};

/** What a read tool reads, or where from, that raises its risk. */
function readExposure(s: Signals, why: Why, risk: RiskLevel): RiskLevel {
  const { secretsWord, descSecrets, credentialOut, feed } = s;
  if (secretsWord || descSecrets) {
    risk = "high";
    if (secretsWord) why("name", `name says "${secretsWord}": it exposes secrets`);
    if (descSecrets) why("description", `description mentions "${descSecrets}": often secrets`);
  }
  if (credentialOut) {
    risk = "high";
    why("output", `returns "${credentialOut.name}", a credential`);
  }
  if (s.hasArg("file").length > 0 && s.unrestricted("file")) {
    if (risk === "low") risk = "medium";
    why(
      "schema",
      `argument ${s.argNames("file")} is a file path: it can read whatever the server can`,
    );
  }
  if (s.hasArg("url").length > 0 && s.unrestricted("url")) {
    if (risk === "low") risk = "medium";
    why(
      "schema",
      `argument ${s.argNames("url")} is a URL the server fetches (any address it can reach)`,
    );
  }
  if (s.annotations.openWorldHint === true) {
    if (risk === "low") risk = "medium";
    why("annotations", "annotated openWorldHint: true (it reaches outside systems)");
  }
  if (feed && risk === "low") {
    risk = "medium";
    why("description", `description mentions "${feed}": account data`);
  } else if (feed) why("description", `description mentions "${feed}": account data`);
  return risk;
}

/**
 * 6. Read: low unless what it reads is secret, or where it reads from is the caller's
 * choice (any file, any URL) or the open world.
 */
const read: Rule = (s, why) => {
  const verb = s.verb;
  const readOnly = s.annotations.readOnlyHint === true;
  if (
    !(
      verb?.kind === "read" ||
      verb?.kind === "compute" ||
      (verb?.kind === "trigger" && readOnly) ||
      (!verb && readOnly)
    )
  )
    return undefined;
  if (verb?.kind === "trigger")
    why(
      verb.from,
      `${said(verb)}, annotated readOnlyHint: true: it starts an operation that only reads`,
    );
  else if (verb)
    why(verb.from, `${said(verb)}: ${verb.kind === "compute" ? "it transforms data" : "it reads"}`);
  else why("annotations", "annotated readOnlyHint: true");
  return { category: "read", risk: readExposure(s, why, "low") };
};

const RULES: readonly Rule[] = [destructive, money, execute, heartbeat, write, read];

/** The first rule that applies, else `other` (nothing says what the tool does). */
export function judge(s: Signals, why: Why): Judgement {
  for (const rule of RULES) {
    const j = rule(s, why);
    if (j !== undefined) return j;
  }
  why("name", "nothing in the name or description says what it does: review it");
  return { category: "other", risk: "medium" };
}
