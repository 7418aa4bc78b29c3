import type { Decision } from "../engine.js";
import { ToolgateMcpError } from "../errors.js";
import { RpcErrorCode, type RpcId, type RpcMessage, rpcError } from "../jsonrpc.js";
import type { HeldOutcome } from "../options.js";

/** A denied `CallToolResult` the model can act on, with the decision in `_meta`. */
export function deniedResult(decision: Decision, why: string): Record<string, unknown> {
  let text = `denied by policy: ${why}`;
  // The engine's reason usually says when to retry already; add it only when missing.
  if (decision.retryAfterMs !== undefined && !/retry/i.test(why)) {
    text += `; retry after ${Math.max(1, Math.ceil(decision.retryAfterMs / 1000))}s`;
  }
  const { reservation: _r, degraded, ...rest } = decision;
  // The store's failure cause (addresses, driver errors) is for the operator's log only.
  const d = degraded ? { ...rest, degraded: { mode: degraded.mode, store: degraded.store } } : rest;
  return { isError: true, content: [{ type: "text", text }], _meta: { "toolgate/decision": d } };
}

/**
 * The JSON-RPC answer for a failure thrown while serving a request: a typed gateway
 * error keeps its code; anything else is an internal error that names nothing inside.
 */
export function errorResponse(id: RpcId, e: unknown): RpcMessage {
  if (e instanceof ToolgateMcpError) return rpcError(id, e.rpcCode, e.message, { code: e.code });
  return rpcError(id, RpcErrorCode.INTERNAL_ERROR, "internal gateway error");
}

/**
 * The answer to a call held without waiting (retry mode): `isError`, because nothing ran
 * and a model must not read it as done, with the approval in `_meta` so a client or
 * person can follow it.
 */
export function heldResult(held: HeldOutcome): Record<string, unknown> {
  const result = {
    isError: true,
    content: [{ type: "text", text: held.message }],
    _meta: {
      "toolgate/approval": {
        id: held.approvalId,
        status: "pending",
        expiresAt: new Date(held.expiresAt).toISOString(),
      },
    },
  };
  HELD.set(result, held);
  return result;
}

/** Held answers made by the pipeline itself (an upstream's look-alike is not one). */
const HELD = new WeakMap<object, HeldOutcome>();

/** The hold behind a result object made by {@link heldResult}, if it is one. */
export function heldOutcomeOf(result: unknown): HeldOutcome | undefined {
  return typeof result === "object" && result !== null ? HELD.get(result) : undefined;
}
