/**
 * Wiring of {@link createToolgateMcp}'s parts from its options: the tool-call
 * pipeline's dependencies, what each session gets, and the identity stage.
 */
import { type Authenticator, createAuthenticator } from "./auth/authenticate.js";
import type { OAuthVerifier } from "./auth/oauth.js";
import type { ToolCallDeps } from "./core/tool-call.js";
import { createArgumentValidator } from "./core/validate.js";
import type { Decision, PolicyEngineLike } from "./engine.js";
import { ToolgateMcpError } from "./errors.js";
import type { ApprovalOutcome, Logger, Scheduler, ToolgateMcpOptions } from "./options.js";
import type { PolicyView } from "./policy-view.js";
import { policyToolTimeout } from "./policy-view.js";
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
  return {
    async decide(identity, tool, args): Promise<Decision> {
      const policy = policies.policyFor(identity);
      if (!policy) {
        throw new ToolgateMcpError("NO_POLICY", `no policy for grant ${identity.grant}`);
      }
      return engine.decide(policy, { name: tool, arguments: args }, identity);
    },
    approve(req): Promise<ApprovalOutcome> {
      if (options.approve) return options.approve(req);
      return Promise.resolve({ outcome: "rejected", reason: "no approver configured" });
    },
    validator: (exposed, target) =>
      validateArguments ? checkArguments(exposed, target.definition) : undefined,
    toolTimeoutMs(identity, tool) {
      const policy = policies.policyFor(identity);
      return policy ? toolTimeout(policy, tool) : undefined;
    },
    // No hook, no events: they are not even built.
    onDecision: guarded(options.onDecision, seams.logger, "onDecision"),
    approvalTimeoutMs: options.approvalTimeoutMs ?? 120_000,
    approvalProgressMs: options.approvalProgressMs ?? 5_000,
    ...seams,
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
