import { basename } from "node:path";
import {
  type CompiledPolicy,
  type CounterStore,
  compilePolicy,
  createPolicyEngine,
  type Explanation,
  loadPolicyTestSuite,
  type PolicyDocument,
  PolicyError,
  type PolicyHolder,
  type PolicyIssue,
  type PolicyTestReport,
  runPolicyTests,
  type Verdict,
} from "@toolgate/policy-engine";
import type { CounterView } from "../admin.js";
import type { PolicyPublishedEntry } from "../audit.js";
import { GatewayError } from "../errors.js";
import type { Logger } from "../logger.js";
import {
  classifyToolRisk,
  type RiskCategory,
  type RiskLevel,
  type RiskReason,
} from "../risk/classify.js";
import { type RiskRecommendation, recommendRule } from "../risk/recommend.js";
import { type DiffLine, diffLines } from "./diff.js";
import type { Inventory, ToolInventory } from "./inventory.js";
import {
  checkPolicyText,
  contentHash,
  formatOfPath,
  type PolicyFormat,
  readPolicyText,
  renderPolicy,
  testFileFor,
  writeFileAtomic,
} from "./policy-file.js";

/** A grant as the studio knows it: its name and the policy file it uses. */
export interface StudioGrant {
  readonly name: string;
  readonly policyPath: string;
}

/** Options of {@link createStudioService}. */
export interface StudioServiceOptions {
  readonly grants: readonly StudioGrant[];
  /** The gateway's policy holders by file: the policy in force. */
  readonly policies: ReadonlyMap<string, PolicyHolder>;
  readonly inventory: ToolInventory;
  /** The gateway's counter store, peeked (never consumed) for live counter use. */
  readonly store: Pick<CounterStore, "peek">;
  /** Limit counters per grant (the approvals page's source), for the tools view. */
  readonly counters?: (() => Promise<readonly CounterView[]>) | undefined;
  /** The gateway's reload path (keeps the last good policy); resolves true when applied. */
  readonly reloadPolicy: (path: string) => Promise<boolean>;
  readonly audit?: { write(entry: PolicyPublishedEntry): void } | undefined;
  /** Files the studio must not overwrite (the built-in default policy). */
  readonly readOnlyPolicies?: ReadonlySet<string> | undefined;
  readonly now?: () => number;
  readonly logger?: Logger | undefined;
}

/** What a policy does to one tool for one grant. */
export interface ToolPolicyView {
  /** `limit` = allowed under limits; `conditional` = depends on the arguments. */
  readonly action: "allow" | "limit" | "approval" | "deny" | "hidden" | "conditional";
  readonly ruleId: string;
  readonly reason: string;
  readonly shadow: boolean;
  readonly limits: readonly {
    readonly ruleId: string;
    readonly counter: string;
    readonly window: string;
    readonly max: number;
    readonly scope: string;
    /** Live use in the current window (grant-scoped limits). */
    readonly used?: number | undefined;
    readonly resetAtMs?: number | undefined;
  }[];
}

/** One row of the tools view. */
export interface StudioTool {
  readonly name: string;
  readonly upstream: string;
  readonly title?: string | undefined;
  readonly description?: string | undefined;
  readonly inputSchema?: unknown;
  readonly annotations?: unknown;
  readonly category: RiskCategory;
  readonly risk: RiskLevel;
  readonly reasons: readonly RiskReason[];
  readonly contradicted: readonly string[];
  readonly recommendation: RiskRecommendation;
  readonly policy: ToolPolicyView;
}

/** A decision as it would be made now: the verdict plus the live counters it needs. */
export interface DecisionNow {
  readonly effect: string;
  readonly code: string;
  readonly reason: string;
  readonly ruleId: string;
  readonly retryAfterMs?: number | undefined;
  readonly shadow?: Verdict["shadow"];
  readonly limits: readonly {
    readonly counter: string;
    readonly used: number;
    readonly max: number;
    readonly weight: number;
    readonly resetAtMs: number;
  }[];
}

/** One side (draft or live) of a "try a call". */
export interface TrySide {
  readonly version: string;
  readonly decision: DecisionNow;
  readonly trace: Explanation["trace"];
}

/** The draft prepared for writing. */
interface Prepared {
  readonly path: string;
  readonly oldText: string;
  readonly newText: string;
  readonly document: PolicyDocument;
  readonly compiled: CompiledPolicy;
  /** What shadow mode could not cover (changes to default, hide, all_tools, removed rules). */
  readonly notShadowed: readonly string[];
}

function canonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  return `{${Object.keys(value)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
    .join(",")}}`;
}

function invalid(issues: readonly PolicyIssue[], message = "the draft is not a valid policy") {
  return new GatewayError("STUDIO_POLICY_INVALID", message, issues);
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

/**
 * The policy studio's operations, framework-free: the tools view (risk and what the
 * policy in force does), draft validation, "try a call" against draft and live, the
 * grant's policy tests, the diff, and publishing (atomic write, the gateway's own reload
 * path, an audit record). The HTTP router only translates.
 *
 * @example
 * const studio = createStudioService({ grants, policies, inventory, store, reloadPolicy });
 * await studio.publish({ grant: "demo", text, format: "json", baseHash, by: "admin" });
 */
export function createStudioService(options: StudioServiceOptions) {
  const now = options.now ?? Date.now;
  const engine = createPolicyEngine({});
  const grantsByName = new Map(options.grants.map((g) => [g.name, g]));
  // One publish per file at a time: the base-hash check and the write must not interleave.
  const locks = new Map<string, Promise<unknown>>();

  function grantOf(name: string): StudioGrant & { holder: PolicyHolder } {
    const g = grantsByName.get(name);
    const holder = g ? options.policies.get(g.policyPath) : undefined;
    if (!g || !holder)
      throw new GatewayError("STUDIO_UNKNOWN_GRANT", `no grant named "${name}"`, [
        { path: "grant", message: `no grant named "${name}"`, fix: "pick a grant from the list" },
      ]);
    return { ...g, holder };
  }

  function sharing(path: string): string[] {
    return options.grants.filter((g) => g.policyPath === path).map((g) => g.name);
  }

  async function decisionNow(policy: CompiledPolicy, v: Verdict): Promise<DecisionNow> {
    const base = {
      effect: v.effect as string,
      code: v.code as string,
      reason: v.reason,
      ruleId: v.ruleId,
      shadow: v.shadow,
    };
    if (v.effect === "deny" || v.counters.length === 0) return { ...base, limits: [] };
    const states = await options.store.peek(v.counters);
    const limits = v.counters.map((c, i) => ({
      counter: c.counter,
      used: states[i]?.used ?? 0,
      max: c.max,
      weight: c.weight,
      resetAtMs: states[i]?.resetAtMs ?? 0,
    }));
    const full = limits.findIndex((l) => l.used + l.weight > l.max);
    if (full === -1) return { ...base, limits };
    const spec = v.counters[full];
    const l = limits[full];
    if (!spec || !l) return { ...base, limits };
    const retryAfterMs = Math.max(1, l.resetAtMs - now());
    const prefix =
      policy.limitsById.get(spec.ruleId)?.reasonPrefix ??
      `rate limit "${spec.counter}" reached: ${spec.max}`;
    return {
      effect: "deny",
      code: "RATE_LIMITED",
      reason: `${prefix}; retry in ${Math.ceil(retryAfterMs / 1000)}s`,
      ruleId: spec.ruleId,
      retryAfterMs,
      shadow: v.shadow,
      limits,
    };
  }

  function policyView(
    policy: CompiledPolicy,
    tool: string,
    grant: string,
    counters: readonly CounterView[],
  ): ToolPolicyView {
    const ex = engine.explain(policy, { name: tool, arguments: {} }, { grant });
    const v = ex.verdict;
    const hidden = ex.trace.some((t) => t.step === "hide" && t.result === "matched");
    const hasConditions = ex.trace.some(
      (t) => t.step === "require" || t.step === "deny_if" || t.step === "arguments",
    );
    const limits = ex.trace
      .filter((t) => t.step === "limit")
      .map((t) => policy.limitsById.get(t.ruleId))
      .filter((l) => l !== undefined)
      .map((l) => {
        const live =
          l.scope === "grant"
            ? counters.find((c) => c.grant === grant && c.counter === l.counter)
            : undefined;
        return {
          ruleId: l.ruleId,
          counter: l.counter,
          window: l.window,
          max: l.max,
          scope: l.scope,
          used: live?.used,
          resetAtMs: live?.resetAtMs,
        };
      });
    const action: ToolPolicyView["action"] = hidden
      ? "hidden"
      : v.effect === "deny"
        ? hasConditions && (v.code === "CONDITION_FAILED" || v.code === "ARGUMENTS_INVALID")
          ? "conditional"
          : "deny"
        : v.effect === "require_approval"
          ? "approval"
          : limits.length > 0
            ? "limit"
            : hasConditions
              ? "conditional"
              : "allow";
    return {
      action,
      ruleId: v.ruleId,
      reason: v.reason,
      shadow: v.shadow !== undefined || ex.trace.some((t) => t.step === "mode"),
      limits,
    };
  }

  async function prepare(
    grant: StudioGrant & { holder: PolicyHolder },
    text: string,
    format: PolicyFormat,
    shadow: boolean,
  ): Promise<Prepared> {
    const check = checkPolicyText(text, format);
    if (!check.ok || !check.document) throw invalid(check.issues);
    const path = grant.policyPath;
    const fileFormat = formatOfPath(path);
    const oldText = (await readPolicyText(path)) ?? "";
    let document = check.document;
    let notShadowed: string[] = [];
    let newText: string;
    if (shadow) {
      const s = shadowChanges(grant.holder.current.document, document);
      document = s.document;
      notShadowed = s.notShadowed;
      newText = renderPolicy(document, fileFormat);
    } else if (fileFormat === format) {
      // Written as typed: comments and layout of a YAML policy survive.
      newText = text.endsWith("\n") ? text : `${text}\n`;
    } else newText = renderPolicy(document, fileFormat);
    let compiled: CompiledPolicy;
    try {
      compiled = compilePolicy(document, { source: basename(path) });
    } catch (err) {
      if (err instanceof PolicyError) throw invalid(err.issues);
      throw err;
    }
    return { path, oldText, newText, document, compiled, notShadowed };
  }

  return {
    /** Grants, their policy files and whether the studio may publish to them. */
    grants() {
      return options.grants.map((g) => {
        const holder = options.policies.get(g.policyPath);
        const tests = testFileFor(g.policyPath);
        return {
          grant: g.name,
          policy: basename(g.policyPath),
          format: formatOfPath(g.policyPath),
          version: holder?.current.version,
          sharedWith: sharing(g.policyPath).filter((n) => n !== g.name),
          readOnly: options.readOnlyPolicies?.has(g.policyPath) ?? false,
          tests: tests ? basename(tests) : undefined,
        };
      });
    },

    /** The policy file of a grant as it is on disk, and the version in force. */
    async policy(name: string) {
      const g = grantOf(name);
      const text = (await readPolicyText(g.policyPath)) ?? "";
      const format = formatOfPath(g.policyPath);
      return {
        grant: g.name,
        policy: basename(g.policyPath),
        format,
        text,
        hash: contentHash(text),
        version: g.holder.current.version,
        // The file may hold an edit the gateway refused: the studio says so.
        inForce: compiledVersion(text, format) === g.holder.current.version,
        document: g.holder.current.document,
        readOnly: options.readOnlyPolicies?.has(g.policyPath) ?? false,
        sharedWith: sharing(g.policyPath).filter((n) => n !== g.name),
        tests: (() => {
          const t = testFileFor(g.policyPath);
          return t ? basename(t) : undefined;
        })(),
      };
    },

    /** Validates draft text; returns the issues and the text in both formats. */
    validate(text: string, format: PolicyFormat) {
      const check = checkPolicyText(text, format);
      let version: string | undefined;
      let issues = check.issues;
      if (check.document) {
        try {
          version = compilePolicy(check.document).version;
        } catch (err) {
          if (!(err instanceof PolicyError)) throw err;
          issues = err.issues;
        }
      }
      const value = check.value;
      const renderable = value !== undefined && value !== null && typeof value === "object";
      return {
        ok: issues.length === 0,
        issues,
        version,
        value: renderable ? value : undefined,
        json: renderable ? renderPolicy(value, "json") : undefined,
        yaml: renderable ? renderPolicy(value, "yaml") : undefined,
      };
    },

    /** Every tool behind the gateway with its risk and what the grant's policy does to it. */
    async tools(name: string, opts: { refresh?: boolean } = {}) {
      const g = grantOf(name);
      const [inv, counters] = await Promise.all([
        options.inventory.list(opts),
        options.counters ? options.counters().catch(() => []) : Promise.resolve([]),
      ]);
      const policy = g.holder.current;
      const tools: StudioTool[] = inv.tools.map((t) => {
        const a = classifyToolRisk(t.definition);
        return {
          name: t.name,
          upstream: t.upstream,
          title: t.definition.title ?? t.definition.annotations?.title,
          description: t.definition.description,
          inputSchema: t.definition.inputSchema,
          annotations: t.definition.annotations,
          category: a.category,
          risk: a.risk,
          reasons: a.reasons,
          contradicted: a.contradicted,
          recommendation: recommendRule({ ...a, tool: t.name }),
          policy: policyView(policy, t.name, g.name, counters),
        };
      });
      const upstreams: Inventory["upstreams"] = inv.upstreams;
      return { grant: g.name, version: policy.version, listedAt: inv.at, upstreams, tools };
    },

    /** "Try a call": the decision and trace of the draft and of the policy in force. */
    async tryCall(input: {
      grant: string;
      text: string;
      format: PolicyFormat;
      tool: string;
      arguments: Record<string, unknown>;
    }) {
      const g = grantOf(input.grant);
      const identity = { grant: g.name };
      const call = { name: input.tool, arguments: input.arguments };
      const side = async (policy: CompiledPolicy): Promise<TrySide> => {
        const ex = engine.explain(policy, call, identity);
        return {
          version: policy.version,
          decision: await decisionNow(policy, ex.verdict),
          trace: ex.trace,
        };
      };
      const live = await side(g.holder.current);
      const check = checkPolicyText(input.text, input.format);
      if (!check.ok || !check.document)
        return { live, draft: undefined, issues: check.issues, sentUpstream: false };
      let draft: CompiledPolicy;
      try {
        draft = compilePolicy(check.document);
      } catch (err) {
        if (err instanceof PolicyError)
          return { live, draft: undefined, issues: err.issues, sentUpstream: false };
        throw err;
      }
      // Nothing is forwarded: the studio decides, it never calls the tool.
      return { live, draft: await side(draft), issues: [], sentUpstream: false };
    },

    /** Runs the grant's policy test file against the draft (and the live policy, for contrast). */
    async runTests(input: { grant: string; text: string; format: PolicyFormat }) {
      const g = grantOf(input.grant);
      const file = testFileFor(g.policyPath);
      if (!file) {
        const stem = basename(g.policyPath).replace(/\.[^.]+$/, "");
        throw new GatewayError(
          "STUDIO_NO_TESTS",
          `no policy tests next to ${basename(g.policyPath)}`,
          [
            {
              path: "tests",
              message: `no ${stem}.test.yaml next to the policy`,
              fix: `write cases in ${stem}.test.yaml (see \`toolgate test --help\`)`,
            },
          ],
        );
      }
      const check = checkPolicyText(input.text, input.format);
      if (!check.ok || !check.document) throw invalid(check.issues);
      let suite: Awaited<ReturnType<typeof loadPolicyTestSuite>>;
      try {
        suite = await loadPolicyTestSuite(file);
      } catch (err) {
        if (err instanceof PolicyError)
          throw new GatewayError(
            "STUDIO_POLICY_INVALID",
            `${basename(file)} is not a valid test file`,
            err.issues,
          );
        throw err;
      }
      let draft: PolicyTestReport;
      try {
        draft = await runPolicyTests(compilePolicy(check.document), suite);
      } catch (err) {
        if (err instanceof PolicyError) throw invalid(err.issues);
        throw err;
      }
      const live = await runPolicyTests(g.holder.current, suite);
      return {
        file: basename(file),
        draft,
        live: { ok: live.ok, passed: live.passed, failed: live.failed, total: live.total },
      };
    },

    /** What publishing would write, as a line diff against the file on disk. */
    async diff(input: { grant: string; text: string; format: PolicyFormat; shadow?: boolean }) {
      const g = grantOf(input.grant);
      const p = await prepare(g, input.text, input.format, input.shadow === true);
      const lines: DiffLine[] = diffLines(p.oldText, p.newText);
      return {
        policy: basename(p.path),
        same: p.oldText === p.newText,
        liveVersion: g.holder.current.version,
        draftVersion: p.compiled.version,
        notShadowed: p.notShadowed,
        lines,
      };
    },

    /**
     * Writes the draft to the grant's policy file atomically, applies it through the
     * gateway's reload path and records it in the audit log. Refuses an invalid draft,
     * the built-in default policy, and a file that changed since `baseHash` was read.
     */
    async publish(input: {
      grant: string;
      text: string;
      format: PolicyFormat;
      baseHash: string;
      shadow?: boolean;
      by: string;
      note?: string | undefined;
    }) {
      const g = grantOf(input.grant);
      if (options.readOnlyPolicies?.has(g.policyPath)) {
        throw new GatewayError(
          "STUDIO_READ_ONLY",
          "this grant uses the built-in default policy, which the studio does not overwrite",
          [
            {
              path: "policy",
              message: "the built-in default policy ships with the gateway",
              fix: "copy it next to your toolgate.config.yaml, set policy: <file> there, and restart",
            },
          ],
        );
      }
      const previous = locks.get(g.policyPath) ?? Promise.resolve();
      const run = previous
        .catch(() => {})
        .then(async () => {
          const p = await prepare(g, input.text, input.format, input.shadow === true);
          const oldHash = contentHash(p.oldText);
          if (oldHash !== input.baseHash) {
            throw new GatewayError(
              "STUDIO_CONFLICT",
              `${basename(p.path)} changed since the draft was opened`,
              [
                {
                  path: "baseHash",
                  message: "the file on disk is not the one the draft started from",
                  fix: "reload the live policy, redo the edit, and publish again",
                },
              ],
            );
          }
          const oldVersion = g.holder.current.version;
          await writeFileAtomic(p.path, p.newText);
          const applied = await options.reloadPolicy(p.path);
          if (!applied) {
            throw new GatewayError(
              "STUDIO_PUBLISH_FAILED",
              "the file was written but the gateway kept the last good policy; see the log",
            );
          }
          const entry: PolicyPublishedEntry = {
            time: new Date(now()).toISOString(),
            event: "policy_published",
            by: input.by,
            grant: g.name,
            grants: sharing(g.policyPath),
            policy: basename(p.path),
            oldHash,
            newHash: contentHash(p.newText),
            oldVersion,
            newVersion: g.holder.current.version,
            shadow: input.shadow === true,
            note: input.note || undefined,
          };
          options.audit?.write(entry);
          options.logger?.info(
            {
              policy: entry.policy,
              by: entry.by,
              oldHash,
              newHash: entry.newHash,
              shadow: entry.shadow,
            },
            "policy published from the studio",
          );
          return {
            policy: entry.policy,
            grants: entry.grants,
            hash: entry.newHash,
            previousHash: oldHash,
            version: entry.newVersion,
            previousVersion: oldVersion,
            shadow: entry.shadow,
            notShadowed: p.notShadowed,
          };
        });
      locks.set(g.policyPath, run);
      try {
        return await run;
      } finally {
        if (locks.get(g.policyPath) === run) locks.delete(g.policyPath);
      }
    },
  };
}

/** The studio service; see {@link createStudioService}. */
export type StudioService = ReturnType<typeof createStudioService>;

/** The version `text` would compile to, or undefined when it is not a valid policy. */
function compiledVersion(text: string, format: PolicyFormat): string | undefined {
  const doc = checkPolicyText(text, format).document;
  if (!doc) return undefined;
  try {
    return compilePolicy(doc).version;
  } catch {
    return undefined;
  }
}
