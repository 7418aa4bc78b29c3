import { createHash } from "node:crypto";
import type { Ajv } from "ajv";
import { z } from "zod";
import { createAjv } from "./ajv.js";
import { compareGlobs, type GlobEntry, globEntry } from "./compile/globs.js";
import { buildPlan, type ToolPlan } from "./compile/plan.js";
import { type CompiledRule, compileRule } from "./compile/rule.js";
import type { Identity } from "./contracts.js";
import type { PinSettings } from "./guardrails/definition.js";
import {
  compilePinSettings,
  compileResultPolicy,
  describeResultPolicy,
} from "./guardrails/policy.js";
import type { CompiledResultPolicy } from "./guardrails/result-guard.js";
import { type CompiledLimit, compileLimit, counterKey, type LimitCounterView } from "./limits.js";
import { type PolicyDocument, parsePolicy } from "./schema.js";
import { canonicalJson } from "./seams/canonical-json.js";
import { parseOptions } from "./seams/options.js";
import { globToRegExp, isGlob } from "./syntax.js";
import type { TraceStep } from "./trace.js";

// A compiled policy answers "what governs this name"; compiling a rule (compile/rule.ts),
// ranking globs (compile/globs.ts) and what can be decided once per name
// (compile/plan.ts) each live in their own file.

export type { StaticOutcome, ToolPlan } from "./compile/plan.js";
export type { CompiledRule } from "./compile/rule.js";

/** What `explain` shows of a tool's guardrails. */
export interface GuardrailsView {
  /** The tool's pin, when its exact entry has one. */
  readonly pin?: string | undefined;
  /** Policy-wide pin settings, when pins are in use. */
  readonly pins?: PinSettings | undefined;
  /** The `results` entry governing the tool: its path, summary and whether it only reports. */
  readonly results?:
    | { readonly ruleId: string; readonly summary: string; readonly shadow: boolean }
    | undefined;
}

/** Cap on cached plans for names that are not exact keys (names come from agents). */
const PLAN_CACHE_MAX = 10_000;
/** Longest tool name whose plan is cached. */
const PLAN_CACHE_NAME_MAX = 256;

/** Content hash of a policy document: same meaning, same version, whatever the format. */
export function policyVersion(doc: PolicyDocument): string {
  return `sha256:${createHash("sha256").update(canonicalJson(doc)).digest("hex").slice(0, 12)}`;
}

/**
 * A policy compiled for fast decisions: exact-name index, globs sorted by specificity,
 * compiled conditions and JSON Schemas, resolved counters, and a content-hash
 * `version`. Immutable; build one with {@link compilePolicy}.
 */
export class CompiledPolicy {
  /** Content hash, e.g. `sha256:3f2a9c1b7d0e`. Equal documents have equal versions. */
  readonly version: string;
  /** Where the policy came from (file name), for messages. */
  readonly source?: string | undefined;
  /** The validated document as written (defaults not filled in). */
  readonly document: PolicyDocument;
  /** Effect for names no rule matches. */
  readonly defaultEffect: "allow" | "deny";
  /** Limits every call is subject to (`all_tools.limits`). */
  readonly allLimits: readonly CompiledLimit[];
  /** Every limit by its rule id. */
  readonly limitsById: ReadonlyMap<string, CompiledLimit>;
  /** Rules keyed by exact tool name. */
  readonly exact: ReadonlyMap<string, CompiledRule>;
  /** Glob rules, most specific first. */
  readonly globs: readonly (CompiledRule & { readonly re: RegExp })[];
  /** Exact hidden names → index in `hide`. */
  readonly hiddenExact: ReadonlyMap<string, number>;
  /** Hidden globs with their index in `hide`. */
  readonly hiddenGlobs: readonly { readonly index: number; readonly re: RegExp }[];
  /** Validator behind `arguments` schemas; kept so the validators live exactly as long as the policy. */
  readonly ajv?: Ajv | undefined;

  /** Pin settings, or `undefined` when the policy uses no pins. */
  readonly pinSettings: PinSettings | undefined;
  readonly #results = new Map<string, CompiledResultPolicy>();
  /** `resources` entries: exact URIs first, then globs, longest pattern first. */
  readonly #resources: ReadonlyArray<{
    readonly exact?: string;
    readonly re?: RegExp;
    readonly policy: CompiledResultPolicy;
  }>;
  readonly #exactPlans = new Map<string, ToolPlan>();
  readonly #plans = new Map<string, ToolPlan>();

  /** @internal Use {@link compilePolicy}. */
  constructor(doc: PolicyDocument, source: string | undefined) {
    this.document = doc;
    this.source = source;
    this.version = policyVersion(doc);
    this.defaultEffect = doc.default ?? "deny";
    const tools = Object.entries(doc.tools ?? {});
    this.pinSettings = compilePinSettings(
      doc.pins,
      tools.some(([, r]) => r.pin !== undefined),
    );
    for (const [key, rule] of tools) {
      if (rule.results !== undefined)
        this.#results.set(
          key,
          compileResultPolicy(rule.results, `tools.${key}.results`, rule.mode === "shadow"),
        );
    }
    this.#resources = compileResourceRules(doc);
    const limitsById = new Map<string, CompiledLimit>();
    const allLimits = (doc.all_tools?.limits ?? []).map((l, i) => {
      const c = compileLimit(l, `all_tools.limits[${i}]`);
      limitsById.set(c.ruleId, c);
      return c;
    });
    this.allLimits = allLimits;
    const needsAjv = Object.values(doc.tools ?? {}).some((r) => r.arguments !== undefined);
    this.ajv = needsAjv ? createAjv() : undefined;
    const exact = new Map<string, CompiledRule>();
    const globs: (CompiledRule & { re: RegExp; entry: GlobEntry })[] = [];
    for (const [key, rule] of Object.entries(doc.tools ?? {})) {
      const compiled = compileRule(key, rule, limitsById, this.ajv, this.source);
      if (isGlob(key)) {
        const entry = globEntry(key);
        globs.push({ ...compiled, re: entry.re, entry });
      } else exact.set(key, compiled);
    }
    globs.sort(compareGlobs);
    this.exact = exact;
    this.globs = globs;
    this.limitsById = limitsById;
    const hiddenExact = new Map<string, number>();
    const hiddenGlobs: { index: number; re: RegExp }[] = [];
    (doc.hide ?? []).forEach((h, index) => {
      if (isGlob(h)) hiddenGlobs.push({ index, re: globToRegExp(h) });
      else if (!hiddenExact.has(h)) hiddenExact.set(h, index);
    });
    this.hiddenExact = hiddenExact;
    this.hiddenGlobs = hiddenGlobs;
    for (const name of exact.keys()) this.#exactPlans.set(name, this.#buildPlan(name));
  }

  /**
   * The rule governing `name`: exact key first, else the most specific matching glob.
   * With `trace`, records every entry considered (the one matching path `explain`
   * shares with `evaluate`).
   */
  ruleFor(name: string, trace?: TraceStep[]): CompiledRule | undefined {
    const hit = this.exact.get(name);
    trace?.push({
      step: "exact",
      ruleId: hit?.ruleId ?? "tools",
      result: hit === undefined ? "no_match" : "matched",
      detail: hit === undefined ? `no rule named "${name}"` : `rule for "${name}"`,
    });
    let rule = hit;
    for (const g of this.globs) {
      if (rule !== undefined) {
        if (trace === undefined) break;
        trace.push({
          step: "glob",
          ruleId: g.ruleId,
          result: "skipped",
          detail: "a more specific rule already matched",
        });
        continue;
      }
      const matched = g.re.test(name);
      trace?.push({
        step: "glob",
        ruleId: g.ruleId,
        result: matched ? "matched" : "no_match",
        detail: `"${g.key}" ${matched ? "matches" : "does not match"} "${name}"`,
      });
      if (matched) rule = g;
    }
    return rule;
  }

  /** Index in `hide` of the first entry covering `name`, or -1. With `trace`, records the entries up to it. */
  hideIndex(name: string, trace?: TraceStep[]): number {
    const i = this.hiddenExact.get(name);
    let best = i ?? -1;
    for (const g of this.hiddenGlobs) {
      if (best !== -1 && g.index > best) break;
      if (g.re.test(name)) {
        best = g.index;
        break;
      }
    }
    if (trace !== undefined) {
      const hide = this.document.hide ?? [];
      const last = best === -1 ? hide.length - 1 : best;
      for (let k = 0; k <= last; k++) {
        trace.push({
          step: "hide",
          ruleId: `hide[${k}]`,
          result: k === best ? "matched" : "no_match",
          detail: k === best ? `"${hide[k]}" hides "${name}"` : `"${hide[k]}" does not match`,
        });
      }
    }
    return best;
  }

  /**
   * Every limit of this policy (all_tools first, then each rule's, in policy order) as
   * `identity`'s counter. Apps use it to show or peek counters instead of rebuilding
   * store keys from engine internals.
   *
   * @example
   * const views = policy.limitCounters({ grant: "demo" }).filter((v) => v.scope === "grant");
   * const states = await store.peek(views);
   */
  limitCounters(identity: Identity): LimitCounterView[] {
    const out: LimitCounterView[] = [];
    for (const l of this.limitsById.values()) {
      out.push({
        ruleId: l.ruleId,
        counter: l.counter,
        key: counterKey(l, identity),
        window: l.window,
        windowMs: l.windowMs,
        max: l.max,
        scope: l.scope,
        algorithm: l.algorithm,
        ...(l.burst !== undefined && { burst: l.burst }),
      });
    }
    return out;
  }

  /** The pin of `name` (only exact entries carry pins), or `undefined`. */
  pinFor(name: string): string | undefined {
    return this.exact.has(name) ? this.document.tools?.[name]?.pin : undefined;
  }

  /**
   * The result policy governing `name`: that of the rule `ruleFor` picks (exact entry,
   * else most specific glob), or `undefined` when it has no `results`.
   */
  resultPolicyFor(name: string): CompiledResultPolicy | undefined {
    const rule = this.ruleFor(name);
    return rule === undefined ? undefined : this.#results.get(rule.key);
  }

  /**
   * The result policy for a `resources/read` of `uri`: the `resources` entry naming it
   * exactly, else the longest glob matching it; `undefined` when none does.
   */
  resourcePolicyFor(uri: string): CompiledResultPolicy | undefined {
    // The client writes the URI and the upstream may normalise it: a URI is matched
    // without case and both as written and percent-decoded, so `MEMORY://a/%6Beys`
    // cannot slip past an entry for `memory://a/keys` (screening more is the safe side).
    const forms = [uri.toLowerCase()];
    try {
      const decoded = decodeURIComponent(uri).toLowerCase();
      if (decoded !== forms[0]) forms.push(decoded);
    } catch {
      // Not decodable: matched as written.
    }
    for (const r of this.#resources) {
      for (const f of forms)
        if (r.exact !== undefined ? r.exact === f : r.re!.test(f)) return r.policy;
    }
    return undefined;
  }

  /** The guardrails of `name`, as `explain` shows them. */
  guardrailsFor(name: string): GuardrailsView {
    const rule = this.ruleFor(name);
    const raw = rule === undefined ? undefined : this.document.tools?.[rule.key]?.results;
    const pin = this.pinFor(name);
    return {
      ...(pin !== undefined && { pin }),
      ...(this.pinSettings !== undefined && { pins: this.pinSettings }),
      ...(raw !== undefined &&
        rule !== undefined && {
          results: {
            ruleId: `${rule.ruleId}.results`,
            summary: describeResultPolicy(raw),
            shadow: rule.shadow,
          },
        }),
    };
  }

  /** The plan for `name` built afresh (never cached) while recording the matching steps. */
  tracedPlan(name: string, trace: TraceStep[]): ToolPlan {
    return this.#buildPlan(name, trace);
  }

  #buildPlan(name: string, trace?: TraceStep[]): ToolPlan {
    const hideAt = this.hideIndex(name, trace);
    const rule = this.ruleFor(name, trace);
    return buildPlan(name, hideAt, rule, this.defaultEffect, this.allLimits.length > 0);
  }
  /** The cached plan for a tool name (built on first use; bounded cache for unknown names). */
  plan(name: string): ToolPlan {
    const exact = this.#exactPlans.get(name);
    if (exact !== undefined) return exact;
    let p = this.#plans.get(name);
    if (p === undefined) {
      p = this.#buildPlan(name);
      // Names come from agents: overlong ones are decided but never cached, so a
      // client cannot pin large strings in memory.
      if (name.length > PLAN_CACHE_NAME_MAX) return p;
      if (this.#plans.size >= PLAN_CACHE_MAX) this.#plans.clear();
      this.#plans.set(name, p);
    }
    return p;
  }
}

/** The `resources` section compiled, in the order {@link CompiledPolicy.resourcePolicyFor} tries it. */
function compileResourceRules(doc: PolicyDocument) {
  const entries = Object.entries(doc.resources ?? {}).map(([key, rule]) => {
    const policy = compileResultPolicy(
      rule.results,
      `resources.${JSON.stringify(key)}.results`,
      rule.mode === "shadow",
    );
    const k = key.toLowerCase();
    return isGlob(key) ? { key, re: globToRegExp(k), policy } : { key, exact: k, policy };
  });
  // Exact URIs win; among globs the longer pattern is the more specific.
  return entries.sort(
    (a, b) =>
      Number(a.exact === undefined) - Number(b.exact === undefined) || b.key.length - a.key.length,
  );
}

/** Options of {@link compilePolicy}. */
export const CompilePolicyOptionsSchema = z
  .object({
    /** File name or label shown in messages and on the compiled policy. */
    source: z.string().optional(),
  })
  .strict();

/** Options of {@link compilePolicy}, derived from {@link CompilePolicyOptionsSchema}. */
export type CompilePolicyOptions = z.input<typeof CompilePolicyOptionsSchema>;

/**
 * Validates and compiles a policy once so every decision is a few map lookups.
 * The document is re-validated here, so hand-built documents get the same checks as
 * parsed files.
 *
 * @throws PolicyError `POLICY_INVALID` with every problem.
 * @example
 * const policy = compilePolicy(await loadPolicyFile("policy.yaml"), { source: "policy.yaml" });
 * policy.version; // "sha256:…"
 */
export function compilePolicy(
  doc: PolicyDocument,
  options: CompilePolicyOptions = {},
): CompiledPolicy {
  const opts = parseOptions(CompilePolicyOptionsSchema, options, "compilePolicy options");
  const valid = parsePolicy(doc, opts.source);
  return new CompiledPolicy(valid, opts.source);
}
