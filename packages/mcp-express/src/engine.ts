/**
 * The slice of `@toolgate/policy-engine` this package uses, in one place so the rest of
 * the code does not depend on how the engine spells its exports.
 */
import {
  type CounterStore,
  createInProcessCounterStore,
  createPolicyEngine,
  type PolicyEngine,
} from "@toolgate/policy-engine";

export type {
  CompiledPolicy,
  CompiledResultPolicy,
  CounterStore,
  Decision,
  Identity,
  PinVerdict,
  PolicyHolder,
  ResultGuardOutcome,
  ToolDefinition,
} from "@toolgate/policy-engine";
export {
  checkPin,
  diffToolDefinitions,
  guardResult,
  guardText,
  PIN_MISMATCH_REASON,
  toolDigest,
} from "@toolgate/policy-engine";

/** What the gateway calls on the engine (injectable for tests). */
export type PolicyEngineLike = Pick<PolicyEngine, "decide" | "visibleTools">;

/**
 * Default engine: the policy engine with the given store (in-process when absent).
 * `wrapStore` (tracing) wraps whichever store is used.
 */
export function createEngine(opts: {
  store: CounterStore | undefined;
  now: () => number;
  newId: (() => string) | undefined;
  wrapStore?: ((s: CounterStore) => CounterStore) | undefined;
}): PolicyEngineLike {
  const o: { store?: CounterStore; now: () => number; newId?: () => string } = { now: opts.now };
  if (opts.wrapStore) {
    o.store = opts.wrapStore(opts.store ?? createInProcessCounterStore({ now: opts.now }));
  } else if (opts.store) o.store = opts.store;
  if (opts.newId) o.newId = opts.newId;
  return createPolicyEngine(o);
}
