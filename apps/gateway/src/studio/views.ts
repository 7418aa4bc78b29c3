import { basename } from "node:path";
import type { CompiledPolicy } from "@toolgate/policy-engine";
import type { CounterView } from "../admin.js";
import { classifyToolRisk } from "../risk/classify.js";
import { recommendRule } from "../risk/recommend.js";
import { compiledVersion } from "./drafts.js";
import type { Inventory } from "./inventory.js";
import type { StudioContext, StudioTool, ToolPolicyView } from "./model.js";
import { contentHash, formatOfPath, readPolicyText, testFileFor } from "./policy-file.js";

// What the studio shows: grants, a grant's policy file, and the tools view (risk and what
// the policy in force does to each tool, with live counter use).

/** What `policy` does to `tool` for `grant`, from its explanation with no arguments. */
export function policyView(
  ctx: StudioContext,
  policy: CompiledPolicy,
  tool: string,
  grant: string,
  counters: readonly CounterView[],
): ToolPolicyView {
  const ex = ctx.engine.explain(policy, { name: tool, arguments: {} }, { grant });
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

/** Grants, their policy files and whether the studio may publish to them. */
export function listGrants(ctx: StudioContext) {
  const { options } = ctx;
  return options.grants.map((g) => {
    const holder = options.policies.get(g.policyPath);
    const tests = testFileFor(g.policyPath);
    return {
      grant: g.name,
      policy: basename(g.policyPath),
      format: formatOfPath(g.policyPath),
      version: holder?.current.version,
      sharedWith: ctx.sharing(g.policyPath).filter((n) => n !== g.name),
      readOnly: options.readOnlyPolicies?.has(g.policyPath) ?? false,
      tests: tests ? basename(tests) : undefined,
    };
  });
}

/** The policy file of a grant as it is on disk, and the version in force. */
export async function grantPolicy(ctx: StudioContext, name: string) {
  const g = ctx.grantOf(name);
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
    readOnly: ctx.options.readOnlyPolicies?.has(g.policyPath) ?? false,
    sharedWith: ctx.sharing(g.policyPath).filter((n) => n !== g.name),
    tests: (() => {
      const t = testFileFor(g.policyPath);
      return t ? basename(t) : undefined;
    })(),
  };
}

/** Every tool behind the gateway with its risk and what the grant's policy does to it. */
export async function listTools(
  ctx: StudioContext,
  name: string,
  opts: { refresh?: boolean } = {},
) {
  const { options } = ctx;
  const g = ctx.grantOf(name);
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
      policy: policyView(ctx, policy, t.name, g.name, counters),
    };
  });
  const upstreams: Inventory["upstreams"] = inv.upstreams;
  return { grant: g.name, version: policy.version, listedAt: inv.at, upstreams, tools };
}
