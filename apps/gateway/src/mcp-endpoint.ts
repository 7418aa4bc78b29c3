import {
  type AuthThrottle,
  createToolgateMcp,
  type DecisionEvent,
  type PinEvent,
  type PinStore,
  type RefusedEvent,
  type ResourceResultEvent,
  type ToolgateMcp,
  type UpstreamConfig,
} from "@toolgate/mcp-express";
import type { Identity, MeteredCounterStore, PolicyHolder } from "@toolgate/policy-engine";
import { approvalHoldCeilingMs, createApprover, MAX_TASK_HOLD_MS } from "./approvals/approver.js";
import type { ApprovalLifecycle } from "./approvals/events.js";
import type { ApprovalStore } from "./approvals/store.js";
import { sha256Hex } from "./mask.js";
import { oauthPolicyChooser } from "./oauth.js";
import type { Runtime } from "./runtime.js";
import type { GatewayTracing } from "./tracing.js";

/** What the `/mcp` endpoint is built from. */
export interface McpEndpointParts {
  readonly store: MeteredCounterStore;
  readonly approvals: ApprovalStore;
  /** Where approval lifecycle events go (shared with the admin API). */
  readonly lifecycle: ApprovalLifecycle;
  readonly decisions: {
    onDecision(e: DecisionEvent): void;
    onRefused(e: RefusedEvent): void;
  };
  readonly upstreams: UpstreamConfig[];
  readonly policies: ReadonlyMap<string, PolicyHolder>;
  readonly holderOf: ReadonlyMap<string, PolicyHolder | undefined>;
  readonly authThrottle: AuthThrottle;
  readonly allowedHosts: string[] | undefined;
  readonly tracing: GatewayTracing | undefined;
  /** Trust-on-first-use digests and the sink of pin findings. */
  readonly guardrails: {
    readonly pinStore: PinStore;
    readonly onPinEvent: (e: PinEvent) => void;
    readonly onResourceResult: (e: ResourceResultEvent) => void;
  };
  /** The canonical URL of /mcp, known once the server listens (port 0 in tests). */
  readonly resourceUrl: () => string;
}

/** The approver mcp-express calls for held calls, with the config's masking and timeout. */
function createGatewayApprover(
  rt: Runtime,
  approvals: ApprovalStore,
  holderOf: ReadonlyMap<string, PolicyHolder | undefined>,
  lifecycle: ApprovalLifecycle,
) {
  const { approvals: cfg } = rt.loaded.config;
  if (cfg.callerMayApprove) {
    rt.logger.warn(
      { setting: "approvals.callerMayApprove" },
      "approvals.callerMayApprove is on: a caller may approve its own held calls through elicitation (only while its grant has a single session). Use it only for a trusted single-user desktop setup.",
    );
  }
  return createApprover({
    store: approvals,
    timeoutMs: cfg.timeoutMs,
    elicitation: cfg.elicitation,
    callerMayApprove: cfg.callerMayApprove,
    mode: cfg.mode,
    retryExpiresMs: cfg.retryExpiresMs,
    lifecycle,
    // Masked for the approver: the config's paths plus the policy's `secret` of the tool.
    secretPaths: (call) => {
      const policy = holderOf.get(call.grant)?.current;
      const key = policy?.plan(call.tool).rule?.key;
      const own = key === undefined ? undefined : policy?.document.tools?.[key]?.secret;
      return [...cfg.secretArguments, ...(own ?? [])];
    },
    onWarn: (msg, fields) => rt.logger.warn(fields, msg),
    now: rt.now,
    onError: (err) => rt.logger.error({ err: (err as Error).message }, "approval store error"),
  });
}

/** The `/mcp` endpoint: credentials to grants, grants (or token claims) to policies. */
export function createMcpEndpoint(rt: Runtime, parts: McpEndpointParts): ToolgateMcp {
  const { loaded } = rt;
  const { config, oauth } = loaded;
  const grantByHash = new Map(loaded.grants.map((g) => [g.keyHash, g.name]));
  const chooseOAuthPolicy = oauth ? oauthPolicyChooser(oauth, parts.policies) : undefined;
  return createToolgateMcp({
    upstreams: parts.upstreams,
    apiKeys: (key) => grantByHash.get(sha256Hex(key)),
    // A verified token (it has claims) gets the policy its claims choose; an API key the
    // policy of its grant.
    policy: (grant: string, identity?: Identity) =>
      identity?.claims !== undefined && chooseOAuthPolicy
        ? chooseOAuthPolicy(identity.claims)
        : parts.holderOf.get(grant),
    oauth: oauth && {
      issuer: oauth.issuer,
      jwksUri: oauth.jwksUri,
      // The canonical URL of /mcp is known once the server listens (port 0 in tests).
      resource: () => oauth.resource ?? parts.resourceUrl(),
      audience: oauth.audience,
      requiredScopes: oauth.requiredScopes,
      grantClaim: oauth.grantClaim,
      algorithms: oauth.algorithms,
      clockToleranceSec: oauth.clockToleranceSec,
      jwksCooldownMs: oauth.jwksCooldownMs,
      jwksMaxAgeMs: oauth.jwksMaxAgeMs,
    },
    tracer: parts.tracing?.tracer,
    store: parts.store,
    approve: createGatewayApprover(rt, parts.approvals, parts.holderOf, parts.lifecycle),
    approvalTimeoutMs: approvalHoldCeilingMs(config.approvals.timeoutMs),
    taskApprovalTimeoutMs: config.approvals.tasks
      ? approvalHoldCeilingMs(MAX_TASK_HOLD_MS)
      : undefined,
    approvalProgressMs: config.approvals.progressMs,
    onDecision: parts.decisions.onDecision,
    onRefused: parts.decisions.onRefused,
    pinStore: parts.guardrails.pinStore,
    onPinEvent: parts.guardrails.onPinEvent,
    onResourceResult: parts.guardrails.onResourceResult,
    // Every grant's policy checks the upstreams' tools at start-up and on restarts.
    pinCheckGrants: loaded.grants.map((g) => g.name),
    maxSessionsPerGrant: config.maxSessionsPerGrant,
    authThrottle: parts.authThrottle,
    allowedOrigins: config.allowedOrigins,
    allowedHosts: parts.allowedHosts,
    stateSecret: config.stateSecret,
    now: rt.now,
    newId: rt.newId,
    logger: rt.logger,
  });
}
