/**
 * Held approvals for stateless (MCP 2026-07-28) clients, through MRTR. A `tools/call`
 * held for a person cannot wait on its request (the client times out long before an
 * approver acts), so the pipeline answers `held` at once and this front turns that into
 * an `input_required` result: no input request, only a `requestState` the gateway
 * sealed — bound to grant, user, tool, argument digest and upstream like every MRTR
 * state, carrying the approval id, valid until the approval expires plus a short grace
 * (so a late retry learns "expired" as a denial with its reason, not a bare -32602).
 *
 * Why a state-only result: it is the spec's "come back later" shape, which the SDK v2
 * client's multi-round-trip driver answers by itself (it waits a moment and retries with
 * the state, up to its round cap; past the cap it rejects with the last state, which
 * its caller may send again later). An elicitation would need a handler, and a person,
 * on the caller's side — and the caller is the party being controlled. The
 * human-readable status rides in `_meta["toolgate/approval"]` and in a text `content`.
 *
 * The retry is opened by `openRetry` (mrtr.ts): the state is spent (single use, across
 * instances on a shared store), and the approval id goes to the approval hook as
 * `resume`. The call is then decided and counted afresh: its first round was rolled back
 * when it was held, so an approved call counts exactly once.
 */
import type { HeldOutcome } from "../options.js";
import type { MrtrDeps, Sealed } from "./mrtr.js";
import type { StateBinding } from "./request-state.js";

/** How long a held approval's state outlives the approval (ms): a late retry is told why. */
export const APPROVAL_STATE_GRACE_MS = 5 * 60_000;

/**
 * The `input_required` result of a call held for approval.
 *
 * @example
 * const result = heldInputRequired(mrtr, hold, heldResult(hold), binding);
 * // { resultType: "input_required", requestState: "tgs1.…", _meta: { "toolgate/approval": … } }
 */
export function heldInputRequired(
  deps: MrtrDeps,
  hold: HeldOutcome,
  shaped: Record<string, unknown>,
  binding: () => StateBinding,
): Record<string, unknown> {
  const data: Sealed = { a: hold.approvalId };
  const ttl = Math.max(1, hold.expiresAt - deps.now()) + APPROVAL_STATE_GRACE_MS;
  const meta = (shaped._meta ?? {}) as Record<string, unknown>;
  const approval = (meta["toolgate/approval"] ?? {}) as Record<string, unknown>;
  return {
    resultType: "input_required",
    requestState: deps.codec.seal({ binding: binding(), data }, ttl),
    // Not a tool result: a client that shows it anyway shows the status, not an error.
    content: shaped.content,
    _meta: { ...meta, "toolgate/approval": { ...approval, message: hold.message } },
  };
}
