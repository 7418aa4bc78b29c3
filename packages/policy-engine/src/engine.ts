import type { ErrorObject } from "ajv";
import type { CompiledLimit, CompiledPolicy, CompiledRule, StaticOutcome } from "./compile.js";
import type {
  CounterReservation,
  CounterSpec,
  CounterState,
  CounterStore,
  Decision,
  DecisionCode,
  Effect,
  Identity,
  Reservation,
  ReserveOutcome,
  ToolCall,
} from "./contracts.js";
import { PolicyErrorCode, ToolgateError } from "./errors.js";
import { createInProcessCounterStore, syncReserver } from "./in-process-store.js";
import { readPath } from "./syntax.js";

/** An outcome without the tool name: what a rule (or shadow rule) said. */
export interface Outcome {
  readonly effect: Effect;
  readonly code: DecisionCode;
  readonly reason: string;
  readonly ruleId: string;
}

/**
 * What the policy says about a call before counters are consulted: the effect, and
 * the counters the call needs. Synchronous and side-effect free.
 */
export interface Verdict extends Outcome {
  readonly tool: string;
  /** Counters to reserve if the effect is not `deny` (all_tools limits first, then the rule's). */
  readonly counters: readonly CounterSpec[];
  /** The shadow rule's own outcome when it would not allow (the effect is then `allow`). */
  readonly shadow?: Outcome | undefined;
  /** A shadow rule's own limits: peeked, never consumed. */
  readonly shadowCounters?: readonly CounterSpec[] | undefined;
}

/** One step of an {@link Explanation}. */
export interface TraceStep {
  /** What was checked: `hide`, `exact`, `glob`, `default`, `require`, `deny_if`, `arguments`, `action`, `limit`, `mode`. */
  readonly step: string;
  /** Policy path of the entry checked. */
  readonly ruleId: string;
  /** `matched`, `no_match`, `passed`, `failed`, `skipped` or `needs` (for limits). */
  readonly result: string;
  readonly detail: string;
}

/** The verdict plus how it was reached, for `toolgate explain`. */
export interface Explanation {
  readonly verdict: Verdict;
  readonly trace: readonly TraceStep[];
  readonly policyVersion: string;
}

/** Options of {@link createPolicyEngine}. */
export interface PolicyEngineOptions {
  /** Where counters live. Default: a fresh in-process store using `now`. */
  readonly store?: CounterStore;
  /** Clock in epoch ms, used for the default store. Default `Date.now`. */
  readonly now?: () => number;
  /** Decision id generator. Default: a process-unique prefix plus a counter (cheap). */
  readonly newId?: () => string;
}

/** The decision engine; see {@link createPolicyEngine}. */
export interface PolicyEngine {
  /** The counter store decisions reserve in. */
  readonly store: CounterStore;
  /**
   * Full decision, counters included: limits are reserved all-or-nothing; a denied call
   * reserves nothing. When a reservation is returned the caller must `commit()` after
   * the upstream call succeeded or `rollback()` when it failed (or approval was refused).
   * Rejects only when the store rejects (a programming error, per the store contract).
   */
  decide(policy: CompiledPolicy, call: ToolCall, identity: Identity): Promise<Decision>;
  /** Synchronous verdict without counters: the matching rule, effect and needed counters. */
  evaluate(policy: CompiledPolicy, call: ToolCall, identity: Identity): Verdict;
  /** The verdict with a trace of every rule considered. Counters are not consulted. */
  explain(policy: CompiledPolicy, call: ToolCall, identity: Identity): Explanation;
  /** Filters a `tools/list` result to what this identity may see. */
  visibleTools<T extends { readonly name: string }>(
    policy: CompiledPolicy,
    tools: readonly T[],
    identity: Identity,
  ): T[];
  /** False for hidden tools and tools every call to which is denied. */
  isVisible(policy: CompiledPolicy, name: string, identity: Identity): boolean;
}

const EMPTY: readonly CounterSpec[] = Object.freeze([]);
const EMPTY_ARGS: Readonly<Record<string, unknown>> = Object.freeze({});

function scopeValue(limit: CompiledLimit, identity: Identity): string {
  return limit.scope === "grant"
    ? identity.grant
    : limit.scope === "session"
      ? (identity.session ?? identity.grant)
      : limit.scope === "user"
        ? userScope(identity)
        : "*";
}

/**
 * Scope `user`: the grant and the verified subject, length-prefixed so no pair of
 * names can spell another pair's key. Without a subject (API keys) every caller of the
 * grant shares one counter, as with scope `grant`.
 */
function userScope(identity: Identity): string {
  return `${identity.grant.length}:${identity.grant}|${identity.sub ?? ""}`;
}

function describeType(v: unknown): string {
  if (v === undefined) return "missing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "number") return "a negative or non-finite number";
  return `a ${typeof v}`;
}

/**
 * Builds the specs of `limits` into `out`. Returns a deny outcome when an
 * `increment_from` argument is unusable or the weight can never fit.
 */
function pushSpecs(
  limits: readonly CompiledLimit[],
  args: unknown,
  identity: Identity,
  out: CounterSpec[],
): Outcome | undefined {
  for (let i = 0; i < limits.length; i++) {
    const l = limits[i] as CompiledLimit;
    let weight = 1;
    if (l.incrementSegments !== undefined) {
      const v = readPath(args, l.incrementSegments);
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
        return {
          effect: "deny",
          code: "ARGUMENTS_INVALID",
          reason: `limit "${l.counter}" counts ${l.incrementFrom}, which must be a number of at least 0 (got ${describeType(v)})`,
          ruleId: l.ruleId,
        };
      if (v > l.max)
        return {
          effect: "deny",
          code: "RATE_LIMITED",
          reason: `${l.reasonPrefix}; this call needs ${v}, more than the limit allows in one window`,
          ruleId: l.ruleId,
        };
      weight = v;
    }
    out.push({
      key: l.keyPrefix + scopeValue(l, identity),
      counter: l.counter,
      windowMs: l.windowMs,
      max: l.max,
      weight,
      ruleId: l.ruleId,
    });
  }
  return undefined;
}

/** `/order/items/0/qty` → `arguments.order.items[0].qty`, the form conditions use. */
function argumentPath(pointer: string): string {
  let out = "arguments";
  if (pointer === "") return out;
  for (const raw of pointer.slice(1).split("/")) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out += /^[0-9]+$/.test(seg)
      ? `[${seg}]`
      : /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg)
        ? `.${seg}`
        : `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/**
 * One JSON Schema error as the agent should read it: the argument's path and what to
 * change. Ajv's own text omits the offending property for `additionalProperties`
 * and the allowed values for `enum`, which are exactly what a model needs to retry.
 */
function schemaErrorText(e: ErrorObject): string {
  const at = argumentPath(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "required":
      return `${at}.${String(params.missingProperty)} is required`;
    case "additionalProperties":
      return `${at} must not have property "${String(params.additionalProperty)}" (remove it)`;
    case "enum":
      return `${at} must be one of ${JSON.stringify(params.allowedValues)}`;
    default:
      return `${at} ${e.message ?? "is invalid"}`;
  }
}

/** Argument checks of a rule in precedence order; the first failure decides. */
function checkArguments(
  rule: CompiledRule,
  args: unknown,
  identity: Identity,
): Outcome | undefined {
  for (const c of rule.denyIf) {
    const reason = c.denies(args, identity);
    if (reason !== undefined)
      return { effect: "deny", code: "CONDITION_FAILED", reason, ruleId: c.ruleId };
  }
  for (const c of rule.require) {
    if (!c.test(args, identity))
      return { effect: "deny", code: "CONDITION_FAILED", reason: c.failReason, ruleId: c.ruleId };
  }
  const v = rule.validate;
  if (v !== undefined && !v(args)) {
    const detail = (v.errors ?? []).slice(0, 5).map(schemaErrorText).join("; ");
    return {
      effect: "deny",
      code: "ARGUMENTS_INVALID",
      reason:
        rule.reason === undefined
          ? `arguments do not match the schema of ${rule.ruleId}: ${detail}`
          : `${rule.reason}: ${detail}`,
      ruleId: `${rule.ruleId}.arguments`,
    };
  }
  return undefined;
}

function withTool(o: Outcome, tool: string, counters: readonly CounterSpec[] = EMPTY): Verdict {
  return {
    tool,
    effect: o.effect,
    code: o.code,
    reason: o.reason,
    ruleId: o.ruleId,
    counters,
  };
}

/** The verdict for a call: plan lookup, argument checks and counter specs, no I/O. */
function evaluateCall(policy: CompiledPolicy, call: ToolCall, identity: Identity): Verdict {
  const name = call.name;
  const plan = policy.plan(name);
  const fixed = plan.fixedVerdict;
  if (fixed !== undefined) return fixed;
  const args = call.arguments ?? EMPTY_ARGS;
  const rule = plan.rule;
  const counters: CounterSpec[] = [];
  if (rule === undefined || !rule.shadow) {
    const failed = rule === undefined ? undefined : checkArguments(rule, args, identity);
    if (failed !== undefined) return withTool(failed, name);
    // Static denies were settled by `fixed`; here base is allow or require_approval.
    const bad =
      pushSpecs(policy.allLimits, args, identity, counters) ??
      (rule === undefined ? undefined : pushSpecs(rule.limits, args, identity, counters));
    if (bad !== undefined) return withTool(bad, name);
    return withTool(plan.base, name, counters);
  }
  // Shadow rule: its outcome is reported, the call is allowed; all_tools limits still bind.
  const bad = pushSpecs(policy.allLimits, args, identity, counters);
  if (bad !== undefined) return withTool(bad, name);
  let shadow: Outcome | undefined =
    plan.base.effect === "deny" ? plan.base : checkArguments(rule, args, identity);
  let shadowCounters: CounterSpec[] | undefined;
  if (shadow === undefined) {
    shadowCounters = [];
    shadow = pushSpecs(rule.limits, args, identity, shadowCounters);
    if (shadow === undefined && plan.base.effect === "require_approval") shadow = plan.base;
  }
  return {
    tool: name,
    effect: "allow",
    code: "ALLOWED",
    reason:
      shadow === undefined
        ? `tool "${name}" is allowed by ${rule.ruleId} (shadow mode)`
        : `tool "${name}" is allowed: ${rule.ruleId} is in shadow mode and would have decided "${shadow.effect}"`,
    ruleId: rule.ruleId,
    counters,
    shadow,
    shadowCounters: shadow?.effect === "deny" ? undefined : shadowCounters,
  };
}

function retryText(ms: number): string {
  if (ms < 1000) return `${Math.max(1, Math.ceil(ms))}ms`;
  const s = Math.ceil(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.ceil(s / 60);
  return m < 120 ? `${m}m` : `${Math.ceil(m / 60)}h`;
}

function rateLimitOutcome(
  policy: CompiledPolicy,
  spec: CounterSpec,
  retryAfterMs: number,
): StaticOutcome {
  const l = policy.limitsById.get(spec.ruleId);
  const prefix = l?.reasonPrefix ?? `rate limit "${spec.counter}" reached: ${spec.max}`;
  return {
    effect: "deny",
    code: "RATE_LIMITED",
    reason: `${prefix}; retry in ${retryText(retryAfterMs)}`,
    ruleId: spec.ruleId,
  };
}

/** The caller's handle: a class so a decision does not allocate two closures. */
class StoreReservation implements Reservation {
  readonly id: string;
  readonly #store: CounterStore;
  readonly #res: CounterReservation;
  constructor(store: CounterStore, res: CounterReservation) {
    this.id = res.id;
    this.#store = store;
    this.#res = res;
  }
  commit(): Promise<void> {
    return this.#store.commit(this.#res);
  }
  rollback(): Promise<void> {
    return this.#store.rollback(this.#res);
  }
}

/**
 * Default decision ids: a random per-process prefix plus a counter, so ids are unique
 * across processes without paying for a UUID per call.
 */
function defaultIdGenerator(): () => string {
  const prefix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-`;
  let n = 0;
  return () => prefix + (++n).toString(36);
}

function explainCall(policy: CompiledPolicy, call: ToolCall, identity: Identity): Explanation {
  const trace: TraceStep[] = [];
  const name = call.name;
  const args = call.arguments ?? EMPTY_ARGS;
  const hideAt = policy.hideIndex(name);
  (policy.document.hide ?? []).forEach((h, i) => {
    if (hideAt !== -1 && i > hideAt) return;
    trace.push({
      step: "hide",
      ruleId: `hide[${i}]`,
      result: i === hideAt ? "matched" : "no_match",
      detail: i === hideAt ? `"${h}" hides "${name}"` : `"${h}" does not match`,
    });
  });
  const exact = policy.exact.get(name);
  trace.push({
    step: "exact",
    ruleId: exact?.ruleId ?? "tools",
    result: exact === undefined ? "no_match" : "matched",
    detail: exact === undefined ? `no rule named "${name}"` : `rule for "${name}"`,
  });
  let rule = exact;
  for (const g of policy.globs) {
    if (rule !== undefined && rule !== g) {
      trace.push({
        step: "glob",
        ruleId: g.ruleId,
        result: "skipped",
        detail: "a more specific rule already matched",
      });
      continue;
    }
    const hit = g.re.test(name);
    trace.push({
      step: "glob",
      ruleId: g.ruleId,
      result: hit ? "matched" : "no_match",
      detail: `"${g.key}" ${hit ? "matches" : "does not match"} "${name}"`,
    });
    if (hit) rule = g;
  }
  if (rule === undefined)
    trace.push({
      step: "default",
      ruleId: "default",
      result: "matched",
      detail: `no rule matched; default is ${policy.defaultEffect}`,
    });
  else {
    if (rule.shadow)
      trace.push({
        step: "mode",
        ruleId: rule.ruleId,
        result: "matched",
        detail: "shadow: the rule's outcome is reported but the call is allowed",
      });
    for (const c of rule.denyIf) {
      const hit = c.denies(args, identity);
      trace.push({
        step: "deny_if",
        ruleId: c.ruleId,
        result: hit !== undefined ? "failed" : "passed",
        detail: hit ?? `${c.path} ${c.op} does not match`,
      });
    }
    for (const c of rule.require) {
      const ok = c.test(args, identity);
      trace.push({
        step: "require",
        ruleId: c.ruleId,
        result: ok ? "passed" : "failed",
        detail: ok ? `${c.path} ${c.op} holds` : c.failReason,
      });
    }
    if (rule.validate !== undefined) {
      const ok = rule.validate(args);
      trace.push({
        step: "arguments",
        ruleId: `${rule.ruleId}.arguments`,
        result: ok ? "passed" : "failed",
        detail: ok ? "arguments match the schema" : "arguments do not match the schema",
      });
    }
    trace.push({
      step: "action",
      ruleId: rule.ruleId,
      result: "matched",
      detail: `action ${rule.action}`,
    });
  }
  for (const l of [...policy.allLimits, ...(rule?.limits ?? [])]) {
    trace.push({
      step: "limit",
      ruleId: l.ruleId,
      result: "needs",
      detail: `counter "${l.keyPrefix}${scopeValue(l, identity)}": ${l.max} per ${l.window}${l.incrementFrom === undefined ? "" : ` counted from ${l.incrementFrom}`}`,
    });
  }
  return { verdict: evaluateCall(policy, call, identity), trace, policyVersion: policy.version };
}

/**
 * Creates the decision engine. Policies are passed per call, so one engine (and one
 * counter store) serves every policy version: counters survive reloads.
 *
 * Precedence: hide → deny; `action: deny` → deny (checked before arguments because
 * no argument can change it, so the agent is not told to fix them); `deny_if`, then
 * `require`, then `arguments` failures → deny; limits (all_tools first, then the rule's) → deny when any is
 * exhausted; `require_approval`; else allow. A shadow rule's outcome is reported in
 * `shadow` and the call is allowed; its own limits are peeked, not consumed, while
 * `all_tools` limits still bind.
 *
 * @example
 * const engine = createPolicyEngine();
 * const d = await engine.decide(policy, { name: "binance_us_create_listen_key" }, { grant: "demo" });
 * if (d.effect === "allow") { try { await forward(); await d.reservation?.commit(); } catch { await d.reservation?.rollback(); } }
 */
export function createPolicyEngine(opts: PolicyEngineOptions = {}): PolicyEngine {
  const now = opts.now ?? Date.now;
  const store = opts.store ?? createInProcessCounterStore({ now });
  const newId = opts.newId ?? defaultIdGenerator();
  const reserveNow = syncReserver(store);

  // Plain functions returning promises instead of `async` ones: a decision without
  // counters settles with a single resolved promise, and one with counters with a
  // single `then` (or, on the in-process store, which can answer synchronously, again
  // one resolved promise), which keeps the per-call overhead to what the store needs.
  function decide(policy: CompiledPolicy, call: ToolCall, identity: Identity): Promise<Decision> {
    const t0 = performance.now();
    if (typeof identity?.grant !== "string")
      return Promise.reject(
        new ToolgateError(
          PolicyErrorCode.IDENTITY_INVALID,
          "decide() needs an identity with a string grant; pass { grant, session? } from authentication",
        ),
      );
    let v: Verdict;
    try {
      v = evaluateCall(policy, call, identity);
    } catch (err) {
      return Promise.reject(err);
    }
    const peek = v.shadowCounters;
    if (peek !== undefined && peek.length > 0) {
      const verdict = v;
      return store
        .peek(peek)
        .then((states) => finish(policy, verdict, shadowFromPeek(policy, verdict, states), t0));
    }
    return finish(policy, v, v.shadow, t0);
  }

  function shadowFromPeek(
    policy: CompiledPolicy,
    v: Verdict,
    states: readonly CounterState[],
  ): Outcome | undefined {
    const specs = v.shadowCounters ?? EMPTY;
    for (let i = 0; i < states.length; i++) {
      const st = states[i] as CounterState;
      const spec = specs[i] as CounterSpec;
      if (st.used + spec.weight > spec.max)
        return rateLimitOutcome(policy, spec, Math.max(1, st.resetAtMs - now()));
    }
    return v.shadow;
  }

  function finish(
    policy: CompiledPolicy,
    v: Verdict,
    shadow: Outcome | undefined,
    t0: number,
  ): Promise<Decision> {
    if (v.effect === "deny" || v.counters.length === 0) {
      return Promise.resolve({
        id: newId(),
        effect: v.effect,
        code: v.code,
        reason: v.reason,
        ruleId: v.ruleId,
        policyVersion: policy.version,
        tool: v.tool,
        shadow,
        decideUs: (performance.now() - t0) * 1000,
      });
    }
    if (reserveNow !== undefined) {
      let out: ReserveOutcome;
      try {
        out = reserveNow(v.counters);
      } catch (err) {
        return Promise.reject(err);
      }
      return Promise.resolve(reserved(policy, v, shadow, t0, out));
    }
    return store.reserve(v.counters).then((out) => reserved(policy, v, shadow, t0, out));
  }

  function reserved(
    policy: CompiledPolicy,
    v: Verdict,
    shadow: Outcome | undefined,
    t0: number,
    out: ReserveOutcome,
  ): Decision {
    if (!out.admitted) {
      const spec = v.counters[out.blockedBy] as CounterSpec;
      const failClosed = out.degraded?.mode === "fail_closed";
      const o = failClosed
        ? {
            effect: "deny" as const,
            code: "STORE_UNAVAILABLE" as const,
            reason: `${out.degraded?.reason ?? "limit store unavailable"}; retry in ${retryText(out.retryAfterMs)}`,
            ruleId: spec.ruleId,
          }
        : rateLimitOutcome(policy, spec, out.retryAfterMs);
      return {
        id: newId(),
        effect: "deny",
        code: o.code,
        reason: o.reason,
        ruleId: o.ruleId,
        retryAfterMs: out.retryAfterMs,
        policyVersion: policy.version,
        tool: v.tool,
        shadow,
        limits: out.counters,
        degraded: out.degraded,
        decideUs: (performance.now() - t0) * 1000,
      };
    }
    return {
      id: newId(),
      effect: v.effect,
      code: v.code,
      reason: v.reason,
      ruleId: v.ruleId,
      policyVersion: policy.version,
      tool: v.tool,
      shadow,
      limits: out.counters,
      degraded: out.degraded,
      reservation: new StoreReservation(store, out.reservation),
      decideUs: (performance.now() - t0) * 1000,
    };
  }

  function isVisible(policy: CompiledPolicy, name: string, _identity: Identity): boolean {
    return policy.plan(name).visible;
  }

  return {
    store,
    decide,
    evaluate: evaluateCall,
    explain: explainCall,
    isVisible,
    visibleTools(policy, tools, identity) {
      return tools.filter((t) => isVisible(policy, t.name, identity));
    },
  };
}
