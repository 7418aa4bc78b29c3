/**
 * The contracts other Toolgate packages build against: the counter store interface,
 * the identity and call shapes, and the Decision. Changing a name here is a breaking
 * change for rate-limit-store, mcp-express and the gateway, so keep it deliberate.
 */
import type { ApprovalRequirement } from "./approval-rule.js";

/** Who is calling: the credential's grant and, when the transport has one, the MCP session. */
export interface Identity {
  /** The grant (credential) the agent presented, e.g. `"demo"`. Scope `grant` counts per grant. */
  readonly grant: string;
  /** The MCP session id. Scope `session` counts per session; without one the grant is used. */
  readonly session?: string | undefined;
  /**
   * The verified subject (an OAuth access token's `sub`), when the credential names one.
   * Scope `user` counts per grant and subject; conditions read it as `identity.sub`.
   * API keys have none.
   */
  readonly sub?: string | undefined;
  /** The OAuth client the token was issued to (`client_id`); `identity.client_id` in conditions. */
  readonly clientId?: string | undefined;
  /** Scopes the token grants; `identity.scopes` in conditions (test with `contains`). */
  readonly scopes?: readonly string[] | undefined;
  /** The token's verified claims; `identity.claims.<name>` in conditions. */
  readonly claims?: Readonly<Record<string, unknown>> | undefined;
}

/** A tool call as the engine sees it: the tool name and its (already parsed) arguments. */
export interface ToolCall {
  readonly name: string;
  readonly arguments?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * How a limit counts. `fixed`: a window opens at the first call and ends `windowMs`
 * later (up to 2x `max` around a window edge). `sliding`: an exact sliding log, at
 * most `max` units in every interval of `windowMs`. `token_bucket`: GCRA, `burst`
 * units at once, refilled at `max` per `windowMs`.
 */
export type LimitAlgorithm = "fixed" | "sliding" | "token_bucket";

/** The three outcomes. Deny wins over require_approval, which wins over allow. */
export type Effect = "allow" | "deny" | "require_approval";

/**
 * One limit of one call, fully resolved: the store never sees policy syntax.
 * `key` already contains the counter name and the scope value, so two tools naming
 * the same counter produce the same key and share it.
 */
export interface CounterSpec {
  /** Store key, e.g. `binance_us_create_listen_key_rate|grant|demo`. */
  readonly key: string;
  /** The counter name as written in the policy. */
  readonly counter: string;
  /** Window length in milliseconds. */
  readonly windowMs: number;
  /** Most units admitted per window. */
  readonly max: number;
  /** Units this call consumes (1, or the value of `increment_from`). Always >= 0. */
  readonly weight: number;
  /** Path of the limit in the policy, e.g. `tools.binance_us_create_listen_key.limits[0]`. */
  readonly ruleId: string;
  /** How the limit counts; absent means `fixed`. Keys of different algorithms never share state. */
  readonly algorithm?: LimitAlgorithm | undefined;
  /** Bucket size of a `token_bucket` (units admitted at once); absent means `max`. */
  readonly burst?: number | undefined;
}

/** What `peek` needs of a spec. */
export type PeekSpec = Pick<CounterSpec, "key" | "windowMs" | "max" | "algorithm" | "burst">;

/** The state of one counter after a reserve or a peek. */
export interface CounterState {
  readonly key: string;
  /** Units consumed in the current window (including tentative reservations). */
  readonly used: number;
  readonly max: number;
  readonly remaining: number;
  /** When the current window ends (epoch ms); `used` resets to 0 then. */
  readonly resetAtMs: number;
}

/** Reported in every decision a store failure affected. */
export interface StoreDegradation {
  /** `fail_closed`: the call was denied because counting was impossible; `fail_open`: it was admitted anyway. */
  readonly mode: "fail_closed" | "fail_open";
  /** Store name, e.g. `redis`. */
  readonly store: string;
  /** Human text, e.g. "limit store unavailable: connection refused". Never contains secrets. */
  readonly reason: string;
  /** True when an in-memory insurance limiter counted instead of the shared store. */
  readonly insurance?: boolean;
}

/** A reservation the store handed out: what must be committed or rolled back. */
export interface CounterReservation {
  /** Unique id, used for idempotent commit/rollback. */
  readonly id: string;
  readonly counters: ReadonlyArray<{
    readonly key: string;
    readonly weight: number;
    /** The window the units went into (its end, epoch ms); rollback after it ended is a no-op. */
    readonly resetAtMs: number;
    readonly windowMs: number;
    /** Absent means `fixed`. */
    readonly algorithm?: LimitAlgorithm | undefined;
    /**
     * Store-private state rollback needs for smooth limits: the log entry of a
     * `sliding` limit, the bucket's before/after state of a `token_bucket`.
     */
    readonly token?: string | undefined;
  }>;
}

/** Result of an all-or-nothing reserve of several counters. */
export type ReserveOutcome =
  | {
      readonly admitted: true;
      readonly reservation: CounterReservation;
      readonly counters: readonly CounterState[];
      readonly degraded?: StoreDegradation | undefined;
    }
  | {
      readonly admitted: false;
      /** Index into the specs passed to `reserve` of the (first) limit that refused. */
      readonly blockedBy: number;
      /** When the refusing limit will have room again. */
      readonly retryAfterMs: number;
      readonly counters: readonly CounterState[];
      readonly degraded?: StoreDegradation | undefined;
    };

/** Health of a store, for readiness probes. */
export interface StoreHealth {
  readonly ok: boolean;
  readonly store: string;
  readonly detail?: string | undefined;
}

/**
 * Where limit counters live. The engine ships an in-process implementation;
 * `@toolgate/rate-limit-store` ships memory and Redis ones behind the same interface.
 *
 * Window semantics (every implementation): a fixed window opens at the first
 * reservation on a key and lasts `windowMs`; when it ends the counter is gone and the
 * next reservation opens a new window; a refused reserve opens none. `retryAfterMs`
 * is the time until the refusing key's window ends (or until enough units expire for
 * the call's weight to fit).
 *
 * Reservation semantics: `reserve` consumes every spec's weight atomically, or none
 * when any spec would exceed its `max`. `commit` makes it final (the units stay).
 * `rollback` gives the units back, but only to the window they went into and never
 * below zero. Commit and rollback are idempotent per reservation id. A store that
 * cannot reach its backend resolves according to its failure mode (and reports it in
 * `degraded`) rather than rejecting; `reserve` rejects only for programming errors.
 */
export interface CounterStore {
  /** Short name used in reasons and metrics, e.g. `memory`, `redis`. */
  readonly name: string;
  reserve(specs: readonly CounterSpec[]): Promise<ReserveOutcome>;
  commit(reservation: CounterReservation): Promise<void>;
  rollback(reservation: CounterReservation): Promise<void>;
  /** Current state of counters without consuming anything. */
  peek(specs: readonly PeekSpec[]): Promise<CounterState[]>;
  /** Readiness probe; stores without a backend resolve `{ ok: true }`. */
  ready(): Promise<StoreHealth>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/** Stable machine-readable reason codes carried by every Decision. */
export const DecisionCode = {
  /** Allowed by a rule or by `default: allow`. */
  ALLOWED: "ALLOWED",
  /** No rule matched and `default` is `deny`. */
  DEFAULT_DENY: "DEFAULT_DENY",
  /** A rule with `action: deny`. */
  TOOL_DENIED: "TOOL_DENIED",
  /** The tool is in `hide`. */
  TOOL_HIDDEN: "TOOL_HIDDEN",
  /** A `require` condition failed or a `deny_if` condition matched. */
  CONDITION_FAILED: "CONDITION_FAILED",
  /** Arguments failed the rule's `arguments` JSON Schema. */
  ARGUMENTS_INVALID: "ARGUMENTS_INVALID",
  /** A limit has no room left; `retryAfterMs` says when it will. */
  RATE_LIMITED: "RATE_LIMITED",
  /** A rule with `action: require_approval`. */
  APPROVAL_REQUIRED: "APPROVAL_REQUIRED",
  /** The counter store failed and its failure mode is `closed`. */
  STORE_UNAVAILABLE: "STORE_UNAVAILABLE",
  /**
   * The tool's definition no longer matches its pin (or the digest first trusted): set
   * by the runtime that checks pins, never by `evaluate` (see `pins` in the policy).
   */
  PIN_MISMATCH: "PIN_MISMATCH",
} as const;
export type DecisionCode = (typeof DecisionCode)[keyof typeof DecisionCode];

/** A reservation handle as the caller sees it: commit after upstream success, rollback on failure. */
export interface Reservation {
  readonly id: string;
  /** Keep the consumed units. Idempotent. */
  commit(): Promise<void>;
  /** Give the units back (failed upstream call, rejected approval). Idempotent. */
  rollback(): Promise<void>;
}

/** What the engine decided for one call. Serializable except for `reservation`. */
export interface Decision {
  /** Unique decision id (injected id generator). */
  readonly id: string;
  /** The effect to enforce. In shadow mode this is `allow` and `shadow` says what would have happened. */
  readonly effect: Effect;
  readonly code: DecisionCode;
  /** Human text for the agent, e.g. "rate limit binance_us_create_listen_key_rate: 10 per minute". */
  readonly reason: string;
  /** Path of the deciding rule, e.g. `tools.binance_us_create_listen_key.limits[0]`, `default`, `hide[0]`. */
  readonly ruleId: string;
  /** Set when a limit decided: milliseconds until the call could be admitted. */
  readonly retryAfterMs?: number | undefined;
  /** Content hash of the compiled policy that decided. */
  readonly policyVersion: string;
  /** The tool name decided on. */
  readonly tool: string;
  /** Set when the deciding rule is in `mode: shadow` and would not have allowed. */
  readonly shadow?:
    | {
        readonly effect: Effect;
        readonly code: DecisionCode;
        readonly reason: string;
        readonly ruleId: string;
      }
    | undefined;
  /** Counter states after reserving (or at refusal). */
  readonly limits?: readonly CounterState[] | undefined;
  /** Present when a store failure affected the decision. */
  readonly degraded?: StoreDegradation | undefined;
  /** Present when counters were reserved (effect allow or require_approval with limits). */
  readonly reservation?: Reservation | undefined;
  /** Time spent deciding, in microseconds. */
  readonly decideUs: number;
  /** For `require_approval`: the policy's `approval` rule chosen for this call, if any. */
  readonly approval?: ApprovalRequirement | undefined;
}
