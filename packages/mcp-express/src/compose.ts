/**
 * Wiring of {@link createToolgateMcp}'s parts from its options: the tool-call
 * pipeline's dependencies, what each session gets, and the identity stage.
 */

import { createInProcessCounterStore } from "@toolgate/policy-engine";
import { type Authenticator, createAuthenticator } from "./auth/authenticate.js";
import type { OAuthVerifier } from "./auth/oauth.js";
import { AuthThrottle } from "./auth-throttle.js";
import { ResultScreen } from "./core/result-policy.js";
import type { ToolCallDeps } from "./core/tool-call.js";
import { createArgumentValidator } from "./core/validate.js";
import { createEngine, type Decision, type Identity, type PolicyEngineLike } from "./engine.js";
import { ToolgateMcpError } from "./errors.js";
import type { ServeOptions } from "./front/serve.js";
import { normalizeHost } from "./http.js";
import type { RpcMessage } from "./jsonrpc.js";
import { type MrtrDeps, UNCOUNTED_STORE } from "./modern/mrtr.js";
import { createRequestStateCodec, generatedStateSecret } from "./modern/request-state.js";
import type { ApprovalOutcome, Logger, Scheduler, ToolgateMcpOptions } from "./options.js";
import type { PinGuard } from "./pins.js";
import type { PolicyView } from "./policy-view.js";
import { policyToolTimeout } from "./policy-view.js";
import type { SessionContext } from "./session.js";
import type { SessionTable } from "./session-table.js";
import type { Telemetry } from "./telemetry.js";

/** The seams every part shares. */
export interface Seams {
  now: () => number;
  newId: () => string;
  scheduler: Scheduler;
  logger: Logger;
  telemetry: Telemetry;
}

/** Calls a user hook; a hook that throws is logged, never fails the request. */
export function guarded<E>(
  hook: ((e: E) => void) | undefined,
  logger: Logger,
  name: string,
): ((e: E) => void) | undefined {
  if (!hook) return undefined;
  return (e) => {
    try {
      hook(e);
    } catch (err) {
      logger.warn?.({ err: String(err) }, `${name} hook threw`);
    }
  };
}

/** The tool-call pipeline's dependencies: decide with the engine, approve, validate, emit. */
export function toolCallDeps(
  options: ToolgateMcpOptions,
  engine: PolicyEngineLike,
  policies: PolicyView,
  seams: Seams,
): ToolCallDeps {
  const checkArguments = createArgumentValidator(seams.logger);
  const validateArguments = options.validateArguments ?? false;
  const toolTimeout = options.toolTimeoutMs ?? policyToolTimeout;
  // The rules without the counters: continuations of 2026 calls already counted.
  const rulesOnly = createEngine({ store: UNCOUNTED_STORE, now: seams.now, newId: seams.newId });
  const policyOf = (identity: Identity) => {
    const policy = policies.policyFor(identity);
    if (!policy) {
      throw new ToolgateMcpError("NO_POLICY", `no policy for grant ${identity.grant}`);
    }
    return policy;
  };
  return {
    async decide(identity, tool, args): Promise<Decision> {
      return engine.decide(policyOf(identity), { name: tool, arguments: args }, identity);
    },
    async decideUncounted(identity, tool, args): Promise<Decision> {
      const d = await rulesOnly.decide(
        policyOf(identity),
        { name: tool, arguments: args },
        identity,
      );
      const { limits: _l, reservation: _r, ...rest } = d;
      return rest;
    },
    approve(req): Promise<ApprovalOutcome> {
      if (options.approve) return options.approve(req);
      return Promise.resolve({ outcome: "rejected", reason: "no approver configured" });
    },
    validator: (exposed, target) =>
      validateArguments ? checkArguments(exposed, target.definition) : undefined,
    resultPolicy: (identity, tool) => policies.policyFor(identity)?.resultPolicyFor(tool),
    toolTimeoutMs(identity, tool) {
      const policy = policies.policyFor(identity);
      return policy ? toolTimeout(policy, tool) : undefined;
    },
    // No hook, no events: they are not even built.
    onDecision: guarded(options.onDecision, seams.logger, "onDecision"),
    approvalTimeoutMs: options.approvalTimeoutMs ?? 120_000,
    taskApprovalTimeoutMs: options.taskApprovalTimeoutMs,
    approvalProgressMs: options.approvalProgressMs ?? 5_000,
    ...seams,
  };
}

/**
 * Sealing of the 2026 `requestState`: the configured key, or a random one per process
 * (then states are only good on this instance: said in a warning). Spent nonces go to
 * the configured counter store, so single use holds across instances on Redis.
 */
export function mrtrDeps(options: ToolgateMcpOptions, seams: Seams): MrtrDeps {
  let secret: string | Buffer | undefined = options.stateSecret;
  if (secret === undefined) {
    seams.logger.warn?.(
      {},
      "no stateSecret configured: a random key signs 2026 requestState, so a retry must come back to this instance; set the same stateSecret on every instance behind a balancer",
    );
    secret = generatedStateSecret();
  }
  return {
    codec: createRequestStateCodec({ secret, now: seams.now }),
    store: options.store ?? createInProcessCounterStore({ now: seams.now }),
    now: seams.now,
    ttlMs: options.stateTtlMs ?? 600_000,
  };
}

/** The identity stage (API key | OAuth access token | custom); see auth/authenticate.ts. */
export function authentication(
  options: ToolgateMcpOptions,
  oauth: OAuthVerifier | undefined,
): Authenticator {
  const apiKeys = options.apiKeys;
  const lookupKey =
    typeof apiKeys === "function"
      ? apiKeys
      : apiKeys
        ? (k: string) => (Object.hasOwn(apiKeys, k) ? apiKeys[k] : undefined)
        : () => undefined;
  return createAuthenticator({ lookupKey, identify: options.identify, oauth });
}

/** What every session gets: naming, the policy's view of tools, the pipeline, the table. */
export function sessionContext(
  options: ToolgateMcpOptions,
  engine: PolicyEngineLike,
  policies: PolicyView,
  sessions: SessionTable,
  seams: Seams,
  pins: PinGuard,
): SessionContext {
  const { logger } = seams;
  return {
    separator: options.separator ?? "__",
    namespace: options.namespace ?? "auto",
    listPageSize: options.listPageSize,
    now: seams.now,
    logger,
    toolCalls: toolCallDeps(options, engine, policies, seams),
    visible(identity, tools, at) {
      const policy = at ?? policies.policyFor(identity);
      if (!policy) return new Set();
      return new Set(engine.visibleTools(policy, tools, identity).map((t) => t.name));
    },
    pins: (identity, tools) => pins.check(policies.policyFor(identity), identity.grant, tools),
    pinsActive: (identity) => policies.policyFor(identity)?.pinSettings !== undefined,
    resultPolicy: (identity, tool) => policies.policyFor(identity)?.resultPolicyFor(tool),
    screenResource: resourceScreen(options, policies, seams),
    grantSessions: (grant) => sessions.countOf(grant),
    onSessionLost(s) {
      sessions.remove(s);
      logger.warn?.({ session: s.id }, "upstream connection lost; session ended");
      void s.close();
    },
    onSlotDone: () => sessions.slotDone(),
  };
}

/**
 * `resources/read` answers under the caller's `resources` result policy, reported to
 * `onResourceResult` (counts only) when the screen found or did something.
 */
function resourceScreen(options: ToolgateMcpOptions, policies: PolicyView, seams: Seams) {
  const report = guarded(options.onResourceResult, seams.logger, "onResourceResult");
  return (
    identity: Identity,
    method: string,
    params: RpcMessage["params"],
    answer: RpcMessage,
  ): RpcMessage => {
    const uri = params?.uri;
    if (method !== "resources/read" || typeof uri !== "string") return answer;
    const policy = policies.policyFor(identity)?.resourcePolicyFor(uri);
    if (policy === undefined) return answer;
    const screen = new ResultScreen(policy);
    const out = screen.resource(answer);
    const result = screen.facts();
    if (result !== undefined)
      report?.({
        grant: identity.grant,
        subject: identity.sub,
        session: identity.session,
        result,
        at: seams.now(),
      });
    return out;
  };
}

/** The request stages' settings: allowed origins and hosts, the throttle, identity. */
export function serveOptions(
  options: ToolgateMcpOptions,
  oauth: OAuthVerifier | undefined,
  ensureStarted: () => Promise<void> | undefined,
): ServeOptions {
  return {
    // Browsers send the serialized origin (lowercase host, no path, no default port); an
    // entry written as "http://LocalHost:6274/" must match it, so entries are too.
    allowedOrigins: options.allowedOrigins
      ? new Set(options.allowedOrigins.map((o) => new URL(o).origin))
      : undefined,
    // Entries were checked by validateOptions, so every one normalizes.
    allowedHosts: options.allowedHosts
      ? new Set(options.allowedHosts.map((h) => normalizeHost(h) ?? h))
      : undefined,
    throttle:
      options.authThrottle === false
        ? undefined
        : options.authThrottle instanceof AuthThrottle
          ? options.authThrottle
          : new AuthThrottle({ ...options.authThrottle, now: options.now ?? Date.now }),
    authenticate: authentication(options, oauth),
    ensureStarted,
  };
}
