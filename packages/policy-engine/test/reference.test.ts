/**
 * Property test: the compiled engine against a deliberately simple reference evaluator
 * (linear scans, a recursive glob matcher, a plain counter map, no caches or indexes)
 * on random policies and random call sequences under a fake clock.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compilePolicy,
  createPolicyEngine,
  type PolicyCondition,
  type PolicyDocument,
  type PolicyLimit,
  type ToolRule,
} from "../src/index.js";

// ---------- reference evaluator ----------

function globMatch(p: string, s: string): boolean {
  if (p === "") return s === "";
  if (p[0] === "*") return globMatch(p.slice(1), s) || (s !== "" && globMatch(p, s.slice(1)));
  if (s === "") return false;
  return (p[0] === "?" || p[0] === s[0]) && globMatch(p.slice(1), s.slice(1));
}

const hasWildcard = (k: string) => k.includes("*") || k.includes("?");
const literalCount = (k: string) => k.replace(/[*?]/g, "").length;

function pickRule(doc: PolicyDocument, name: string): [string, ToolRule] | undefined {
  const tools = doc.tools ?? {};
  for (const [k, r] of Object.entries(tools)) if (!hasWildcard(k) && k === name) return [k, r];
  let best: [string, ToolRule] | undefined;
  for (const [k, r] of Object.entries(tools)) {
    if (!hasWildcard(k) || !globMatch(k, name)) continue;
    if (best === undefined) {
      best = [k, r];
      continue;
    }
    const [bk, br] = best;
    const strictness = (x: ToolRule) =>
      x.action === "deny" ? 0 : x.action === "require_approval" ? 1 : 2;
    const better =
      literalCount(k) > literalCount(bk) ||
      (literalCount(k) === literalCount(bk) &&
        (k.length - literalCount(k) < bk.length - literalCount(bk) ||
          (k.length - literalCount(k) === bk.length - literalCount(bk) &&
            (strictness(r) < strictness(br) || (strictness(r) === strictness(br) && k < bk)))));
    if (better) best = [k, r];
  }
  return best;
}

function holds(c: PolicyCondition, args: Record<string, unknown>): boolean {
  const key = c.path.slice("args.".length);
  const present = Object.hasOwn(args, key);
  const a = args[key];
  if (c.op === "exists") return present === (c.value !== false);
  if (!present) return false;
  const v = c.value as number;
  switch (c.op) {
    case "eq":
      return a === v;
    case "neq":
      return a !== v;
    case "in":
      return (c.value as unknown[]).includes(a);
    case "not_in":
      return !(c.value as unknown[]).includes(a);
    case "lt":
      return typeof a === "number" && a < v;
    case "lte":
      return typeof a === "number" && a <= v;
    case "gt":
      return typeof a === "number" && a > v;
    case "gte":
      return typeof a === "number" && a >= v;
    default:
      throw new Error(`op ${c.op} not generated`);
  }
}

const WINDOW_MS: Record<string, number> = { minute: 60_000, "30s": 30_000, second: 1_000 };

interface RefResult {
  effect: string;
  code: string;
  ruleId: string;
  retryAfterMs?: number | undefined;
  shadow?: string | undefined;
}

interface Need {
  key: string;
  max: number;
  windowMs: number;
  weight: number;
  ruleId: string;
}

class RefCounters {
  readonly m = new Map<string, { used: number; resetAt: number }>();
  get(key: string, now: number) {
    const w = this.m.get(key);
    return w !== undefined && now < w.resetAt ? w : undefined;
  }
  /** Returns the blocked need or the applied entries. */
  reserve(needs: Need[], now: number): { blocked: Need; retry: number } | Need[] {
    const extra = new Map<string, number>();
    for (const n of needs) {
      const used = (this.get(n.key, now)?.used ?? 0) + (extra.get(n.key) ?? 0);
      if (used + n.weight > n.max) {
        const w = this.get(n.key, now);
        return { blocked: n, retry: w === undefined ? n.windowMs : Math.max(1, w.resetAt - now) };
      }
      extra.set(n.key, (extra.get(n.key) ?? 0) + n.weight);
    }
    for (const n of needs) {
      let w = this.get(n.key, now);
      if (w === undefined) {
        w = { used: 0, resetAt: now + n.windowMs };
        this.m.set(n.key, w);
      }
      w.used += n.weight;
    }
    return needs;
  }
}

function needsOf(
  limits: PolicyLimit[],
  base: string,
  args: Record<string, unknown>,
  grant: string,
  session: string | undefined,
): Need[] | RefResult {
  const out: Need[] = [];
  limits.forEach((l, i) => {
    out.push({
      key: `${l.counter}|${l.scope ?? "grant"}|${l.scope === "global" ? "*" : l.scope === "session" ? (session ?? grant) : grant}`,
      max: l.max,
      windowMs: WINDOW_MS[l.window] as number,
      weight: l.increment_from === undefined ? 1 : (args.x as number),
      ruleId: `${base}[${i}]`,
    });
  });
  for (const n of out) {
    if (typeof n.weight !== "number" || n.weight < 0)
      return { effect: "deny", code: "ARGUMENTS_INVALID", ruleId: n.ruleId };
    if (n.weight > n.max) return { effect: "deny", code: "RATE_LIMITED", ruleId: n.ruleId };
  }
  return out;
}

function reference(
  doc: PolicyDocument,
  counters: RefCounters,
  now: number,
  name: string,
  args: Record<string, unknown>,
  grant: string,
  session: string | undefined,
): { result: RefResult; reserved?: Need[] } {
  const hide = doc.hide ?? [];
  for (let i = 0; i < hide.length; i++)
    if (globMatch(hide[i] as string, name))
      return { result: { effect: "deny", code: "TOOL_HIDDEN", ruleId: `hide[${i}]` } };
  const found = pickRule(doc, name);
  const all = needsOf(doc.all_tools?.limits ?? [], "all_tools.limits", args, grant, session);
  const reserve = (
    needs: Need[],
    effect: string,
    code: string,
    ruleId: string,
    shadow?: string,
  ) => {
    const r = counters.reserve(needs, now);
    if (!Array.isArray(r))
      return {
        result: {
          effect: "deny",
          code: "RATE_LIMITED",
          ruleId: r.blocked.ruleId,
          retryAfterMs: r.retry,
          shadow,
        },
      };
    return { result: { effect, code, ruleId, shadow }, reserved: r };
  };
  if (found === undefined) {
    if ((doc.default ?? "deny") === "deny")
      return { result: { effect: "deny", code: "DEFAULT_DENY", ruleId: "default" } };
    if (!Array.isArray(all)) return { result: all };
    return reserve(all, "allow", "ALLOWED", "default");
  }
  const [key, rule] = found;
  const id = `tools.${key}`;
  const action = rule.action ?? "allow";
  let outcome: RefResult | undefined =
    action === "deny" ? { effect: "deny", code: "TOOL_DENIED", ruleId: id } : undefined;
  (rule.deny_if ?? []).forEach((c, i) => {
    if (outcome === undefined && holds(c, args))
      outcome = { effect: "deny", code: "CONDITION_FAILED", ruleId: `${id}.deny_if[${i}]` };
  });
  (rule.require ?? []).forEach((c, i) => {
    if (outcome === undefined && !holds(c, args))
      outcome = { effect: "deny", code: "CONDITION_FAILED", ruleId: `${id}.require[${i}]` };
  });
  if (rule.mode !== "shadow") {
    if (outcome !== undefined) return { result: outcome };
    if (!Array.isArray(all)) return { result: all };
    const own = needsOf(rule.limits ?? [], `${id}.limits`, args, grant, session);
    if (!Array.isArray(own)) return { result: own };
    return reserve(
      [...all, ...own],
      action,
      action === "require_approval" ? "APPROVAL_REQUIRED" : "ALLOWED",
      id,
    );
  }
  if (!Array.isArray(all)) return { result: all };
  let shadow = outcome?.effect;
  if (shadow === undefined) {
    const own = needsOf(rule.limits ?? [], `${id}.limits`, args, grant, session);
    if (!Array.isArray(own)) shadow = "deny";
    else if (own.some((n) => (counters.get(n.key, now)?.used ?? 0) + n.weight > n.max))
      shadow = "deny";
    else if (action === "require_approval") shadow = "require_approval";
  }
  return reserve(all, "allow", "ALLOWED", id, shadow);
}

// ---------- generators ----------

const NAMES = ["a", "b", "ab", "ba", "abc", "bca"] as const;
const GLOBS = ["a*", "*b", "?b", "a?c", "*", "ab*", "b**"] as const;
// Each counter has one fixed definition so generated policies stay valid.
const COUNTERS: Record<string, Omit<PolicyLimit, "increment_from">> = {
  c1: { counter: "c1", window: "minute", max: 2, scope: "grant" },
  c2: { counter: "c2", window: "30s", max: 3, scope: "global" },
  c3: { counter: "c3", window: "second", max: 1, scope: "session" },
  c4: { counter: "c4", window: "minute", max: 6 },
};

const limitArb: fc.Arbitrary<PolicyLimit> = fc
  .record({ c: fc.constantFrom("c1", "c2", "c3", "c4"), inc: fc.boolean() })
  .map(({ c, inc }) => ({
    ...(COUNTERS[c] as PolicyLimit),
    ...(inc && c === "c4" ? { increment_from: "args.x" } : {}),
  }));

const condArb: fc.Arbitrary<PolicyCondition> = fc.oneof(
  fc.record({
    path: fc.constant("args.x"),
    op: fc.constantFrom("eq", "neq", "lt", "lte", "gt", "gte"),
    value: fc.integer({ min: -1, max: 4 }),
  }),
  fc.record({
    path: fc.constant("args.x"),
    op: fc.constantFrom("in", "not_in"),
    value: fc.array(fc.integer({ min: -1, max: 4 }), { maxLength: 3 }),
  }),
  fc.record({ path: fc.constant("args.x"), op: fc.constant("exists"), value: fc.boolean() }),
) as fc.Arbitrary<PolicyCondition>;

const ruleArb: fc.Arbitrary<ToolRule> = fc.record(
  {
    action: fc.constantFrom("allow", "deny", "require_approval"),
    mode: fc.constantFrom("enforce", "shadow"),
    limits: fc.array(limitArb, { maxLength: 2 }),
    require: fc.array(condArb, { maxLength: 2 }),
    deny_if: fc.array(condArb, { maxLength: 1 }),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<ToolRule>;

const policyArb: fc.Arbitrary<PolicyDocument> = fc
  .record({
    default: fc.constantFrom("allow", "deny"),
    hide: fc.uniqueArray(fc.constantFrom<string>(...NAMES, ...GLOBS), { maxLength: 2 }),
    tools: fc.dictionary(fc.constantFrom<string>(...NAMES, ...GLOBS), ruleArb, { maxKeys: 6 }),
    all: fc.array(limitArb, { maxLength: 1 }),
  })
  .map(({ default: d, hide, tools, all }) => {
    const doc: PolicyDocument = { version: "1", default: d, tools };
    if (hide.length > 0) doc.hide = hide;
    if (all.length > 0) doc.all_tools = { limits: all };
    return doc;
  });

const callArb = fc.record({
  name: fc.constantFrom<string>(...NAMES, "zzz"),
  x: fc.option(fc.integer({ min: -1, max: 7 }), { nil: undefined }),
  grant: fc.constantFrom("g1", "g2"),
  session: fc.option(fc.constantFrom("s1", "s2"), { nil: undefined }),
  advance: fc.constantFrom(0, 0, 0, 500, 1_000, 20_000, 61_000),
  fail: fc.boolean(),
});

describe("compiled engine agrees with the reference evaluator", () => {
  it("on random policies and call sequences", async () => {
    await fc.assert(
      fc.asyncProperty(
        policyArb,
        fc.array(callArb, { minLength: 1, maxLength: 25 }),
        async (doc, calls) => {
          let now = 1_000_000;
          const engine = createPolicyEngine({ now: () => now });
          const policy = compilePolicy(doc);
          const ref = new RefCounters();
          for (const c of calls) {
            now += c.advance;
            const args: Record<string, unknown> = c.x === undefined ? {} : { x: c.x };
            const d = await engine.decide(
              policy,
              { name: c.name, arguments: args },
              { grant: c.grant, session: c.session },
            );
            const want = reference(doc, ref, now, c.name, args, c.grant, c.session);
            expect({
              effect: d.effect,
              code: d.code,
              ruleId: d.ruleId,
              retryAfterMs: d.retryAfterMs,
              shadow: d.shadow?.effect,
            }).toEqual({
              ...want.result,
              retryAfterMs: want.result.retryAfterMs,
              shadow: want.result.shadow,
            });
            // A failed upstream call gives its units back, in both models.
            if (c.fail && d.reservation !== undefined) {
              await d.reservation.rollback();
              for (const n of want.reserved ?? []) {
                const w = ref.get(n.key, now);
                if (w !== undefined) w.used = Math.max(0, w.used - n.weight);
              }
            } else await d.reservation?.commit();
          }
        },
      ),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 300) },
    );
    // Generous because the machine may be shared; the run itself takes about a second.
  }, 30_000);
});
