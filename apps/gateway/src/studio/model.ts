import type {
  CounterStore,
  Explanation,
  PolicyEngine,
  PolicyHolder,
  Verdict,
} from "@toolgate/policy-engine";
import type { CounterView } from "../admin.js";
import type { PolicyPublishedEntry } from "../audit.js";
import type { Logger } from "../logger.js";
import type { RiskCategory, RiskLevel, RiskReason } from "../risk/classify.js";
import type { RiskRecommendation } from "../risk/recommend.js";
import type { ToolInventory } from "./inventory.js";

// The studio's shapes, and the context its operations share (views.ts, drafts.ts,
// publish.ts; service.ts puts them together).

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

/** A grant resolved to the holder of its policy in force. */
export type ResolvedGrant = StudioGrant & { readonly holder: PolicyHolder };

/** What every studio operation needs: the options, the clock, an engine and the grants. */
export interface StudioContext {
  readonly options: StudioServiceOptions;
  readonly now: () => number;
  /** An engine without counters of its own: the studio explains, it never reserves. */
  readonly engine: PolicyEngine;
  /** The grant named `name`. @throws GatewayError `STUDIO_UNKNOWN_GRANT` */
  grantOf(name: string): ResolvedGrant;
  /** Every grant using the policy file at `path`. */
  sharing(path: string): string[];
}
