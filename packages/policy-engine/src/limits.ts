import type { Identity, LimitAlgorithm } from "./contracts.js";
import type { PolicyLimit } from "./schema.js";
import { type PathSegment, parseArgPath, parseWindow } from "./syntax.js";

/** A limit resolved at compile time; per call only the key suffix and weight are added. */
export interface CompiledLimit {
  /** Policy path, e.g. `tools.binance_us_create_listen_key.limits[0]`. */
  readonly ruleId: string;
  readonly counter: string;
  readonly window: string;
  readonly windowMs: number;
  readonly max: number;
  readonly scope: "grant" | "session" | "user" | "global";
  /** `<counter>|<scope>|`; the scope value is appended per call. */
  readonly keyPrefix: string;
  readonly incrementFrom?: string | undefined;
  readonly incrementSegments?: readonly PathSegment[] | undefined;
  readonly algorithm: LimitAlgorithm;
  /** Bucket size of a `token_bucket` (else undefined). */
  readonly burst?: number | undefined;
  /** The most one call may weigh: `burst` for a bucket, else `max`. */
  readonly capacity: number;
  /** `rate limit "c" reached: 10 per minute per grant`. */
  readonly reasonPrefix: string;
}

/**
 * One limit of a policy as an identity's counter: what an app needs to show or peek
 * counters without knowing how the engine names keys.
 */
export interface LimitCounterView {
  /** Policy path of the limit, e.g. `tools.binance_us_create_listen_key.limits[0]`. */
  readonly ruleId: string;
  /** The counter name as written in the policy. */
  readonly counter: string;
  /** Store key of this identity's counter; pass it to `CounterStore.peek`. */
  readonly key: string;
  /** The window as written (`minute`, `15m`). */
  readonly window: string;
  readonly windowMs: number;
  readonly max: number;
  readonly scope: "grant" | "session" | "user" | "global";
  readonly algorithm: LimitAlgorithm;
  readonly burst?: number | undefined;
}

/**
 * The value a limit's scope counts by: the grant, the session (else the grant), the
 * grant's verified user, or everyone.
 */
export function scopeValue(limit: Pick<CompiledLimit, "scope">, identity: Identity): string {
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

/** The store key of `limit` for `identity`. */
export function counterKey(limit: CompiledLimit, identity: Identity): string {
  return limit.keyPrefix + scopeValue(limit, identity);
}

/** Resolves one limit of the policy at compile time. */
export function compileLimit(l: PolicyLimit, ruleId: string): CompiledLimit {
  const windowMs = parseWindow(l.window);
  if (windowMs === undefined) throw new TypeError(`${ruleId}.window is invalid`);
  const scope = l.scope ?? "grant";
  const segs = l.increment_from === undefined ? undefined : parseArgPath(l.increment_from);
  if (typeof segs === "string") throw new TypeError(`${ruleId}.increment_from ${segs}`);
  const per = scope === "global" ? "in total" : `per ${scope}`;
  const unit = l.increment_from === undefined ? "" : ` (counted from ${l.increment_from})`;
  const algorithm = l.algorithm ?? "fixed";
  const burst = algorithm === "token_bucket" ? (l.burst ?? l.max) : undefined;
  const how =
    algorithm === "sliding"
      ? ", sliding"
      : algorithm === "token_bucket"
        ? `, token bucket of ${burst}`
        : "";
  return {
    ruleId,
    counter: l.counter,
    window: l.window,
    windowMs,
    max: l.max,
    scope,
    keyPrefix: `${l.counter}|${scope}|`,
    incrementFrom: l.increment_from,
    incrementSegments: segs,
    algorithm,
    burst,
    capacity: burst ?? l.max,
    reasonPrefix: `rate limit "${l.counter}" reached: ${l.max} per ${l.window} ${per}${unit}${how}`,
  };
}
