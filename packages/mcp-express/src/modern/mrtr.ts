/**
 * MRTR (multi round-trip requests) through the gateway for 2026 clients. An upstream's
 * `input_required` result goes to the client with a `requestState` the gateway sealed
 * (see request-state.ts): bound to the caller (grant and user), the method and target
 * (tool, prompt or resource), the argument digest and the upstream, carrying the
 * upstream's own state inside. The client's retry must bring that token back unchanged
 * for the same call: it is opened, spent (single use, across instances on a shared
 * store) and replaced by the upstream's state before anything is forwarded.
 *
 * Counting: the first round of a `tools/call` is decided, reserved and — once the
 * upstream answered, `input_required` included — committed like any call. A retry with a
 * valid sealed state is the same call: it is decided again by the rules (a policy that
 * now denies the tool is honoured) but takes no units. A retry without a state is a new
 * call. A refused state (forged, expired, replayed, another caller/tool/arguments/
 * upstream) is answered -32602 before any decision: nothing is reserved or forwarded.
 */
import { argumentsDigest } from "../digest.js";
import type { CounterStore, Identity } from "../engine.js";
import type { RequestStateCodec, StateBinding, StateRefusal } from "./request-state.js";
import { spendOnce } from "./request-state.js";

/** Methods whose results may be `input_required`, and the param naming their target. */
export const MRTR_TARGET: Readonly<Record<string, string>> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
};

/** What the MRTR steps need. */
export interface MrtrDeps {
  readonly codec: RequestStateCodec;
  /** Where spent nonces are kept (the gateway's counter store). */
  readonly store: CounterStore;
  readonly now: () => number;
  /** Lifetime of a sealed state (ms). */
  readonly ttlMs: number;
}

/** The refusal of a retry's state. */
export interface StateRefused {
  readonly refused: StateRefusal | "replayed";
}

/**
 * The sealed data: the upstream's own state, when it sent one, or the approval a held
 * call waits for (`a`, see approval-state.ts).
 */
export interface Sealed {
  readonly s?: string;
  readonly a?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The binding of a sealed state for one call of one caller. Passed around as a thunk:
 * the argument digest is only computed when a state is opened or sealed.
 */
export function stateBinding(
  identity: Identity,
  method: string,
  params: Record<string, unknown>,
  upstream: string | undefined,
): StateBinding {
  const field = MRTR_TARGET[method] ?? "name";
  const args = isObject(params.arguments) ? params.arguments : {};
  return {
    grant: identity.grant,
    user: identity.sub ?? "",
    method,
    target: String(params[field]),
    args: argumentsDigest(args),
    upstream: upstream ?? "",
  };
}

/**
 * A retry's params as the upstream must see them: the sealed `requestState` opened,
 * spent and replaced by the upstream's own (or removed when it had none). Params
 * without `requestState` are a first round and returned as they are.
 */
export async function openRetry(
  deps: MrtrDeps,
  params: Record<string, unknown>,
  binding: () => StateBinding,
): Promise<
  { params: Record<string, unknown>; continuation: boolean; approval?: string } | StateRefused
> {
  if (!("requestState" in params)) return { params, continuation: false };
  const opened = deps.codec.open<Sealed>(params.requestState, binding());
  if (!opened.ok) return { refused: opened.reason };
  if (!(await spendOnce(deps.store, opened.nonce, opened.expiresAt, deps.now()))) {
    return { refused: "replayed" };
  }
  const { requestState: _r, ...rest } = params;
  // A held approval's state: the call itself runs (and counts) only now; its first
  // round was rolled back when it was held.
  const approval = opened.data?.a;
  if (typeof approval === "string") return { params: rest, continuation: false, approval };
  const up = opened.data?.s;
  return {
    params: typeof up === "string" ? { ...rest, requestState: up } : rest,
    continuation: true,
  };
}

/** A result for the client: an `input_required` one gets the gateway's sealed state. */
export function sealResult(
  deps: MrtrDeps,
  result: Record<string, unknown>,
  binding: () => StateBinding,
): Record<string, unknown> {
  if (result.resultType !== "input_required") return result;
  const data: Sealed = typeof result.requestState === "string" ? { s: result.requestState } : {};
  return { ...result, requestState: deps.codec.seal({ binding: binding(), data }, deps.ttlMs) };
}

/**
 * A counter store that admits everything and keeps nothing: the engine over it decides
 * by the rules alone (for continuations, which were counted at their first round).
 */
export const UNCOUNTED_STORE: CounterStore = {
  name: "uncounted",
  reserve: async () => ({
    admitted: true,
    reservation: { id: "uncounted", counters: [] },
    counters: [],
  }),
  commit: async () => undefined,
  rollback: async () => undefined,
  peek: async () => [],
  ready: async () => ({ ok: true, store: "uncounted" }),
  close: async () => undefined,
};
