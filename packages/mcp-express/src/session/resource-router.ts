/**
 * Prompts, resources and completions over several upstreams: merged lists (prompts
 * namespaced like tools), and each later request routed to the upstream that owns the
 * prompt or URI. With one upstream everything is relayed as is.
 */
import type { RpcId, RpcMessage } from "../jsonrpc.js";
import { RpcErrorCode, rpcError } from "../jsonrpc.js";
import type { UpstreamLink } from "../upstream.js";
import { badCursor, fetchAll, offers } from "./lists.js";

/** Relays one request of the client's (its bookkeeping `entry`) to an upstream. */
export type Relay<E> = (
  entry: E,
  link: UpstreamLink,
  method: string,
  params: RpcMessage["params"],
) => Promise<RpcMessage>;

/** The prompt and resource routes of one session (see the file comment). */
export class ResourceRouter<E> {
  private promptRoutes = new Map<string, { link: UpstreamLink; name: string }>();
  private readonly uriOwner = new Map<string, UpstreamLink>();
  private ownersLoaded = false;

  constructor(
    private readonly links: readonly UpstreamLink[],
    private readonly naming: { readonly namespace: string; readonly separator: string },
    private readonly forward: Relay<E>,
  ) {}

  async listPrompts(entry: E, id: RpcId, params: RpcMessage["params"]): Promise<RpcMessage> {
    if (this.links.length === 1) return this.forward(entry, this.links[0]!, "prompts/list", params);
    if (params?.cursor !== undefined) return badCursor(id);
    const prompts: Array<Record<string, unknown>> = [];
    this.promptRoutes = new Map();
    for (const l of this.links) {
      if (!offers(l, "prompts")) continue;
      for (const p of await fetchAll(l, "prompts/list", "prompts")) {
        const exposed =
          this.naming.namespace === "never"
            ? String(p.name)
            : `${l.name}${this.naming.separator}${String(p.name)}`;
        this.promptRoutes.set(exposed, { link: l, name: String(p.name) });
        prompts.push({ ...p, name: exposed });
      }
    }
    return { jsonrpc: "2.0", id, result: { prompts } };
  }

  async getPrompt(entry: E, id: RpcId, params: Record<string, unknown>): Promise<RpcMessage> {
    if (this.links.length === 1) return this.forward(entry, this.links[0]!, "prompts/get", params);
    const r = this.promptRoutes.get(String(params.name));
    if (!r)
      return rpcError(id, RpcErrorCode.INVALID_PARAMS, `Prompt ${String(params.name)} not found`);
    return this.forward(entry, r.link, "prompts/get", { ...params, name: r.name });
  }

  async complete(entry: E, id: RpcId, params: Record<string, unknown>): Promise<RpcMessage> {
    if (this.links.length === 1)
      return this.forward(entry, this.links[0]!, "completion/complete", params);
    const ref = params.ref as { type?: string; name?: string; uri?: string } | undefined;
    if (ref?.type === "ref/prompt") {
      const r = this.promptRoutes.get(String(ref.name));
      if (!r)
        return rpcError(id, RpcErrorCode.INVALID_PARAMS, `Prompt ${String(ref.name)} not found`);
      return this.forward(entry, r.link, "completion/complete", {
        ...params,
        ref: { ...ref, name: r.name },
      });
    }
    return this.forward(entry, await this.routeByUri(ref?.uri), "completion/complete", params);
  }

  async aggregate(
    entry: E,
    id: RpcId,
    method: string,
    params: RpcMessage["params"],
    field: "resources" | "resourceTemplates",
  ): Promise<RpcMessage> {
    if (this.links.length === 1) return this.forward(entry, this.links[0]!, method, params);
    if (params?.cursor !== undefined) return badCursor(id);
    const items: Array<Record<string, unknown>> = [];
    for (const l of this.links) {
      if (!offers(l, "resources")) continue;
      for (const r of await fetchAll(l, method, field)) {
        const uri = r.uri ?? r.uriTemplate;
        if (typeof uri === "string") this.uriOwner.set(uri, l);
        items.push(r);
      }
    }
    return { jsonrpc: "2.0", id, result: { [field]: items } };
  }

  /**
   * The upstream owning a URI. With several upstreams and an unknown URI (the client did
   * not list first), the resource lists are fetched once to learn the owners.
   */
  async routeByUri(uri: unknown): Promise<UpstreamLink> {
    if (
      this.links.length > 1 &&
      typeof uri === "string" &&
      !this.uriOwner.has(uri) &&
      !this.ownersLoaded
    ) {
      this.ownersLoaded = true;
      for (const l of this.links) {
        if (!offers(l, "resources")) continue;
        for (const [method, field] of [
          ["resources/list", "resources"],
          ["resources/templates/list", "resourceTemplates"],
        ] as const) {
          const items = await fetchAll(l, method, field).catch(() => []);
          for (const r of items) {
            const u = r.uri ?? r.uriTemplate;
            if (typeof u === "string" && !this.uriOwner.has(u)) this.uriOwner.set(u, l);
          }
        }
      }
    }
    return this.ownerOf(uri);
  }

  private ownerOf(uri: unknown): UpstreamLink {
    if (this.links.length > 1 && typeof uri === "string") {
      const exact = this.uriOwner.get(uri);
      if (exact) return exact;
      // Templates: the longest registered template prefix before its first variable.
      let best: UpstreamLink | undefined;
      let bestLen = -1;
      for (const [u, l] of this.uriOwner) {
        const brace = u.indexOf("{");
        const prefix = brace >= 0 ? u.slice(0, brace) : u;
        if (uri.startsWith(prefix) && prefix.length > bestLen) {
          best = l;
          bestLen = prefix.length;
        }
      }
      if (best) return best;
    }
    return this.links[0]!;
  }
}
