import { basename } from "node:path";
import {
  type CompiledPolicy,
  compilePolicy,
  loadPolicyTestSuite,
  type PolicyDocument,
  PolicyError,
  type PolicyIssue,
  type PolicyTestReport,
  runPolicyTests,
  type Verdict,
} from "@toolgate/policy-engine";
import { GatewayError } from "../errors.js";
import { type DiffLine, diffLines } from "./diff.js";
import type { DecisionNow, ResolvedGrant, StudioContext, TrySide } from "./model.js";
import {
  checkPolicyText,
  formatOfPath,
  type PolicyFormat,
  readPolicyText,
  renderPolicy,
  testFileFor,
} from "./policy-file.js";
import { shadowChanges } from "./shadow.js";

// A draft policy: validated, tried against a call, run against the grant's tests, and
// prepared (and diffed) for writing. Nothing here writes or forwards anything.

/** The draft prepared for writing. */
export interface Prepared {
  readonly path: string;
  readonly oldText: string;
  readonly newText: string;
  readonly document: PolicyDocument;
  readonly compiled: CompiledPolicy;
  /** What shadow mode could not cover (changes to default, hide, all_tools, removed rules). */
  readonly notShadowed: readonly string[];
}

/** `STUDIO_POLICY_INVALID` with the draft's issues. */
export function invalid(
  issues: readonly PolicyIssue[],
  message = "the draft is not a valid policy",
) {
  return new GatewayError("STUDIO_POLICY_INVALID", message, issues);
}

/**
 * The text publishing `text` would write to the grant's file (as typed when the formats
 * match, so YAML comments survive; rendered otherwise or when shadowing) and its
 * compiled policy.
 */
export async function prepare(
  grant: ResolvedGrant,
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

/** The version `text` would compile to, or undefined when it is not a valid policy. */
export function compiledVersion(text: string, format: PolicyFormat): string | undefined {
  const doc = checkPolicyText(text, format).document;
  if (!doc) return undefined;
  try {
    return compilePolicy(doc).version;
  } catch {
    return undefined;
  }
}

/** Validates draft text; returns the issues and the text in both formats. */
export function validateDraft(text: string, format: PolicyFormat) {
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
}

/**
 * A verdict as it would be decided now: the live counters it needs (peeked, never
 * consumed), and `RATE_LIMITED` when one of them is full.
 */
export async function decisionNow(
  ctx: StudioContext,
  policy: CompiledPolicy,
  v: Verdict,
): Promise<DecisionNow> {
  const base = {
    effect: v.effect as string,
    code: v.code as string,
    reason: v.reason,
    ruleId: v.ruleId,
    shadow: v.shadow,
  };
  if (v.effect === "deny" || v.counters.length === 0) return { ...base, limits: [] };
  const states = await ctx.options.store.peek(v.counters);
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
  const retryAfterMs = Math.max(1, l.resetAtMs - ctx.now());
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

/** "Try a call": the decision and trace of the draft and of the policy in force. */
export async function tryCall(
  ctx: StudioContext,
  input: {
    grant: string;
    text: string;
    format: PolicyFormat;
    tool: string;
    arguments: Record<string, unknown>;
  },
) {
  const g = ctx.grantOf(input.grant);
  const identity = { grant: g.name };
  const call = { name: input.tool, arguments: input.arguments };
  const side = async (policy: CompiledPolicy): Promise<TrySide> => {
    const ex = ctx.engine.explain(policy, call, identity);
    return {
      version: policy.version,
      decision: await decisionNow(ctx, policy, ex.verdict),
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
}

/** The grant's policy test file. @throws GatewayError `STUDIO_NO_TESTS` when it has none. */
function testFileOf(g: ResolvedGrant): string {
  const file = testFileFor(g.policyPath);
  if (file) return file;
  const stem = basename(g.policyPath).replace(/\.[^.]+$/, "");
  throw new GatewayError("STUDIO_NO_TESTS", `no policy tests next to ${basename(g.policyPath)}`, [
    {
      path: "tests",
      message: `no ${stem}.test.yaml next to the policy`,
      fix: `write cases in ${stem}.test.yaml (see \`toolgate test --help\`)`,
    },
  ]);
}

/** Runs the grant's policy test file against the draft (and the live policy, for contrast). */
export async function runDraftTests(
  ctx: StudioContext,
  input: { grant: string; text: string; format: PolicyFormat },
) {
  const g = ctx.grantOf(input.grant);
  const file = testFileOf(g);
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
}

/** What publishing would write, as a line diff against the file on disk. */
export async function diffDraft(
  ctx: StudioContext,
  input: { grant: string; text: string; format: PolicyFormat; shadow?: boolean },
) {
  const g = ctx.grantOf(input.grant);
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
}
