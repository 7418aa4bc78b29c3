/** Progress between a session's client and its upstreams, kept out of session.ts. */
import type { ClientStreams } from "../client-streams.js";
import { idKey, type RpcMessage } from "../jsonrpc.js";
import { type Open, shareToken, unshareToken } from "./types.js";

/**
 * Sends the gateway's own `notifications/progress` (e.g. "held for approval") for an open
 * request that asked for progress, under the token the client knows; undefined when it
 * sent none.
 */
export function progressSender(
  streams: ClientStreams,
  entry: Open,
): ((progress: number, message: string) => void) | undefined {
  if (entry.progressToken === undefined) return undefined;
  const token = entry.clientToken ?? entry.progressToken;
  return (progress, message) =>
    streams.sendRelated(entry.slot, {
      jsonrpc: "2.0",
      method: "notifications/progress",
      params: { progressToken: token, progress, message },
    });
}

/**
 * An upstream's `notifications/progress` to the request it belongs to. On a shared link
 * (`sharedAs`: the session id) tokens were made unique per session, so only this
 * session's match; the client gets its own token back, and the tool's result policy
 * screens the message (a withheld one is dropped).
 */
export function relayProgress(
  m: RpcMessage,
  sharedAs: string | undefined,
  progress: ReadonlyMap<string, Open>,
  streams: ClientStreams,
): void {
  const token = m.params?.progressToken;
  if (typeof token !== "string" && typeof token !== "number") return;
  const o = progress.get(idKey(sharedAs !== undefined ? unshareToken(sharedAs, token) : token));
  if (!o) return;
  const relayed =
    sharedAs !== undefined || o.clientToken !== undefined
      ? { ...m.params, progressToken: o.clientToken ?? o.progressToken }
      : (m.params ?? {});
  const params = o.screen ? o.screen.progress(relayed) : relayed;
  if (params) streams.sendRelated(o.slot, { jsonrpc: "2.0", method: m.method, params });
}

/** A request's params for a shared link: its progress token made unique to the session. */
export function sharedParams(
  params: RpcMessage["params"],
  sessionId: string,
  progressToken: string | number | undefined,
): RpcMessage["params"] {
  if (progressToken === undefined || !params) return params;
  return {
    ...params,
    _meta: { ...(params._meta as object), progressToken: shareToken(sessionId, progressToken) },
  };
}
