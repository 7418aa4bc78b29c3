import type { ClientStreams, Slot } from "../client-streams.js";
import type { RpcId, RpcMessage } from "../jsonrpc.js";
import type { ElicitAnswer, ElicitSchema } from "../options.js";
import type { UpstreamLink } from "../upstream.js";
import type { ToClient } from "./types.js";

/**
 * Requests sent to the client: an upstream's server-to-client requests (relayed under a
 * gateway id, answered back with the upstream's) and the gateway's own (elicitation).
 * Gateway ids are numbers of this session only, so a client cannot answer for another.
 */
export class ClientRequests {
  private readonly pending = new Map<number, ToClient>();
  private nextId = 1;

  constructor(private readonly streams: ClientStreams) {}

  /** Relays an upstream's request to the client on `slot` (or the unrelated stream). */
  relay(link: UpstreamLink, m: RpcMessage, slot: Slot | undefined): void {
    const gid = this.nextId++;
    this.pending.set(gid, { kind: "upstream", link, upstreamId: m.id as RpcId });
    this.streams.sendRelated(slot, { ...m, id: gid });
  }

  /** The client's answer: back to the upstream that asked, or to the gateway's own wait. */
  answer(msg: RpcMessage): void {
    if (typeof msg.id !== "number") return;
    const t = this.pending.get(msg.id);
    if (!t) return;
    this.pending.delete(msg.id);
    if (t.kind === "local") t.resolve(msg);
    else void t.link.notify({ ...msg, id: t.upstreamId });
  }

  /** An upstream cancelled its request `rid`: tell the client under the gateway's id. */
  cancelledUpstream(link: UpstreamLink, m: RpcMessage): void {
    const rid = m.params?.requestId;
    for (const [gid, t] of this.pending) {
      if (t.kind === "upstream" && t.link === link && t.upstreamId === rid) {
        this.pending.delete(gid);
        this.streams.sendUnrelated({ ...m, params: { ...m.params, requestId: gid } });
      }
    }
  }

  /**
   * Asks the caller through `elicitation/create`. The answer is reported as given: what
   * it may mean (never an approval by default) is the approval hook's business.
   */
  elicit(slot: Slot, message: string, schema: ElicitSchema): Promise<ElicitAnswer> {
    return new Promise((resolve) => {
      const gid = this.nextId++;
      this.pending.set(gid, { kind: "local", resolve: (m) => resolve(elicitAnswerOf(m)) });
      this.streams.sendRelated(slot, {
        jsonrpc: "2.0",
        id: gid,
        method: "elicitation/create",
        params: { message, requestedSchema: schema },
      });
    });
  }
}

/** The client's answer to `elicitation/create`; an error means it does not support it. */
function elicitAnswerOf(m: RpcMessage): ElicitAnswer {
  if (m.error) return "unsupported";
  const r = m.result as { action?: unknown; content?: unknown } | undefined;
  if (r?.action !== "accept") return { action: r?.action === "decline" ? "decline" : "cancel" };
  const c = r.content;
  const content =
    typeof c === "object" && c !== null && !Array.isArray(c) ? (c as Record<string, unknown>) : {};
  return { action: "accept", content };
}
