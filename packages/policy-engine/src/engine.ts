import { z } from "zod";
import type { CompiledPolicy, StaticOutcome } from "./compile.js";
import type {
  CounterReservation,
  CounterSpec,
  CounterState,
  CounterStore,
  Decision,
  Identity,
  Reservation,
  ReserveOutcome,
  ToolCall,
} from "./contracts.js";
import { PolicyErrorCode, ToolgateError } from "./errors.js";
import {
  type Explanation,
  evaluateCall,
  explainCall,
  type Outcome,
  type Verdict,
} from "./evaluate.js";
import { clockSchema, fnSchema } from "./seams/clock.js";
import { parseOptions } from "./seams/options.js";
import { createMemoryStore, syncReserver } from "./store/memory-store.js";

const isStore = (v: unknown): v is CounterStore =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as CounterStore).reserve === "function" &&
  typeof (v as CounterStore).peek === "function";

/** Options of {@link createPolicyEngine}; every field is optional. */
export const PolicyEngineOptionsSchema = z.object({
  /** Where counters live. Default: a fresh memory store using `now`. */
  store: z
    .custom<CounterStore>(isStore, { message: "must be a CounterStore (reserve, peek, ...)" })
    .optional(),
  /** Clock in epoch ms, used for the default store and retry times. Default `Date.now`. */
  now: clockSchema.optional(),
  /** Decision id generator. Default: a process-unique prefix plus a counter (cheap). */
  newId: fnSchema<() => string>("returning a unique decision id").optional(),
});

/** Options of {@link createPolicyEngine}, derived from {@link PolicyEngineOptionsSchema}. */
export type PolicyEngineOptions = z.input<typeof PolicyEngineOptionsSchema>;

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

/** What the decision functions share: the engine's store, ids and clock. */
interface EngineContext {
  readonly store: CounterStore;
  readonly newId: () => string;
  readonly now: () => number;
  /** The store's synchronous reserve when it has one (the memory store). */
  readonly reserveNow: ((specs: readonly CounterSpec[]) => ReserveOutcome) | undefined;
}

function shadowFromPeek(
  ctx: EngineContext,
  policy: CompiledPolicy,
  v: Verdict,
  states: readonly CounterState[],
): Outcome | undefined {
  const specs = v.shadowCounters ?? [];
  for (let i = 0; i < states.length; i++) {
    const st = states[i] as CounterState;
    const spec = specs[i] as CounterSpec;
    if (st.used + spec.weight > spec.max)
      return rateLimitOutcome(policy, spec, Math.max(1, st.resetAtMs - ctx.now()));
  }
  return v.shadow;
}

function finish(
  ctx: EngineContext,
  policy: CompiledPolicy,
  v: Verdict,
  shadow: Outcome | undefined,
  t0: number,
): Promise<Decision> {
  if (v.effect === "deny" || v.counters.length === 0) {
    return Promise.resolve({
      id: ctx.newId(),
      effect: v.effect,
      code: v.code,
      reason: v.reason,
      ruleId: v.ruleId,
      policyVersion: policy.version,
      tool: v.tool,
      shadow,
      decideUs: (performance.now() - t0) * 1000,
      approval: v.approval,
    });
  }
  if (ctx.reserveNow !== undefined) {
    let out: ReserveOutcome;
    try {
      out = ctx.reserveNow(v.counters);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve(reserved(ctx, policy, v, shadow, t0, out));
  }
  return ctx.store.reserve(v.counters).then((out) => reserved(ctx, policy, v, shadow, t0, out));
}

function reserved(
  ctx: EngineContext,
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
          // The agent hears only that the store is down: the cause (a Redis address, a
          // driver error) stays in `degraded.reason`, for the operator's log.
          reason: `limit store unavailable; retry in ${retryText(out.retryAfterMs)}`,
          ruleId: spec.ruleId,
        }
      : rateLimitOutcome(policy, spec, out.retryAfterMs);
    return {
      id: ctx.newId(),
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
    id: ctx.newId(),
    effect: v.effect,
    code: v.code,
    reason: v.reason,
    ruleId: v.ruleId,
    policyVersion: policy.version,
    tool: v.tool,
    shadow,
    limits: out.counters,
    degraded: out.degraded,
    reservation: new StoreReservation(ctx.store, out.reservation),
    decideUs: (performance.now() - t0) * 1000,
    approval: v.approval,
  };
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
export function createPolicyEngine(options: PolicyEngineOptions = {}): PolicyEngine {
  const opts = parseOptions(PolicyEngineOptionsSchema, options, "policy engine options");
  const now = opts.now ?? Date.now;
  // No sweep timer: the store also sweeps as it goes (amortised O(1) per reserve), and
  // a library user's process must not hold a timer it never asked for.
  const store = opts.store ?? createMemoryStore({ now, sweepIntervalMs: 0 });
  const newId = opts.newId ?? defaultIdGenerator();
  const ctx: EngineContext = { store, newId, now, reserveNow: syncReserver(store) };

  // Plain functions returning promises instead of `async` ones: a decision without
  // counters settles with a single resolved promise, and one with counters with a
  // single `then` (or, on the memory store, which can answer synchronously, again
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
        .then((states) =>
          finish(ctx, policy, verdict, shadowFromPeek(ctx, policy, verdict, states), t0),
        );
    }
    return finish(ctx, policy, v, v.shadow, t0);
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
