import { createPolicyEngine } from "@toolgate/policy-engine";
import { GatewayError } from "../errors.js";
import { diffDraft, runDraftTests, tryCall, validateDraft } from "./drafts.js";
import type { ResolvedGrant, StudioContext, StudioServiceOptions } from "./model.js";
import { createPublisher } from "./publish.js";
import { grantPolicy, listGrants, listTools } from "./views.js";

// The studio by job: shapes and shared context (model.ts), what it shows (views.ts),
// drafts (drafts.ts: validate, try, test, diff), shadow publishing (shadow.ts) and
// publishing (publish.ts). This file only puts them together.

export type {
  DecisionNow,
  StudioGrant,
  StudioServiceOptions,
  StudioTool,
  ToolPolicyView,
  TrySide,
} from "./model.js";
export { shadowChanges } from "./shadow.js";

function createStudioContext(options: StudioServiceOptions): StudioContext {
  const grantsByName = new Map(options.grants.map((g) => [g.name, g]));
  return {
    options,
    now: options.now ?? Date.now,
    engine: createPolicyEngine({}),
    grantOf(name: string): ResolvedGrant {
      const g = grantsByName.get(name);
      const holder = g ? options.policies.get(g.policyPath) : undefined;
      if (!g || !holder)
        throw new GatewayError("STUDIO_UNKNOWN_GRANT", `no grant named "${name}"`, [
          { path: "grant", message: `no grant named "${name}"`, fix: "pick a grant from the list" },
        ]);
      return { ...g, holder };
    },
    sharing(path: string): string[] {
      return options.grants.filter((g) => g.policyPath === path).map((g) => g.name);
    },
  };
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
  const ctx = createStudioContext(options);
  const publish = createPublisher(ctx);
  return {
    /** Grants, their policy files and whether the studio may publish to them. */
    grants: () => listGrants(ctx),
    /** The policy file of a grant as it is on disk, and the version in force. */
    policy: (name: string) => grantPolicy(ctx, name),
    /** Validates draft text; returns the issues and the text in both formats. */
    validate: validateDraft,
    /** Every tool behind the gateway with its risk and what the grant's policy does to it. */
    tools: (name: string, opts: { refresh?: boolean } = {}) => listTools(ctx, name, opts),
    /** "Try a call": the decision and trace of the draft and of the policy in force. */
    tryCall: (input: Parameters<typeof tryCall>[1]) => tryCall(ctx, input),
    /** Runs the grant's policy test file against the draft (and the live policy). */
    runTests: (input: Parameters<typeof runDraftTests>[1]) => runDraftTests(ctx, input),
    /** What publishing would write, as a line diff against the file on disk. */
    diff: (input: Parameters<typeof diffDraft>[1]) => diffDraft(ctx, input),
    /**
     * Writes the draft to the grant's policy file atomically, applies it through the
     * gateway's reload path and records it in the audit log. Refuses an invalid draft,
     * the built-in default policy, and a file that changed since `baseHash` was read.
     */
    publish,
  };
}

/** The studio service; see {@link createStudioService}. */
export type StudioService = ReturnType<typeof createStudioService>;
