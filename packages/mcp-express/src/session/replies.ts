/** Small pieces of a session's talk with its client, kept out of session.ts. */
import type { ClientStreams } from "../client-streams.js";
import { idKey, type RpcMessage } from "../jsonrpc.js";
import type { ElicitAnswer } from "../options.js";
import type { UpstreamLink } from "../upstream.js";
import { type Open, type ToClient, unshareToken } from "./types.js";

/** The client's answer to `elicitation/create`, as given (an error: `unsupported`). */
export function elicitAnswer(m: RpcMessage): ElicitAnswer {
  if (m.error) return "unsupported";
  const r = m.result as { action?: unknown; content?: unknown } | undefined;
  if (r?.action !== "accept") return { action: r?.action === "decline" ? "decline" : "cancel" };
  const c = r.content;
  const content =
    typeof c === "object" && c !== null && !Array.isArray(c) ? (c as Record<string, unknown>) : {};
  return { action: "accept", content };
}

/**
 * Sends `notifications/progress` for an open request that asked for progress (it sent a
 * `progressToken`); undefined when it did not.
 */
export function progressSender(
  streams: ClientStreams,
  entry: Open,
): ((progress: number, message: string) => void) | undefined {
  const token = entry.progressToken;
  if (token === undefined) return undefined;
  return (progress, message) =>
    streams.sendRelated(entry.slot, {
      jsonrpc: "2.0",
      method: "notifications/progress",
      params: { progressToken: token, progress, message },
    });
}

/**
 * An upstream's `notifications/progress` to the request it belongs to. On a shared link
 * (`sharedAs`: the session id) the token was made unique per session: only this
 * session's tokens match, and the client gets its own token back.
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
  const params =
    sharedAs !== undefined ? { ...m.params, progressToken: o.progressToken } : m.params;
  streams.sendRelated(o.slot, { jsonrpc: "2.0", method: m.method, params: params ?? {} });
}

/** An upstream's `notifications/cancelled` of a request it sent the client, with the client's id. */
export function relayCancelled(
  m: RpcMessage,
  link: UpstreamLink,
  toClient: Map<number, ToClient>,
  streams: ClientStreams,
): void {
  const rid = m.params?.requestId;
  for (const [gid, t] of toClient) {
    if (t.kind === "upstream" && t.link === link && t.upstreamId === rid) {
      toClient.delete(gid);
      streams.sendUnrelated({ ...m, params: { ...m.params, requestId: gid } });
    }
  }
}
