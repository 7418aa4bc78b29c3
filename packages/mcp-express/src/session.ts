import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Span } from "@opentelemetry/api";
import type { ClientStreams, Slot } from "./client-streams.js";
import { errorResponse } from "./core/results.js";
import { type ToolCall, type ToolCallDeps, toolCall } from "./core/tool-call.js";
import type { CompiledPolicy, Identity } from "./engine.js";
import { ToolgateMcpError } from "./errors.js";
import {
  idKey,
  REQUEST_METHODS,
  RpcErrorCode,
  type RpcId,
  type RpcMessage,
  rpcError,
} from "./jsonrpc.js";
import type { ElicitAnswer, ElicitSchema, Logger } from "./options.js";
import { type RequestTrace, withTraceMeta } from "./telemetry.js";
import type { LinkListener, UpstreamLink } from "./upstream.js";

/** A tool as the client sees it, and where it really lives. */
interface ToolRoute {
  readonly exposed: string;
  readonly link: UpstreamLink;
  readonly name: string;
  readonly tool: Record<string, unknown>;
}

/** What a session needs from the gateway (policy view, the tool-call pipeline, seams). */
export interface SessionContext {
  readonly separator: string;
  readonly namespace: "auto" | "always" | "never";
  /** Page size of the gateway's `tools/list`; undefined pages like the upstreams do. */
  readonly listPageSize: number | undefined;
  readonly now: () => number;
  readonly logger: Logger;
  /** The tool-call pipeline's dependencies (decide, approve, validate, emit). */
  readonly toolCalls: ToolCallDeps;
  /** Names the grant may see; under `policy` when given (e.g. the one before a reload). */
  visible(
    identity: Identity,
    tools: ReadonlyArray<{ name: string }>,
    policy?: CompiledPolicy,
  ): Set<string>;
  /** Open sessions of a grant right now. */
  grantSessions(grant: string): number;
  onSlotDone(): void;
  /** The session lost an upstream for good; the gateway forgets and closes it. */
  onSessionLost(session: ProxySession): void;
}

/** A forwarded request in flight on a link. */
interface Forward {
  readonly slot: Slot;
  readonly link: UpstreamLink;
  readonly upstreamId: number;
}

/** A request sent to the client: answered back to an upstream or to the gateway itself. */
type ToClient =
  | { kind: "upstream"; link: UpstreamLink; upstreamId: RpcId }
  | { kind: "local"; resolve: (m: RpcMessage) => void };

/** Open request bookkeeping on top of the stream slot. */
interface Open {
  readonly slot: Slot;
  forward?: Forward;
  /**
   * Aborted when the client gives up (reason: its words) or the session ends (reason:
   * {@link SESSION_CLOSED}); the tool-call pipeline tells the two apart.
   */
  readonly abort: AbortController;
  progressToken?: string | number;
  /** Why the client gave up on it (cancelled, disconnected); set once. */
  cancelled?: string;
  /** The request's span, when traced (or when the client sent a trace context). */
  trace?: RequestTrace | undefined;
}

/**
 * One client session of the gateway: its upstream links, the id maps between the
 * client and each upstream, and the MCP methods the gateway intercepts (initialize is
 * done by the gateway; tools, prompts and resources are aggregated; tools/call is
 * decided by policy). Everything else is relayed unchanged.
 */
export class ProxySession implements LinkListener {
  readonly createdAt: number;
  lastSeen: number;
  clientCapabilities: Record<string, unknown> = {};
  private readonly open = new Map<string, Open>();
  private readonly progress = new Map<string, Open>();
  private readonly toClient = new Map<number, ToClient>();
  private nextToClientId = 1;
  private routes: Map<string, ToolRoute> | undefined;
  private routesEpoch = -1;
  private promptRoutes = new Map<string, { link: UpstreamLink; name: string }>();
  private readonly uriOwner = new Map<string, UpstreamLink>();
  private ownersLoaded = false;
  /**
   * The visible tools the client is up to date with: what it was last listed, or the
   * state it was last told about (an announcement or a check that found no change).
   * Every list_changed decision compares against this one snapshot, so two paths
   * reacting to one change (a holder subscription and an explicit notify) send once.
   */
  private seenTools: Array<Record<string, unknown>> | undefined;
  /** Tool re-checks (policy reloads, upstream changes, explicit notifies) run in order. */
  private toolsCheck: Promise<void> = Promise.resolve();
  private closedFlag = false;

  constructor(
    readonly id: string,
    /** Who the session belongs to; refreshed by the gateway when a newer token arrives. */
    public identity: Identity,
    readonly streams: ClientStreams,
    readonly links: UpstreamLink[],
    private readonly shared: ReadonlySet<UpstreamLink>,
    private readonly ctx: SessionContext,
  ) {
    this.createdAt = ctx.now();
    this.lastSeen = this.createdAt;
    for (const l of links) l.addListener(this);
  }

  get grant(): string {
    return this.identity.grant;
  }
  get inFlight(): number {
    return this.open.size;
  }
  get closed(): boolean {
    return this.closedFlag;
  }

  // ---------------------------------------------------------------- client -> gateway

  /** A request POSTed by the client; its answer goes to `res`; `trace` is its span. */
  handleRequest(msg: RpcMessage, res: ServerResponse, trace?: RequestTrace): void {
    const id = msg.id as RpcId;
    const key = idKey(id);
    if (this.open.has(key)) {
      // Ids must be unique among a client's in-flight requests; a duplicate would
      // misroute the first request's answer.
      const slot = this.streams.open(id, `${key}#dup`, res);
      const dup = rpcError(
        id,
        RpcErrorCode.INVALID_REQUEST,
        "Invalid Request: request id already in flight",
      );
      this.streams.respond(slot, dup);
      trace?.end(dup);
      return;
    }
    const slot = this.streams.open(id, key, res);
    const entry: Open = { slot, trace, abort: new AbortController() };
    this.open.set(key, entry);
    res.once("close", () => {
      // A client that drops a plain JSON answer before it came can never get it (there is
      // no resumption without an event stream): cancel the work, so a hung upstream does
      // not hold the call's quota. A dropped SSE stream is resumable (Last-Event-ID) and
      // left to run, bounded by the call timeout.
      if (this.open.get(key) === entry && entry.slot.mode === "pending") {
        this.cancel(entry, "client disconnected");
      }
    });
    const method = msg.method as string;
    const params = msg.params;
    const token = (params?._meta as Record<string, unknown> | undefined)?.progressToken;
    if (typeof token === "string" || typeof token === "number") {
      entry.progressToken = token;
      this.progress.set(idKey(token), entry);
    }
    let p: Promise<RpcMessage>;
    switch (method) {
      case "ping":
        p = Promise.resolve({ jsonrpc: "2.0", id, result: {} });
        break;
      case "tools/list":
        p = this.listTools(id, params?.cursor);
        break;
      case "tools/call":
        p = this.callTool(entry, id, params ?? {});
        break;
      case "prompts/list":
        p = this.listPrompts(entry, id, params);
        break;
      case "prompts/get":
        p = this.getPrompt(entry, id, params ?? {});
        break;
      case "resources/list":
        p = this.aggregate(entry, id, method, params, "resources");
        break;
      case "resources/templates/list":
        p = this.aggregate(entry, id, method, params, "resourceTemplates");
        break;
      case "resources/read":
      case "resources/subscribe":
      case "resources/unsubscribe":
        p = this.routeByUri(params?.uri).then((link) => this.forward(entry, link, method, params));
        break;
      case "completion/complete":
        p = this.complete(entry, id, params ?? {});
        break;
      case "logging/setLevel":
        p = this.broadcast(entry, id, method, params);
        break;
      default:
        p = this.forward(entry, this.links[0]!, method, params);
    }
    p.then(
      (m) => this.finish(entry, m),
      (e: unknown) => this.finish(entry, errorResponse(id, e)),
    );
  }

  /** A notification POSTed by the client. */
  handleNotification(msg: RpcMessage): void {
    // Only notifications travel without an id. A request method sent as one (e.g. a
    // `tools/call` without id) would reach the upstream undecided: never relay it. The
    // HTTP front refuses these first; this guards every other way in.
    if (typeof msg.method !== "string" || REQUEST_METHODS.has(msg.method)) return;
    if (msg.method === "notifications/cancelled") {
      const rid = msg.params?.requestId;
      if (typeof rid !== "string" && typeof rid !== "number") return;
      const o = this.open.get(idKey(rid));
      if (!o) return;
      const reason = msg.params?.reason;
      this.cancel(o, typeof reason === "string" ? reason : "cancelled by the client");
      return;
    }
    for (const l of this.links) {
      // A shared link was initialized once by the gateway; repeating it confuses servers.
      if (msg.method === "notifications/initialized" && this.shared.has(l)) continue;
      void l.notify(msg);
    }
  }

  /**
   * The client gave up on an open request: stop a held approval, cancel the upstream
   * request (`notifications/cancelled` with the upstream's id) and stop waiting for it.
   * The tool call then rolls back its reservation and reports outcome `cancelled`.
   */
  private cancel(o: Open, reason: string): void {
    if (o.cancelled !== undefined) return;
    o.cancelled = reason;
    o.abort.abort(reason);
    const f = o.forward;
    if (f) {
      void f.link.notify({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId: f.upstreamId, reason },
      });
      f.link.abandon(f.upstreamId);
    }
  }

  /** A response POSTed by the client to a request the gateway sent it. */
  handleResponse(msg: RpcMessage): void {
    if (typeof msg.id !== "number") return;
    const t = this.toClient.get(msg.id);
    if (!t) return;
    this.toClient.delete(msg.id);
    if (t.kind === "local") t.resolve(msg);
    else void t.link.notify({ ...msg, id: t.upstreamId });
  }

  // ---------------------------------------------------------------- upstream -> client

  onUpstreamMessage(link: UpstreamLink, m: RpcMessage): void {
    if (this.closedFlag) return;
    const method = m.method as string;
    if (m.id !== undefined) {
      // A server-to-client request: only the session that last called a shared link
      // answers it; a per-session link has just this one.
      if (this.shared.has(link) && lastCaller.get(link) !== this) {
        const lc = lastCaller.get(link);
        if (lc && !lc.closed) return;
      }
      const gid = this.nextToClientId++;
      this.toClient.set(gid, { kind: "upstream", link, upstreamId: m.id });
      this.streams.sendRelated(this.relatedSlot(link), { ...m, id: gid });
      return;
    }
    if (method === "notifications/progress") {
      const token = m.params?.progressToken;
      if (typeof token !== "string" && typeof token !== "number") return;
      const o = this.progress.get(
        idKey(this.shared.has(link) ? unshareToken(this.id, token) : token),
      );
      if (!o) return;
      const params = this.shared.has(link)
        ? { ...m.params, progressToken: o.progressToken }
        : m.params;
      this.streams.sendRelated(o.slot, { jsonrpc: "2.0", method, params: params ?? {} });
      return;
    }
    if (method === "notifications/tools/list_changed") {
      void this.toolsMaybeChanged();
      return;
    }
    if (method === "notifications/cancelled") {
      const rid = m.params?.requestId;
      for (const [gid, t] of this.toClient) {
        if (t.kind === "upstream" && t.link === link && t.upstreamId === rid) {
          this.toClient.delete(gid);
          this.streams.sendUnrelated({ ...m, params: { ...m.params, requestId: gid } });
        }
      }
      return;
    }
    this.streams.sendUnrelated(m);
  }

  onUpstreamLost(link: UpstreamLink): void {
    // Without this upstream the session cannot behave like the upstream any more: end it,
    // so the client gets 404 and re-initializes (as it would against the upstream).
    if (!this.shared.has(link)) this.ctx.onSessionLost(this);
  }

  onUpstreamRestarted(link: UpstreamLink): void {
    void link.notify({ jsonrpc: "2.0", method: "notifications/initialized" });
    // The new process may offer other tools: re-list and tell the client if it sees a change.
    void this.toolsMaybeChanged();
  }

  /**
   * Sends `notifications/tools/list_changed` when the tools this session may see (names or
   * definitions) differ from the ones the client is up to date with, and records the new
   * state, so several triggers of one change notify once. Checks run one at a time in
   * call order; the returned promise settles when this one is done.
   *
   * - `previousPolicy`: the policy before a reload; the baseline for a client that has not
   *   listed tools yet (did the tools visible under it differ?).
   * - `force`: send even when nothing visible changed (the snapshot is still updated).
   * - With no baseline at all (never listed, no previous policy; e.g. an upstream's own
   *   list_changed) the event is sent once, as the gateway cannot tell what the client
   *   knows; from then on the snapshot is known.
   * - When the tools cannot be listed the event is sent, so the client re-lists itself.
   */
  toolsMaybeChanged(
    opts: { force?: boolean; previousPolicy?: CompiledPolicy } = {},
  ): Promise<void> {
    // Never rejects: a failed check must not stop the ones queued after it.
    const run = this.toolsCheck
      .then(() => this.checkTools(opts))
      .catch((e: unknown) =>
        this.ctx.logger.warn?.({ session: this.id, err: String(e) }, "tools re-check failed"),
      );
    this.toolsCheck = run;
    return run;
  }

  private async checkTools(opts: {
    force?: boolean;
    previousPolicy?: CompiledPolicy;
  }): Promise<void> {
    if (this.closedFlag) return;
    let now: Array<Record<string, unknown>> | undefined;
    let before: string | undefined;
    try {
      const routes = await this.toolRoutes();
      now = this.visibleTools(routes).tools;
      // Read after the await: a tools/list answered meanwhile is the newer baseline.
      if (this.seenTools !== undefined) before = JSON.stringify(this.seenTools);
      else if (opts.previousPolicy)
        before = JSON.stringify(this.visibleTools(routes, opts.previousPolicy).tools);
    } catch (e) {
      // Cannot tell: let the client re-list and see for itself.
      this.ctx.logger.warn?.({ session: this.id, err: String(e) }, "tools re-check failed");
    }
    if (this.closedFlag) return;
    const changed = now === undefined || before === undefined || JSON.stringify(now) !== before;
    if (now !== undefined) this.seenTools = now;
    if (changed || opts.force) {
      this.streams.sendUnrelated({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
    }
  }

  /** Ends the session: aborts held calls, answers nothing more, closes owned links. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const o of this.open.values()) {
      o.abort.abort(SESSION_CLOSED);
      // Answer what is still open so no client request hangs on a closed session.
      const closed = rpcError(
        o.slot.clientId,
        RpcErrorCode.INTERNAL_ERROR,
        "session closed by the gateway",
      );
      this.streams.respond(o.slot, closed);
      o.trace?.end(closed);
      o.trace = undefined; // finish() may still run for it: end the span once
    }
    this.streams.close();
    for (const l of this.links) {
      l.removeListener(this);
      if (lastCaller.get(l) === this) lastCaller.delete(l);
    }
    await Promise.all(this.links.filter((l) => !this.shared.has(l)).map((l) => l.close()));
  }

  // ---------------------------------------------------------------- intercepted methods

  /** The routed tool list when still valid (no upstream changed its list). */
  private cachedRoutes(): Map<string, ToolRoute> | undefined {
    if (!this.routes) return undefined;
    let epoch = 0;
    for (const l of this.links) {
      if (!l.tools) return undefined;
      epoch += l.toolsEpoch;
    }
    return this.routesEpoch === epoch ? this.routes : undefined;
  }

  private async toolRoutes(): Promise<Map<string, ToolRoute>> {
    const cached = this.cachedRoutes();
    if (cached) return cached;
    const lists = await Promise.all(
      this.links.map(async (l) => {
        // A link that is down (restarting) keeps its last known tools: a call to one of them
        // then fails naming the upstream, instead of as a tool that does not exist.
        if (!l.ok) return l.tools ?? [];
        if (!l.initResult?.capabilities) return [];
        const caps = l.initResult.capabilities as Record<string, unknown>;
        if (!caps.tools) {
          l.tools = [];
          return l.tools;
        }
        if (!l.tools) {
          const page: { first?: Record<string, unknown>; size?: number } = {};
          l.tools = await fetchAll(l, "tools/list", "tools", page);
          const { tools: _t, nextCursor: _c, ...fields } = page.first ?? {};
          l.toolsResult = page.size === undefined ? { fields } : { fields, pageSize: page.size };
        }
        return l.tools;
      }),
    );
    const count = new Map<string, number>();
    for (const list of lists) {
      for (const t of list) count.set(String(t.name), (count.get(String(t.name)) ?? 0) + 1);
    }
    const routes = new Map<string, ToolRoute>();
    const multi = this.links.length > 1;
    lists.forEach((list, i) => {
      const link = this.links[i]!;
      for (const tool of list) {
        const name = String(tool.name);
        const prefix =
          this.ctx.namespace === "always" ||
          (multi && this.ctx.namespace === "auto" && (count.get(name) ?? 0) > 1);
        const exposed = prefix ? `${link.name}${this.ctx.separator}${name}` : name;
        if (!routes.has(exposed)) routes.set(exposed, { exposed, link, name, tool });
      }
    });
    this.routes = routes;
    this.routesEpoch = this.links.reduce((a, l) => a + l.toolsEpoch, 0);
    return routes;
  }

  /**
   * The merged, policy-filtered tool list. Result-level fields of the upstreams (`_meta`,
   * cache hints like `ttlMs`) are kept: one upstream's as they are; with several, the
   * ones they agree on, `_meta` merged and the smallest `ttlMs`. The list is paged when an
   * upstream paged its own (same page size, or `listPageSize`), with a gateway cursor
   * that is opaque to the client and bound to the list it pages through.
   */
  private async listTools(id: RpcId, cursor: unknown): Promise<RpcMessage> {
    const routes = await this.toolRoutes();
    const { tools } = this.visibleTools(routes);
    const fingerprint = listFingerprint(tools);
    let offset = 0;
    if (cursor !== undefined) {
      const at = typeof cursor === "string" ? readCursor(cursor, fingerprint) : undefined;
      if (at === undefined || at > tools.length) return badCursor(id);
      offset = at;
    }
    if (offset === 0) this.seenTools = tools;
    const result: Record<string, unknown> = mergeListFields(this.links);
    const size = this.ctx.listPageSize ?? largestPage(this.links);
    if (size !== undefined && size > 0 && tools.length - offset > size) {
      result.tools = tools.slice(offset, offset + size);
      result.nextCursor = makeCursor(offset + size, fingerprint);
    } else {
      result.tools = offset === 0 ? tools : tools.slice(offset);
    }
    return { jsonrpc: "2.0", id, result };
  }

  /** The tool definitions this session may see (under `policy`, default the current one). */
  private visibleTools(
    routes: Map<string, ToolRoute>,
    policy?: CompiledPolicy,
  ): {
    tools: Array<Record<string, unknown>>;
    visible: Set<string>;
  } {
    const all = [...routes.values()];
    const visible = this.ctx.visible(
      this.identity,
      all.map((r) => ({ name: r.exposed })),
      policy,
    );
    const tools: Array<Record<string, unknown>> = [];
    for (const r of all) {
      if (!visible.has(r.exposed)) continue;
      tools.push(r.exposed === r.name ? r.tool : { ...r.tool, name: r.exposed });
    }
    return { tools, visible };
  }

  /** A `tools/call`: the pipeline in core/tool-call.ts with this session's capabilities. */
  private callTool(entry: Open, id: RpcId, params: Record<string, unknown>): Promise<RpcMessage> {
    let route: ToolRoute | undefined;
    const call: ToolCall = {
      id,
      // The identity this call is decided and reported under (a token refresh mid-call
      // does not change it).
      identity: this.identity,
      session: this.id,
      params,
      resolve: async (name) => {
        const routes = this.cachedRoutes() ?? (await this.toolRoutes());
        route = routes.get(name);
        return route && { upstream: route.link.name, tool: route.name, definition: route.tool };
      },
      unavailable: () => this.links.filter((l) => !l.ok && !this.shared.has(l)).map((l) => l.name),
      forward: ({ tool, timeoutMs, span }) =>
        this.forward(
          entry,
          route!.link,
          "tools/call",
          tool === params.name ? params : { ...params, name: tool },
          timeoutMs,
          span,
        ),
      signal: entry.abort.signal,
      grantSessions: () => this.ctx.grantSessions(this.grant),
      progress:
        entry.progressToken === undefined
          ? undefined
          : (progress, message) =>
              this.streams.sendRelated(entry.slot, {
                jsonrpc: "2.0",
                method: "notifications/progress",
                params: { progressToken: entry.progressToken, progress, message },
              }),
      elicit: this.clientCapabilities.elicitation
        ? (message, schema) => this.elicit(entry.slot, message, schema)
        : undefined,
      trace: entry.trace,
    };
    return toolCall(this.ctx.toolCalls, call);
  }

  /**
   * Asks the caller through `elicitation/create`. The answer is reported as given: what
   * it may mean (never an approval by default) is the approval hook's business.
   */
  private elicit(slot: Slot, message: string, schema: ElicitSchema): Promise<ElicitAnswer> {
    return new Promise((resolve) => {
      const gid = this.nextToClientId++;
      this.toClient.set(gid, {
        kind: "local",
        resolve: (m) => {
          if (m.error) return resolve("unsupported");
          const r = m.result as { action?: unknown; content?: unknown } | undefined;
          if (r?.action === "accept") {
            const c = r.content;
            const content =
              typeof c === "object" && c !== null && !Array.isArray(c)
                ? (c as Record<string, unknown>)
                : {};
            resolve({ action: "accept", content });
          } else resolve({ action: r?.action === "decline" ? "decline" : "cancel" });
        },
      });
      this.streams.sendRelated(slot, {
        jsonrpc: "2.0",
        id: gid,
        method: "elicitation/create",
        params: { message, requestedSchema: schema },
      });
    });
  }

  private async listPrompts(
    entry: Open,
    id: RpcId,
    params: RpcMessage["params"],
  ): Promise<RpcMessage> {
    if (this.links.length === 1) return this.forward(entry, this.links[0]!, "prompts/list", params);
    if (params?.cursor !== undefined) return badCursor(id);
    const prompts: Array<Record<string, unknown>> = [];
    this.promptRoutes = new Map();
    for (const l of this.links) {
      if (!offers(l, "prompts")) continue;
      for (const p of await fetchAll(l, "prompts/list", "prompts")) {
        const exposed =
          this.ctx.namespace === "never"
            ? String(p.name)
            : `${l.name}${this.ctx.separator}${String(p.name)}`;
        this.promptRoutes.set(exposed, { link: l, name: String(p.name) });
        prompts.push({ ...p, name: exposed });
      }
    }
    return { jsonrpc: "2.0", id, result: { prompts } };
  }

  private async getPrompt(
    entry: Open,
    id: RpcId,
    params: Record<string, unknown>,
  ): Promise<RpcMessage> {
    if (this.links.length === 1) return this.forward(entry, this.links[0]!, "prompts/get", params);
    const r = this.promptRoutes.get(String(params.name));
    if (!r)
      return rpcError(id, RpcErrorCode.INVALID_PARAMS, `Prompt ${String(params.name)} not found`);
    return this.forward(entry, r.link, "prompts/get", { ...params, name: r.name });
  }

  private async complete(
    entry: Open,
    id: RpcId,
    params: Record<string, unknown>,
  ): Promise<RpcMessage> {
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

  private async aggregate(
    entry: Open,
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
  private async routeByUri(uri: unknown): Promise<UpstreamLink> {
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

  private async broadcast(
    entry: Open,
    _id: RpcId,
    method: string,
    params: RpcMessage["params"],
  ): Promise<RpcMessage> {
    const [first, ...rest] = this.links;
    const others = rest.map((l) => l.request(method, params).catch(() => undefined));
    const r = await this.forward(entry, first!, method, params);
    await Promise.all(others);
    return r;
  }

  /**
   * Relays a request to one upstream and maps the response id back to the client's. The
   * trace context (of `span`, else the request's) rides along in `_meta`.
   */
  private async forward(
    entry: Open,
    link: UpstreamLink,
    method: string,
    params: RpcMessage["params"],
    timeoutMs?: number,
    span?: Span,
  ): Promise<RpcMessage> {
    let p = entry.trace ? withTraceMeta(params, span ?? entry.trace.span) : params;
    if (this.shared.has(link)) {
      lastCaller.set(link, this);
      if (entry.progressToken !== undefined && p) {
        p = {
          ...p,
          _meta: {
            ...(p._meta as object),
            progressToken: shareToken(this.id, entry.progressToken),
          },
        };
      }
    }
    entry.forward = { slot: entry.slot, link, upstreamId: link.peekNextId() };
    let res: RpcMessage;
    try {
      res = await link.request(method, p, timeoutMs);
    } finally {
      entry.forward = undefined;
    }
    return res.id === entry.slot.clientId ? res : { ...res, id: entry.slot.clientId };
  }

  private relatedSlot(link: UpstreamLink): Slot | undefined {
    let found: Slot | undefined;
    for (const o of this.open.values()) {
      if (o.forward?.link === link) found = o.slot;
    }
    return found;
  }

  private finish(entry: Open, m: RpcMessage): void {
    this.open.delete(entry.slot.key);
    if (entry.progressToken !== undefined) this.progress.delete(idKey(entry.progressToken));
    this.lastSeen = this.ctx.now();
    if (!this.closedFlag) this.streams.respond(entry.slot, m);
    entry.trace?.end(m);
    this.ctx.onSlotDone();
  }
}

/** The abort reason of a session's end: not the client's cancel (no `cancelled` outcome). */
const SESSION_CLOSED = Symbol("session closed");

/** Which session last sent a request over a shared link (routes server-to-client requests). */
const lastCaller = new WeakMap<UpstreamLink, ProxySession>();

function shareToken(session: string, token: string | number): string {
  return `${session}/${typeof token}/${String(token)}`;
}
function unshareToken(session: string, token: string | number): string | number {
  const s = String(token);
  const prefix = `${session}/`;
  if (!s.startsWith(prefix)) return `\u0000${s}`;
  const rest = s.slice(prefix.length);
  const slash = rest.indexOf("/");
  const type = rest.slice(0, slash);
  const value = rest.slice(slash + 1);
  return type === "number" ? Number(value) : value;
}

/** True when the link is up and its server declared `capability` at initialize. */
function offers(link: UpstreamLink, capability: "prompts" | "resources"): boolean {
  const caps = link.initResult?.capabilities as Record<string, unknown> | undefined;
  return link.ok && Boolean(caps?.[capability]);
}

/**
 * Fetches every page of a list method. `page`, when given, receives the first page's
 * result and, if the upstream paged, the length of that first page.
 */
async function fetchAll(
  link: UpstreamLink,
  method: string,
  field: string,
  page?: { first?: Record<string, unknown>; size?: number },
): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  let cursor: unknown;
  for (let n = 0; n < 100; n++) {
    const res = await link.request(method, cursor === undefined ? undefined : { cursor });
    if (res.error) {
      throw new ToolgateMcpError(
        "UPSTREAM_FAILED",
        `upstream ${link.name}: ${method} failed: ${res.error.message}`,
      );
    }
    const items = res.result?.[field];
    if (Array.isArray(items)) out.push(...(items as Array<Record<string, unknown>>));
    cursor = res.result?.nextCursor;
    if (n === 0 && page) {
      page.first = res.result ?? {};
      if (typeof cursor === "string" && Array.isArray(items) && items.length > 0)
        page.size = items.length;
    }
    if (typeof cursor !== "string") break;
  }
  return out;
}

/**
 * Result-level fields of the upstreams' `tools/list`: one upstream's as they are; with
 * several, `_meta` merged, the smallest `ttlMs` (the list is only as fresh as its most
 * short-lived part), and any other field all of them give with the same value.
 */
function mergeListFields(links: readonly UpstreamLink[]): Record<string, unknown> {
  const all = links.map((l) => l.toolsResult?.fields ?? {});
  if (all.length === 1) return { ...all[0] };
  const out: Record<string, unknown> = {};
  const meta: Record<string, unknown> = {};
  const ttls: number[] = [];
  const keys = new Set(all.flatMap((f) => Object.keys(f)));
  for (const k of keys) {
    if (k === "_meta") {
      for (const f of all) if (isRecord(f._meta)) Object.assign(meta, f._meta);
    } else if (k === "ttlMs") {
      for (const f of all) if (typeof f.ttlMs === "number") ttls.push(f.ttlMs);
    } else {
      const first = JSON.stringify(all[0]?.[k]);
      if (all.every((f) => k in f && JSON.stringify(f[k]) === first)) out[k] = all[0]?.[k];
    }
  }
  if (Object.keys(meta).length > 0) out._meta = meta;
  if (ttls.length > 0) out.ttlMs = Math.min(...ttls);
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The largest page size an upstream used for its tools, if any paged. */
function largestPage(links: readonly UpstreamLink[]): number | undefined {
  let max: number | undefined;
  for (const l of links) {
    const s = l.toolsResult?.pageSize;
    if (s !== undefined && (max === undefined || s > max)) max = s;
  }
  return max;
}

/** A short digest of the listed names: a cursor is only good for the list it came from. */
function listFingerprint(tools: ReadonlyArray<Record<string, unknown>>): string {
  return createHash("sha256")
    .update(tools.map((t) => String(t.name)).join("\u0000"))
    .digest("base64url")
    .slice(0, 16);
}

function makeCursor(offset: number, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ o: offset, f: fingerprint })).toString("base64url");
}

/** The offset a gateway cursor points at; undefined for anything else or a stale list. */
function readCursor(cursor: string, fingerprint: string): number | undefined {
  if (cursor.length > 200) return undefined;
  try {
    const c = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (!isRecord(c) || c.f !== fingerprint) return undefined;
    return Number.isSafeInteger(c.o) && (c.o as number) >= 0 ? (c.o as number) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A cursor the gateway did not hand out for this list (or one for a list that has changed
 * since): invalid params, as MCP asks for unknown cursors.
 */
function badCursor(id: RpcId): RpcMessage {
  return rpcError(
    id,
    RpcErrorCode.INVALID_PARAMS,
    "Invalid params: unknown or expired cursor (list again without cursor)",
  );
}
