import { createHash } from "node:crypto";
import type { Ajv, ValidateFunction } from "ajv";
import { z } from "zod";
import { compileJsonSchema, createAjv } from "./ajv.js";
import { type CompiledApprovalRule, compileApprovalRules } from "./approval-rule.js";
import { type CompiledCondition, compileCondition } from "./conditions.js";
import type { CounterSpec, DecisionCode, Effect, Identity } from "./contracts.js";
import { PolicyError, PolicyErrorCode } from "./errors.js";
import type { PinSettings } from "./guardrails/definition.js";
import {
  compilePinSettings,
  compileResultPolicy,
  describeResultPolicy,
} from "./guardrails/policy.js";
import type { CompiledResultPolicy } from "./guardrails/result-guard.js";
import { type CompiledLimit, compileLimit, counterKey, type LimitCounterView } from "./limits.js";
import { type PolicyDocument, parsePolicy, type ToolRule } from "./schema.js";
import { canonicalJson } from "./seams/canonical-json.js";
import { parseOptions } from "./seams/options.js";
import { formatPath, globLiterals, globToRegExp, isGlob } from "./syntax.js";
import type { TraceStep } from "./trace.js";

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

/** A tool rule with everything parsed and compiled. */
export interface CompiledRule {
  /** The key as written in `tools` (exact name or glob). */
  readonly key: string;
  /** `tools.<key>`. */
  readonly ruleId: string;
  readonly glob: boolean;
  readonly action: Effect;
  readonly shadow: boolean;
  readonly reason?: string | undefined;
  readonly require: readonly CompiledCondition[];
  readonly denyIf: readonly CompiledCondition[];
  readonly validate?: ValidateFunction | undefined;
  readonly limits: readonly CompiledLimit[];
  /** `approval` rules in order (the first whose `when` holds applies). */
  readonly approval?: readonly CompiledApprovalRule[] | undefined;
}

/** A precomputed outcome that does not depend on arguments or identity. */
export interface StaticOutcome {
  readonly effect: Effect;
  readonly code: DecisionCode;
  readonly reason: string;
  readonly ruleId: string;
}

/** Everything known about one tool name under one policy; cached per name. */
export interface ToolPlan {
  readonly name: string;
  /** Set when a `hide` entry covers the name. */
  readonly hidden?: StaticOutcome | undefined;
  /** The rule that governs the name (most specific match), if any. */
  readonly rule?: CompiledRule | undefined;
  /** Outcome when nothing per call can change it (no conditions, schema or limits). */
  readonly fixed?: StaticOutcome | undefined;
  /** `fixed` with the tool name and no counters: the whole verdict, shared by every call. */
  readonly fixedVerdict?:
    | (StaticOutcome & { readonly tool: string; readonly counters: readonly CounterSpec[] })
    | undefined;
  /** Outcome of the rule before limits, when the rule has no argument checks. */
  readonly base: StaticOutcome;
  /** Whether `tools/list` shows it. */
  readonly visible: boolean;
}

interface GlobEntry {
  readonly pattern: string;
  readonly re: RegExp;
  readonly literals: number;
  readonly wildcards: number;
}

const NO_COUNTERS: readonly CounterSpec[] = Object.freeze([]);

/** Cap on cached plans for names that are not exact keys (names come from agents). */
const PLAN_CACHE_MAX = 10_000;
/** Longest tool name whose plan is cached. */
const PLAN_CACHE_NAME_MAX = 256;

/** Content hash of a policy document: same meaning, same version, whatever the format. */
export function policyVersion(doc: PolicyDocument): string {
  return `sha256:${createHash("sha256").update(canonicalJson(doc)).digest("hex").slice(0, 12)}`;
}

const STRICTNESS: Readonly<Record<Effect, number>> = { deny: 0, require_approval: 1, allow: 2 };

/**
 * Glob order: more literal characters first, then fewer wildcards. Between equally
 * specific globs that both match a name, the stricter action wins (deny, then
 * require_approval, then allow), as everywhere else in the language; only then does
 * the key's sort order decide, so a tie can never quietly loosen a policy.
 */
function compareGlobs(
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

function globEntry(pattern: string): GlobEntry {
  const literals = globLiterals(pattern);
  return { pattern, re: globToRegExp(pattern), literals, wildcards: pattern.length - literals };
}

/** What the rule (or the default) says about `name` before arguments and limits. */
function baseOutcome(
  name: string,
  rule: CompiledRule | undefined,
  defaultEffect: "allow" | "deny",
): StaticOutcome {
  if (rule === undefined)
    return defaultEffect === "deny"
      ? {
          effect: "deny",
          code: "DEFAULT_DENY",
          reason: `tool "${name}" is not allowed by this policy (default deny)`,
          ruleId: "default",
        }
      : {
          effect: "allow",
          code: "ALLOWED",
          reason: `tool "${name}" is allowed by this policy (default allow)`,
          ruleId: "default",
        };
  if (rule.action === "deny")
    return {
      effect: "deny",
      code: "TOOL_DENIED",
      reason: rule.reason ?? `tool "${name}" is denied by this policy (${rule.ruleId})`,
      ruleId: rule.ruleId,
    };
  if (rule.action === "require_approval")
    return {
      effect: "require_approval",
      code: "APPROVAL_REQUIRED",
      reason:
        rule.reason ??
        `tool "${name}" needs a person's approval before it runs; wait for the decision`,
      ruleId: rule.ruleId,
    };
  return {
    effect: "allow",
    code: "ALLOWED",
    reason: `tool "${name}" is allowed by ${rule.ruleId}`,
    ruleId: rule.ruleId,
  };
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
      const compiled = this.#compileRule(key, rule, limitsById);
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

  #compileRule(key: string, rule: ToolRule, limitsById: Map<string, CompiledLimit>): CompiledRule {
    const ruleId = formatPath(["tools", key]);
    const limits = (rule.limits ?? []).map((l, i) => {
      const c = compileLimit(l, `${ruleId}.limits[${i}]`);
      limitsById.set(c.ruleId, c);
      return c;
    });
    return {
      key,
      ruleId,
      glob: isGlob(key),
      action: rule.action ?? "allow",
      shadow: rule.mode === "shadow",
      reason: rule.reason,
      require: (rule.require ?? []).map((c, i) => compileCondition(c, `${ruleId}.require[${i}]`)),
      denyIf: (rule.deny_if ?? []).map((c, i) => compileCondition(c, `${ruleId}.deny_if[${i}]`)),
      validate:
        rule.arguments === undefined || this.ajv === undefined
          ? undefined
          : this.#compileSchema(ruleId, rule.arguments),
      limits,
      approval: compileApprovalRules(rule.approval, ruleId),
    };
  }

  #compileSchema(ruleId: string, schema: unknown): ValidateFunction {
    try {
      return compileJsonSchema(this.ajv as Ajv, schema);
    } catch (err) {
      // Valid on its own but not next to the others, e.g. two rules using one `$id`.
      throw new PolicyError(
        PolicyErrorCode.POLICY_INVALID,
        [
          {
            path: `${ruleId}.arguments`,
            message: `JSON Schema does not compile with the rest of the policy: ${(err as Error).message}`,
            fix: "give every schema a unique $id (or none)",
          },
        ],
        { source: this.source },
      );
    }
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
    const hidden: StaticOutcome | undefined =
      hideAt === -1
        ? undefined
        : {
            effect: "deny",
            code: "TOOL_HIDDEN",
            reason: `tool "${name}" is not available to this client`,
            ruleId: `hide[${hideAt}]`,
          };
    const base = baseOutcome(name, rule, this.defaultEffect);
    const dynamic =
      rule !== undefined &&
      (rule.require.length > 0 ||
        rule.denyIf.length > 0 ||
        rule.validate !== undefined ||
        rule.limits.length > 0 ||
        rule.approval !== undefined ||
        rule.shadow);
    let fixed: StaticOutcome | undefined;
    if (hidden !== undefined) fixed = hidden;
    else if (base.effect === "deny" && (rule === undefined || !rule.shadow)) fixed = base;
    else if (!dynamic && this.allLimits.length === 0) fixed = base;
    const visible =
      hidden === undefined &&
      (rule === undefined ? this.defaultEffect === "allow" : rule.shadow || rule.action !== "deny");
    // One literal shape for every fixed verdict keeps the decide path monomorphic.
    const fixedVerdict =
      fixed === undefined
        ? undefined
        : {
            tool: name,
            effect: fixed.effect,
            code: fixed.code,
            reason: fixed.reason,
            ruleId: fixed.ruleId,
            counters: NO_COUNTERS,
          };
    return { name, hidden, rule, fixed, fixedVerdict, base, visible };
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
