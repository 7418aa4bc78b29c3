import type { ServerResponse } from "node:http";
import type { Span } from "@opentelemetry/api";
import type { ClientStreams, Slot } from "./client-streams.js";
import { CallAbort } from "./core/call-abort.js";
import { resultScreen } from "./core/result-policy.js";
import { errorResponse } from "./core/results.js";
import { toolCall } from "./core/tool-call.js";
import type { CompiledPolicy, Identity } from "./engine.js";
import {
  idKey,
  REQUEST_METHODS,
  RpcErrorCode,
  type RpcId,
  type RpcMessage,
  rpcError,
} from "./jsonrpc.js";
import { type CallHost, SessionToolCall } from "./session/call.js";
import { ClientRequests } from "./session/client-requests.js";
import { screenLog } from "./session/log-screen.js";
import { progressSender, relayProgress, sharedParams } from "./session/relay.js";
import { ResourceRouter } from "./session/resource-router.js";
import { TaskTable, wantsTask } from "./session/tasks.js";
import { ToolCatalog } from "./session/tool-catalog.js";
import {
  type HeldRequest,
  type Open,
  SESSION_CLOSED,
  type SessionContext,
} from "./session/types.js";
import { type RequestTrace, withTraceMeta } from "./telemetry.js";
import type { LinkListener, UpstreamLink } from "./upstream.js";

export type { HeldRequest, SessionContext } from "./session/types.js";

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
  /** Requests sent to the client (relayed from upstreams, or the gateway's elicitation). */
  private readonly clientRequests: ClientRequests;
  private closedFlag = false;
  /** The session's tools (listing, routing, list_changed). */
  private readonly tools: ToolCatalog;
  /** Prompt, resource and completion routing over the upstreams. */
  private readonly resources: ResourceRouter<Open>;
  /** Task-augmented `tools/call`s, when the gateway offers tasks. */
  private readonly tasks: TaskTable | undefined;
  /** What this session lends its tool calls (one object per session, not per call). */
  private readonly host: CallHost;

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
    this.tools = new ToolCatalog(this, ctx);
    this.clientRequests = new ClientRequests(streams);
    this.resources = new ResourceRouter<Open>(links, ctx, (entry, link, method, params) =>
      this.forward(entry, link, method, params),
    );
    for (const l of links) l.addListener(this);
    const t = ctx.toolCalls;
    this.tasks = t.taskApprovalTimeoutMs === undefined ? undefined : new TaskTable(t);
    this.host = {
      tools: this.tools,
      links,
      shared,
      grantSessions: () => ctx.grantSessions(this.grant),
      forward: (entry, link, method, params, timeoutMs, span) =>
        this.forward(entry, link, method, params, timeoutMs, span),
      elicitFor: (entry) =>
        this.clientCapabilities.elicitation
          ? (message, schema) => this.clientRequests.elicit(entry.slot, message, schema)
          : undefined,
    };
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

  /**
   * A request POSTed by the client; its answer goes to `res`; `trace` is its span;
   * `shape` rewrites the final answer (the 2026 front reshapes results for its clients);
   * `held` carries what the 2026 front knows of the request (see {@link HeldRequest}).
   */
  handleRequest(
    msg: RpcMessage,
    res: ServerResponse,
    trace?: RequestTrace,
    shape?: (m: RpcMessage) => RpcMessage,
    held?: HeldRequest,
  ): void {
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
    const entry: Open = { slot, trace, abort: new CallAbort() };
    if (held?.continuation) entry.continuation = true;
    if (held?.clientProgressToken !== undefined) entry.clientToken = held.clientProgressToken;
    if (held) entry.stateless = { resume: held.resumeApproval };
    this.open.set(key, entry);
    res.once("close", () => {
      // A client that drops a plain JSON answer before it came can never get it (there is
      // no resumption without an event stream): cancel the work, so a hung upstream does
      // not hold the call's quota. A dropped SSE stream is resumable (Last-Event-ID) and
      // left to run, bounded by the call timeout.
      // A stateless (2026) stream is not resumable either.
      const mode = entry.slot.mode;
      const lost = mode === "pending" || (mode === "sse" && this.streams.stateless);
      if (this.open.get(key) === entry && lost) {
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
    const p = this.dispatch(entry, id, method, params);
    const out = shape ?? ((m: RpcMessage) => m);
    p.then(
      (m) => this.finish(entry, out(m)),
      (e: unknown) => this.finish(entry, out(errorResponse(id, e))),
    );
  }

  /** The answer to one client request, by method (intercepted or relayed). */
  private dispatch(
    entry: Open,
    id: RpcId,
    method: string,
    params: RpcMessage["params"],
  ): Promise<RpcMessage> {
    switch (method) {
      case "ping":
        return Promise.resolve({ jsonrpc: "2.0", id, result: {} });
      case "tools/list":
        return this.tools.listTools(id, params?.cursor);
      case "tools/call":
        return this.tasks && wantsTask(params)
          ? this.startTask(this.tasks, id, params ?? {})
          : this.callTool(entry, id, params ?? {});
      case "tasks/get":
      case "tasks/result":
      case "tasks/cancel":
      case "tasks/list":
        return (
          this.tasks?.handle(method, id, params) ??
          this.forward(entry, this.links[0]!, method, params)
        );
      case "prompts/list":
        return this.resources.listPrompts(entry, id, params);
      case "prompts/get":
        return this.resources.getPrompt(entry, id, params ?? {});
      case "resources/list":
        return this.resources.aggregate(entry, id, method, params, "resources");
      case "resources/templates/list":
        return this.resources.aggregate(entry, id, method, params, "resourceTemplates");
      case "resources/read":
      case "resources/subscribe":
      case "resources/unsubscribe":
        return this.resources
          .routeByUri(params?.uri)
          .then((link) => this.forward(entry, link, method, params))
          .then((m) => this.ctx.screenResource(this.identity, method, params, m));
      case "completion/complete":
        return this.resources.complete(entry, id, params ?? {});
      case "logging/setLevel":
        return this.broadcast(entry, id, method, params);
      default:
        return this.forward(entry, this.links[0]!, method, params);
    }
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
    this.clientRequests.answer(msg);
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
      this.clientRequests.relay(link, m, this.relatedSlot(link));
      return;
    }
    if (method === "notifications/progress") {
      relayProgress(m, this.shared.has(link) ? this.id : undefined, this.progress, this.streams);
      return;
    }
    if (method === "notifications/tools/list_changed") {
      void this.tools.toolsMaybeChanged();
      return;
    }
    if (method === "notifications/cancelled") {
      this.clientRequests.cancelledUpstream(link, m);
      return;
    }
    const out = method === "notifications/message" ? screenLog(link, m) : m;
    if (out) this.streams.sendUnrelated(out);
  }

  onUpstreamLost(link: UpstreamLink): void {
    // Without this upstream the session cannot behave like the upstream any more: end it,
    // so the client gets 404 and re-initializes (as it would against the upstream).
    if (!this.shared.has(link)) this.ctx.onSessionLost(this);
  }

  onUpstreamRestarted(link: UpstreamLink): void {
    void link.notify({ jsonrpc: "2.0", method: "notifications/initialized" });
    // The new process may offer other tools: re-list and tell the client if it sees a change.
    void this.tools.toolsMaybeChanged();
  }

  /**
   * Sends `notifications/tools/list_changed` when the tools this session may see differ
   * from the ones its client is up to date with (see {@link ToolCatalog.toolsMaybeChanged}).
   */
  toolsMaybeChanged(
    opts: { force?: boolean; previousPolicy?: CompiledPolicy } = {},
  ): Promise<void> {
    return this.tools.toolsMaybeChanged(opts);
  }

  /** Ends the session: aborts held calls, answers nothing more, closes owned links. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.tasks?.close(SESSION_CLOSED);
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

  /** The upstream serving an exposed tool name (binds sealed 2026 request state). */
  async upstreamOf(tool: string): Promise<string | undefined> {
    const routes = this.tools.cachedRoutes() ?? (await this.tools.toolRoutes());
    return routes.get(tool)?.link.name;
  }

  // ---------------------------------------------------------------- intercepted methods

  /** A task-augmented `tools/call`: answered with the task; the call runs on without `task`. */
  private async startTask(tasks: TaskTable, id: RpcId, params: Record<string, unknown>) {
    const { task: _t, ...call } = params;
    return tasks.create(id, params, (entry) => this.callTool(entry, id, call, tasks));
  }

  /** A `tools/call`: the pipeline in core/tool-call.ts with this session's capabilities. */
  private callTool(
    entry: Open,
    id: RpcId,
    params: Record<string, unknown>,
    task?: TaskTable,
  ): Promise<RpcMessage> {
    // The tool's result policy screens its progress notifications as well as its result.
    if (typeof params.name === "string")
      entry.screen = resultScreen(this.ctx.resultPolicy(this.identity, params.name));
    const progress = task
      ? (_n: number, message: string) => task.progress(entry, message)
      : progressSender(this.streams, entry);
    const call = new SessionToolCall(
      this.host,
      entry,
      id,
      this.identity,
      params,
      task !== undefined,
      progress,
    );
    return toolCall(this.ctx.toolCalls, call);
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
      p = sharedParams(p, this.id, entry.progressToken);
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

/** Which session last sent a request over a shared link (routes server-to-client requests). */
const lastCaller = new WeakMap<UpstreamLink, ProxySession>();
