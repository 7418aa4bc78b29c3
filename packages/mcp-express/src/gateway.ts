import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  InitializeRequestParamsSchema,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { createAuthenticator, sendAuthRefusal, serveOAuthMetadata } from "./auth/authenticate.js";
import { createOAuthVerifier, type OAuthVerifier } from "./auth/oauth.js";
import { AuthThrottle } from "./auth-throttle.js";
import { ClientStreams } from "./client-streams.js";
import type { ToolCallDeps } from "./core/tool-call.js";
import { createArgumentValidator } from "./core/validate.js";
import {
  type CompiledPolicy,
  createEngine,
  type Decision,
  type Identity,
  type PolicyEngineLike,
  type PolicyHolder,
} from "./engine.js";
import { errText, ToolgateMcpError } from "./errors.js";
import {
  accepts,
  hostAllowed,
  isJsonContentType,
  isLoopbackOrigin,
  normalizeHost,
  readBody,
  sendError,
} from "./http.js";
import {
  classify,
  nestedDeeperThan,
  paramsProblem,
  REQUEST_METHODS,
  type RpcId,
  type RpcMessage,
  readableId,
} from "./jsonrpc.js";
import {
  type ApprovalOutcome,
  type Logger,
  type RefusedEvent,
  type Scheduler,
  type ToolgateMcpOptions,
  type UpstreamConfig,
  validateOptions,
} from "./options.js";
import { ProxySession, type SessionContext } from "./session.js";
import { Telemetry } from "./telemetry.js";
import { transportFactory, UpstreamLink } from "./upstream.js";

/** The gateway handle returned by {@link createToolgateMcp}. */
export interface ToolgateMcp {
  /** Mount with `app.all("/mcp", gw.handler)`; parses its own body. */
  handler: RequestHandler;
  /**
   * The same endpoint as a plain Node request listener, for `http.createServer` or to
   * route `/mcp` before Express: skips the framework's per-request work (measurably
   * cheaper per call; see the README). `identify` then receives the `IncomingMessage`.
   *
   * @example
   * createServer((req, res) => (req.url?.startsWith("/mcp") ? gw.listener(req, res) : app(req, res)));
   */
  listener: (req: IncomingMessage, res: ServerResponse) => void;
  /** Probes the upstreams (health) and starts the idle-session sweep. Call before listen. */
  start(): Promise<void>;
  /** Stops accepting, waits up to `graceMs` (default 5000) for in-flight calls, closes all. */
  close(opts?: { graceMs?: number }): Promise<void>;
  /** Last known state of each upstream. */
  upstreamHealth(): Array<{ name: string; ok: boolean; detail?: string }>;
  /** Live client sessions. */
  sessions(): Array<{ id: string; grant: string; createdAt: number }>;
  /**
   * Tells the sessions of `grant` (or all) that their tools may have changed, e.g. after
   * swapping a policy the gateway cannot subscribe to. Each session re-checks what it may
   * see and sends `notifications/tools/list_changed` only when that differs from what its
   * client last saw (or was told), so calling this after a `PolicyHolder` reload that the
   * gateway already noticed does not notify twice. A session whose client never listed
   * tools and has no earlier state to compare with gets the event once. `force: true`
   * sends regardless (rarely needed: for changes the gateway cannot see, like an upstream
   * changing a tool's behaviour under the same definition). Resolves when every session
   * concerned has been checked (and notified if needed); it never rejects.
   *
   * @example
   * const r = await holder.reloadFile(path);
   * if (r.ok && r.changed) gw.notifyToolsChanged("team-a");
   */
  notifyToolsChanged(grant?: string, opts?: { force?: boolean }): Promise<void>;
  /** Client requests currently being processed (including calls held for approval). */
  inFlight(): number;
  /** The OAuth resource server, when the `oauth` option is set. */
  readonly oauth: OAuthVerifier | undefined;
  /**
   * Answers a request for the RFC 9728 protected-resource metadata
   * (`/.well-known/oauth-protected-resource/mcp` and the root form) and returns true;
   * returns false for anything else, or when `oauth` is not set. Mount it at the root
   * of the server, where clients look for it.
   *
   * @example
   * app.use((req, res, next) => gw.serveOAuthMetadata(req, res) || next());
   */
  serveOAuthMetadata(req: IncomingMessage, res: ServerResponse): boolean;
}

const noopLogger: Logger = {};
const realScheduler: Scheduler = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout(h) {
    clearTimeout(h as ReturnType<typeof setTimeout>);
  },
};
const SUPPORTED = new Set<string>(SUPPORTED_PROTOCOL_VERSIONS);
/** Deepest JSON nesting a message may have; real MCP traffic stays far below it. */
const MAX_JSON_DEPTH = 100;
const ALLOW = "GET, POST, DELETE, OPTIONS";
/** Request headers a browser MCP client sends (API key, session, resumption). */
const CORS_ALLOW_HEADERS =
  "authorization, x-api-key, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id, traceparent, tracestate";
/** Response headers a browser MCP client must read. */
const CORS_EXPOSE = "mcp-session-id, mcp-protocol-version, www-authenticate";

function isHolder(p: unknown): p is PolicyHolder {
  return (
    typeof p === "object" &&
    p !== null &&
    "current" in p &&
    typeof (p as { subscribe?: unknown }).subscribe === "function"
  );
}

/**
 * The timeout a policy sets for a tool: the `timeoutMs` of the rule governing it (exact
 * name or the most specific glob, as the engine picks it).
 */
function policyToolTimeout(policy: CompiledPolicy, tool: string): number | undefined {
  const key = policy.plan(tool).rule?.key;
  if (key === undefined) return undefined;
  const ms = policy.document.tools?.[key]?.timeoutMs;
  return typeof ms === "number" ? ms : undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Creates the MCP policy gateway: a Streamable HTTP endpoint that proxies one or more
 * upstream MCP servers (HTTP, stdio or in-process), filters `tools/list` and decides
 * every `tools/call` with the policy of the caller's grant, and relays everything else
 * unchanged. Options are validated here, so a bad config fails at start-up.
 *
 * @example
 * const gw = createToolgateMcp({
 *   upstreams: [{ name: "everything", command: "npx", args: ["@modelcontextprotocol/server-everything"] }],
 *   apiKeys: { "sk-demo": "demo" },
 *   policy: holder,            // PolicyHolder: reloads push tools/list_changed
 * });
 * await gw.start();
 * app.all("/mcp", gw.handler);
 */
export function createToolgateMcp(options: ToolgateMcpOptions): ToolgateMcp {
  validateOptions(options);
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomUUID;
  const scheduler = options.scheduler ?? realScheduler;
  const logger = options.logger ?? noopLogger;
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const idleMs = options.sessionIdleMs ?? 30 * 60_000;
  // Often enough that an idle session outlives its limit by at most a minute.
  const sweepEveryMs = Math.min(idleMs, 60_000);
  const responseMode = options.responseMode ?? "auto";
  const callTimeoutMs = options.callTimeoutMs ?? 60_000;
  const maxSessionsPerGrant = options.maxSessionsPerGrant ?? 100;
  const sseRetryMs = options.sseRetryMs ?? 1000;
  const throttle =
    options.authThrottle === false
      ? undefined
      : options.authThrottle instanceof AuthThrottle
        ? options.authThrottle
        : new AuthThrottle({ ...options.authThrottle, now });
  /** Initializes under way per grant: they count against the session cap too. */
  const initializing = new Map<string, number>();
  const toolTimeout = options.toolTimeoutMs ?? policyToolTimeout;
  const telemetry = Telemetry.create(options.tracer);
  const engine: PolicyEngineLike = createEngine({
    store: options.store,
    now,
    newId: options.newId,
    // Reservation spans need the store wrapped; without tracing the engine keeps its
    // synchronous in-process path.
    wrapStore: telemetry.live ? (s) => telemetry.traceStore(s) : undefined,
  });
  // Browsers send the serialized origin (lowercase host, no path, no default port); an
  // entry written as "http://LocalHost:6274/" must match it, so entries are serialized too.
  const allowed = options.allowedOrigins
    ? new Set(options.allowedOrigins.map((o) => new URL(o).origin))
    : undefined;
  // Entries were checked by validateOptions, so every one normalizes.
  const allowedHosts = options.allowedHosts
    ? new Set(options.allowedHosts.map((h) => normalizeHost(h) ?? h))
    : undefined;

  const configs = options.upstreams;
  const factories = configs.map((c) => transportFactory(c, scheduler));
  const health = new Map<string, { ok: boolean; detail?: string }>(
    configs.map((c) => [c.name, { ok: false, detail: "not connected yet" }]),
  );
  const sessions = new Map<string, ProxySession>();
  const sharedLinks = new Map<number, Promise<UpstreamLink>>();
  const watched = new WeakSet<object>();
  const unsubscribers: Array<() => void> = [];
  const sharedSet = new WeakSet<UpstreamLink>();
  let closing = false;
  let started: Promise<void> | undefined;
  let startDone = false;
  let sweepTimer: unknown;
  let drainWaiters: Array<() => void> = [];

  const apiKeys = options.apiKeys;
  const lookupKey =
    typeof apiKeys === "function"
      ? apiKeys
      : apiKeys
        ? (k: string) => (Object.hasOwn(apiKeys, k) ? apiKeys[k] : undefined)
        : () => undefined;

  // Identity stage (API key | OAuth access token | custom); see auth/authenticate.ts.
  const oauth = options.oauth ? createOAuthVerifier({ now, ...options.oauth }) : undefined;
  const authenticate = createAuthenticator({ lookupKey, identify: options.identify, oauth });

  function watch(holder: PolicyHolder): void {
    if (watched.has(holder)) return;
    watched.add(holder);
    unsubscribers.push(
      holder.subscribe((_next, prev) => {
        // Only sessions governed by this holder; the previous policy is their baseline
        // when their client has not listed tools yet.
        for (const s of sessions.values()) {
          if (sourceOf(s.grant, s.identity) === holder)
            void s.toolsMaybeChanged({ previousPolicy: prev });
        }
      }),
    );
  }

  function sourceOf(grant: string, identity?: Identity): PolicyHolder | CompiledPolicy | undefined {
    const src = options.policy;
    return typeof src === "function" ? src(grant, identity) : src;
  }

  function policyFor(identity: Identity): CompiledPolicy | undefined {
    const p = sourceOf(identity.grant, identity);
    if (!p) return undefined;
    if (isHolder(p)) {
      watch(p);
      return p.current;
    }
    return p as CompiledPolicy;
  }

  function newLink(i: number): UpstreamLink {
    const c = configs[i]!;
    return new UpstreamLink({
      name: c.name,
      factory: factories[i]!,
      // Stdio children and HTTP upstreams both come back after a crash; an in-process
      // server does not restart on its own.
      supervise: "command" in c || "url" in c,
      timeoutMs: c.timeoutMs ?? callTimeoutMs,
      onHealth: (ok, detail) => markHealth(c.name, ok, detail),
      scheduler,
      logger,
    });
  }

  function isSharedConfig(c: UpstreamConfig): boolean {
    return "server" in c && typeof c.server !== "function";
  }

  async function connectLink(
    i: number,
    initParams: Record<string, unknown>,
  ): Promise<UpstreamLink> {
    const c = configs[i]!;
    if (isSharedConfig(c)) {
      let p = sharedLinks.get(i);
      if (!p) {
        const link = newLink(i);
        sharedSet.add(link);
        // connect() already sent notifications/initialized: sessions never repeat it.
        p = link.connect(initParams).then(() => link);
        sharedLinks.set(i, p);
        p.catch(() => sharedLinks.delete(i));
      }
      return p;
    }
    const link = newLink(i);
    try {
      await link.connect(initParams);
    } catch (e) {
      await link.close();
      throw e;
    }
    return link;
  }

  function markHealth(name: string, ok: boolean, detail?: string): void {
    health.set(name, detail === undefined ? { ok } : { ok, detail });
  }

  const checkArguments = createArgumentValidator(logger);
  const validateArguments = options.validateArguments ?? false;
  const onDecision = options.onDecision;
  const toolCalls: ToolCallDeps = {
    async decide(identity, tool, args): Promise<Decision> {
      const policy = policyFor(identity);
      if (!policy) {
        throw new ToolgateMcpError("NO_POLICY", `no policy for grant ${identity.grant}`);
      }
      return engine.decide(policy, { name: tool, arguments: args }, identity);
    },
    approve(req): Promise<ApprovalOutcome> {
      if (options.approve) return options.approve(req);
      return Promise.resolve({ outcome: "rejected", reason: "no approver configured" });
    },
    validator: (exposed, target) =>
      validateArguments ? checkArguments(exposed, target.definition) : undefined,
    toolTimeoutMs(identity, tool) {
      const policy = policyFor(identity);
      return policy ? toolTimeout(policy, tool) : undefined;
    },
    // No hook, no events: they are not even built.
    onDecision: onDecision
      ? (e) => {
          try {
            onDecision(e);
          } catch (err) {
            logger.warn?.({ err: String(err) }, "onDecision hook threw");
          }
        }
      : undefined,
    approvalTimeoutMs: options.approvalTimeoutMs ?? 120_000,
    approvalProgressMs: options.approvalProgressMs ?? 5_000,
    now,
    newId,
    scheduler,
    logger,
    telemetry,
  };
  const ctx: SessionContext = {
    separator: options.separator ?? "__",
    namespace: options.namespace ?? "auto",
    listPageSize: options.listPageSize,
    now,
    logger,
    toolCalls,
    visible(identity, tools, at) {
      const policy = at ?? policyFor(identity);
      if (!policy) return new Set();
      return new Set(engine.visibleTools(policy, tools, identity).map((t) => t.name));
    },
    grantSessions(grant) {
      let n = 0;
      for (const s of sessions.values()) if (s.grant === grant) n++;
      return n;
    },
    onSessionLost(session) {
      if (sessions.get(session.id) === session) sessions.delete(session.id);
      logger.warn?.({ session: session.id }, "upstream connection lost; session ended");
      void session.close();
    },
    onSlotDone() {
      if (drainWaiters.length > 0 && inFlight() === 0) {
        const w = drainWaiters;
        drainWaiters = [];
        for (const f of w) f();
      }
    },
  };

  function inFlight(): number {
    let n = 0;
    for (const s of sessions.values()) n += s.inFlight;
    return n;
  }

  function mergeInit(
    results: Array<{ link: UpstreamLink; result: Record<string, unknown> }>,
  ): Record<string, unknown> {
    if (results.length === 1) {
      const r = results[0]!.result;
      const caps = (r.capabilities ?? {}) as Record<string, unknown>;
      if (!caps.tools) return r;
      return {
        ...r,
        capabilities: { ...caps, tools: { ...(caps.tools as object), listChanged: true } },
      };
    }
    const caps: Record<string, Record<string, unknown>> = {};
    const instructions: string[] = [];
    for (const { link, result } of results) {
      const c = (result.capabilities ?? {}) as Record<string, unknown>;
      for (const [k, v] of Object.entries(c)) {
        caps[k] = { ...(caps[k] ?? {}), ...(typeof v === "object" && v !== null ? v : {}) };
      }
      if (typeof result.instructions === "string")
        instructions.push(`[${link.name}] ${result.instructions}`);
    }
    if (caps.tools) caps.tools.listChanged = true;
    const merged: Record<string, unknown> = {
      protocolVersion: results[0]!.result.protocolVersion,
      capabilities: caps,
      serverInfo: { name: "toolgate", version: "0.1.0" },
    };
    if (instructions.length > 0) merged.instructions = instructions.join("\n\n");
    return merged;
  }

  async function initialize(
    msg: RpcMessage,
    identity: Identity,
    res: ServerResponse,
  ): Promise<void> {
    const rid = msg.id ?? null;
    if (!policyFor(identity)) {
      sendError(
        res,
        "NO_POLICY",
        `no policy is configured for grant ${identity.grant}`,
        undefined,
        rid,
      );
      return;
    }
    // Checked here, not by the upstreams: a bad initialize is the client's mistake, so it
    // must neither reach them nor count against their health (a refusal from every
    // upstream would otherwise read as "no upstream available" and fail /readyz).
    const checked = InitializeRequestParamsSchema.safeParse(msg.params);
    if (!checked.success) {
      const problems = checked.error.issues
        .map((i) => `${["params", ...i.path].join(".")}: ${i.message}`)
        .join("; ");
      sendError(res, "INVALID_PARAMS", `Invalid params: ${problems}`, undefined, msg.id ?? null);
      return;
    }
    if (!makeRoomFor(identity.grant)) {
      sendError(
        res,
        "SESSION_LIMIT",
        `Too many sessions: grant ${identity.grant} already has ${maxSessionsPerGrant} open sessions (maxSessionsPerGrant), all busy; close unused ones with DELETE /mcp or raise the cap`,
        undefined,
        rid,
      );
      return;
    }
    const params = msg.params ?? {};
    initializing.set(identity.grant, (initializing.get(identity.grant) ?? 0) + 1);
    let settled: Array<PromiseSettledResult<UpstreamLink>>;
    try {
      settled = await Promise.allSettled(configs.map((_c, i) => connectLink(i, params)));
    } finally {
      const left = (initializing.get(identity.grant) ?? 1) - 1;
      if (left > 0) initializing.set(identity.grant, left);
      else initializing.delete(identity.grant);
    }
    const results: Array<{ link: UpstreamLink; result: Record<string, unknown> }> = [];
    settled.forEach((s, i) => {
      const name = configs[i]!.name;
      if (s.status === "fulfilled") {
        markHealth(name, true);
        results.push({ link: s.value, result: s.value.initResult ?? {} });
      } else {
        const detail = errText(s.reason);
        markHealth(name, false, detail);
        logger.warn?.({ upstream: name, err: detail }, "upstream initialize failed");
      }
    });
    if (results.length === 0 || closing) {
      await Promise.all(results.filter((r) => !isShared(r.link)).map((r) => r.link.close()));
      // An initialize that arrived just before close() was called: the client must hear
      // that the gateway is going away (retry elsewhere), not that its upstreams failed.
      if (closing)
        sendError(res, "CLOSING", "Service Unavailable: gateway is shutting down", undefined, rid);
      else sendError(res, "UPSTREAM_FAILED", "no upstream MCP server is available", undefined, rid);
      return;
    }
    const sid = newId();
    const streams = new ClientStreams(sid, responseMode, undefined, sseRetryMs);
    const shared = new Set(results.map((r) => r.link).filter(isShared));
    const session = new ProxySession(
      sid,
      { ...identity, session: sid },
      streams,
      results.map((r) => r.link),
      shared,
      ctx,
    );
    session.clientCapabilities = (params.capabilities ?? {}) as Record<string, unknown>;
    sessions.set(sid, session);
    const body = JSON.stringify({ jsonrpc: "2.0", id: msg.id, result: mergeInit(results) });
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "mcp-session-id": sid,
    });
    res.end(body);
  }

  function isShared(link: UpstreamLink): boolean {
    return sharedSet.has(link);
  }

  /**
   * Keeps a grant under `maxSessionsPerGrant` before it opens one more: closes its least
   * recently used idle session (nothing in flight, no GET stream) when it is at the cap.
   * False when every session is busy, so the new one must be refused.
   */
  function makeRoomFor(grant: string): boolean {
    let open = initializing.get(grant) ?? 0;
    let oldest: ProxySession | undefined;
    for (const s of sessions.values()) {
      if (s.grant !== grant) continue;
      open++;
      if (s.inFlight === 0 && (!oldest || s.lastSeen < oldest.lastSeen)) oldest = s;
    }
    if (open < maxSessionsPerGrant) return true;
    if (!oldest) return false;
    sessions.delete(oldest.id);
    logger.info?.(
      { grant, session: oldest.id, cap: maxSessionsPerGrant },
      "session cap reached; closed the least recently used idle session",
    );
    void oldest.close();
    return true;
  }

  function lookupSession(
    req: IncomingMessage,
    res: ServerResponse,
    identity: Identity,
    id: RpcId | null = null,
  ): ProxySession | undefined {
    const sid = header(req, "mcp-session-id");
    if (!sid) {
      sendError(
        res,
        "SESSION_REQUIRED",
        "Bad Request: Mcp-Session-Id header is required; initialize first",
        undefined,
        id,
      );
      return undefined;
    }
    const s = sessions.get(sid);
    // A session belongs to one grant and, with OAuth, to one subject: another user of a
    // shared grant (client_id) cannot use it, even knowing its id.
    if (!s || s.closed || s.grant !== identity.grant || s.identity.sub !== identity.sub) {
      sendError(
        res,
        "SESSION_NOT_FOUND",
        "Session not found; initialize a new session",
        undefined,
        id,
      );
      return undefined;
    }
    // A newer token of the same subject may carry other claims or scopes: decide on those.
    if (identity.claims !== undefined && identity.claims !== s.identity.claims)
      s.identity = { ...identity, session: s.id };
    const pv = header(req, "mcp-protocol-version");
    if (pv !== undefined && !SUPPORTED.has(pv)) {
      sendError(
        res,
        "PROTOCOL_VERSION_UNSUPPORTED",
        `Bad Request: unsupported MCP-Protocol-Version ${pv} (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`,
        undefined,
        id,
      );
      return undefined;
    }
    s.lastSeen = now();
    return s;
  }

  async function handlePost(
    req: IncomingMessage,
    res: ServerResponse,
    identity: Identity,
  ): Promise<void> {
    // Both, named, as Streamable HTTP requires of clients and the MCP SDK's server checks:
    // in `auto` mode the answer may turn into SSE mid-call, which a client that takes only
    // JSON could not read. Wildcards (`*/*`, which fetch sends when no Accept is set) do
    // not count, so a missing header and a partial one are refused alike.
    const accept = header(req, "accept");
    // The exact value MCP clients send skips the parse (it runs on every call).
    const both =
      accept === "application/json, text/event-stream" ||
      (accepts(accept, "application/json", true) && accepts(accept, "text/event-stream", true));
    const notAcceptable = (id: RpcId | null = null): void =>
      sendError(
        res,
        "NOT_ACCEPTABLE",
        "Not Acceptable: Accept must list application/json and text/event-stream",
        undefined,
        id,
      );
    const jsonBody = isJsonContentType(header(req, "content-type"));
    // A wrong Accept is refused first; the body is read only to answer with its id.
    if (!both && !jsonBody) {
      notAcceptable();
      return;
    }
    if (!jsonBody) {
      sendError(
        res,
        "UNSUPPORTED_MEDIA_TYPE",
        "Unsupported Media Type: Content-Type must be application/json",
      );
      return;
    }
    let parsed: unknown;
    const pre = (req as { body?: unknown }).body;
    if (pre !== undefined && req.readableEnded) {
      parsed = pre;
    } else {
      const body = await readBody(req, maxBody);
      if (!body.ok) {
        // The client is gone: nobody to answer.
        if ("aborted" in body) return;
        res.setHeader("connection", "close");
        if (!both) notAcceptable();
        else sendError(res, "BODY_TOO_LARGE", `Payload Too Large: body exceeds ${maxBody} bytes`);
        return;
      }
      try {
        parsed = JSON.parse(body.text);
      } catch {
        if (!both) notAcceptable();
        else sendError(res, "PARSE_ERROR", "Parse error: body is not valid JSON");
        return;
      }
    }
    if (!both) {
      notAcceptable(readableId(parsed));
      return;
    }
    // The id, wherever it can be read, goes into every error answered from here on.
    const readId = readableId(parsed);
    if (Array.isArray(parsed)) {
      sendError(res, "INVALID_REQUEST", "Invalid Request: JSON-RPC batches are not supported");
      return;
    }
    // JSON.parse takes any depth, but re-serializing (to an HTTP or stdio upstream) and
    // the argument digest recurse: a deep enough body would fail them mid-call.
    if (nestedDeeperThan(parsed, MAX_JSON_DEPTH)) {
      sendError(
        res,
        "INVALID_REQUEST",
        `Invalid Request: JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
        undefined,
        readId,
      );
      return;
    }
    const kind = classify(parsed);
    if (!kind) {
      sendError(
        res,
        "INVALID_REQUEST",
        "Invalid Request: body is not a JSON-RPC 2.0 message",
        undefined,
        readId,
      );
      return;
    }
    const msg = parsed as RpcMessage;
    const id: RpcId | null = kind === "request" ? (msg.id as RpcId) : null;
    const problem = kind === "response" ? undefined : paramsProblem(msg.params);
    if (problem !== undefined) {
      sendError(res, "INVALID_PARAMS", `Invalid params: ${problem}`, undefined, id);
      return;
    }
    if (kind === "notification" && REQUEST_METHODS.has(msg.method as string)) {
      // A request method without an id (`tools/call`, `resources/read`, ...) is neither a
      // request (nothing may answer it) nor a notification: relaying it would run it
      // upstream with no decision. Refused as JSON-RPC says (-32600), and audited.
      const method = msg.method as string;
      const sid = header(req, "mcp-session-id");
      const refused: RefusedEvent = {
        grant: identity.grant,
        method,
        code: "request_as_notification",
        reason: `${method} is a request and needs an id; it was not forwarded`,
        at: now(),
      };
      if (sid !== undefined) refused.session = sid;
      try {
        options.onRefused?.(refused);
      } catch (err) {
        logger.warn?.({ err: String(err) }, "onRefused hook threw");
      }
      logger.warn?.(
        { grant: identity.grant, method },
        "request method sent as a notification; refused",
      );
      sendError(
        res,
        "INVALID_REQUEST",
        `Invalid Request: ${method} is a request and needs an id; it was not forwarded`,
      );
      return;
    }
    if (kind === "request" && msg.method === "initialize") {
      if (header(req, "mcp-session-id")) {
        sendError(
          res,
          "INVALID_REQUEST",
          "Invalid Request: session already initialized",
          undefined,
          id,
        );
        return;
      }
      const rt = telemetry.request(msg, req.headers, undefined, identity);
      try {
        await initialize(msg, identity, res);
      } finally {
        const failed = res.statusCode >= 400;
        rt?.end(
          failed
            ? { jsonrpc: "2.0", error: { code: res.statusCode, message: "initialize refused" } }
            : undefined,
        );
      }
      return;
    }
    const session = lookupSession(req, res, identity, id);
    if (!session) return;
    if (kind === "request") {
      session.handleRequest(
        msg,
        res,
        telemetry.request(msg, req.headers, session.id, session.identity),
      );
      return;
    }
    if (kind === "notification") session.handleNotification(msg);
    else session.handleResponse(msg);
    res.writeHead(202).end();
  }

  function handleGet(req: IncomingMessage, res: ServerResponse, identity: Identity): void {
    if (!accepts(header(req, "accept"), "text/event-stream", true)) {
      sendError(res, "NOT_ACCEPTABLE", "Not Acceptable: client must accept text/event-stream");
      return;
    }
    const session = lookupSession(req, res, identity);
    if (!session) return;
    const refused = session.streams.attach(res, header(req, "last-event-id"));
    if (refused) sendError(res, refused.code, refused.message);
  }

  async function handleDelete(
    req: IncomingMessage,
    res: ServerResponse,
    identity: Identity,
  ): Promise<void> {
    const session = lookupSession(req, res, identity);
    if (!session) return;
    sessions.delete(session.id);
    await session.close();
    res.writeHead(200).end();
  }

  function sweep(): void {
    const t = now();
    for (const s of sessions.values()) {
      if (s.inFlight === 0 && !s.streams.hasStandalone && t - s.lastSeen > idleMs) {
        sessions.delete(s.id);
        void s.close();
      }
    }
    sweepTimer = scheduler.setTimeout(sweep, sweepEveryMs);
  }

  async function start(): Promise<void> {
    if (!started) {
      started = (async () => {
        sweepTimer = scheduler.setTimeout(sweep, sweepEveryMs);
        // Keys loaded in the background so the first token is not slower; an authorization
        // server that is down must not hold up start-up (verification retries on use).
        if (oauth) void oauth.warm();
        const probe = {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: "toolgate-probe", version: "0.1.0" },
        };
        await Promise.all(
          configs.map(async (c, i) => {
            try {
              const link = await connectLink(i, probe);
              if (!isShared(link)) await link.close();
              markHealth(c.name, true);
            } catch (e) {
              markHealth(c.name, false, errText(e));
              logger.warn?.({ upstream: c.name, err: String(e) }, "upstream probe failed");
            }
          }),
        );
        startDone = true;
      })();
    }
    return started;
  }

  /** The whole endpoint on plain Node request/response objects (Express optional). */
  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      // First of all: a request for another host name (a DNS-rebinding page) learns
      // nothing, not even whether its credential or session would have worked.
      if (allowedHosts && !hostAllowed(header(req, "host"), allowedHosts)) {
        sendError(res, "HOST_FORBIDDEN", "Forbidden: Host not allowed");
        return;
      }
      if (closing) {
        sendError(res, "CLOSING", "Service Unavailable: gateway is shutting down");
        return;
      }
      const origin = header(req, "origin");
      if (origin !== undefined) {
        if (!(allowed ? allowed.has(origin) : isLoopbackOrigin(origin))) {
          sendError(res, "ORIGIN_FORBIDDEN", "Forbidden: Origin not allowed");
          return;
        }
        // CORS only for origins the operator listed: browsers may then read the session
        // id and protocol version, which an MCP client in a web page needs.
        if (allowed) {
          res.setHeader("access-control-allow-origin", origin);
          res.setHeader("access-control-expose-headers", CORS_EXPOSE);
          // Appended, not replaced: the app may vary on other headers too.
          const vary = res.getHeader("vary");
          res.setHeader("vary", vary ? `${String(vary)}, Origin` : "Origin");
        }
      }
      if (req.method === "OPTIONS") {
        // Before identify: a preflight never carries the API key.
        const headers: Record<string, string> = { allow: ALLOW };
        if (allowed && origin !== undefined) {
          headers["access-control-allow-methods"] = ALLOW;
          headers["access-control-allow-headers"] = CORS_ALLOW_HEADERS;
          headers["access-control-max-age"] = "600";
        }
        res.writeHead(204, headers).end();
        return;
      }
      const address = req.socket?.remoteAddress ?? "unknown";
      const wait = throttle?.blockedFor(address) ?? 0;
      if (wait > 0) {
        // Before the credential is looked at: a blocked guess learns nothing.
        sendError(
          res,
          "AUTH_THROTTLED",
          `Too Many Requests: too many failed authentications from this address; retry in ${Math.ceil(wait / 1000)} s`,
          { "retry-after": String(Math.ceil(wait / 1000)) },
        );
        return;
      }
      // Identity stage: a refusal carries its status and WWW-Authenticate challenge.
      const found = authenticate(req);
      const auth = found instanceof Promise ? await found : found;
      if (auth.ok) throttle?.succeeded(address);
      // Only a wrong credential counts as a guess (not a missing scope or an issuer outage).
      else if (auth.code === "UNAUTHORIZED") throttle?.failed(address);
      if (!auth.ok) {
        sendAuthRefusal(res, auth);
        return;
      }
      const identity = auth.identity;
      // start() is optional: the first request runs it (probes + idle sweep).
      if (!startDone) await start();
      switch (req.method) {
        case "POST":
          await handlePost(req, res, identity);
          return;
        case "GET":
          handleGet(req, res, identity);
          return;
        case "DELETE":
          await handleDelete(req, res, identity);
          return;
        default:
          sendError(res, "METHOD_NOT_ALLOWED", "Method Not Allowed", { allow: ALLOW });
      }
    } catch (e) {
      logger.error?.({ err: errText(e) }, "toolgate handler failed");
      if (!res.headersSent) sendError(res, "UPSTREAM_FAILED", "internal gateway error");
      else if (!res.writableEnded) res.end();
    }
  }

  const handler: RequestHandler = function toolgateMcpHandler(
    req: Request,
    res: Response,
    _next: NextFunction,
  ): Promise<void> {
    return serve(req, res);
  };

  return {
    handler,
    listener: function toolgateMcpListener(req, res) {
      void serve(req, res);
    },
    start,
    async close(opts) {
      if (closing) return;
      closing = true;
      if (sweepTimer !== undefined) scheduler.clearTimeout(sweepTimer);
      for (const u of unsubscribers.splice(0)) u();
      const grace = opts?.graceMs ?? 5_000;
      if (inFlight() > 0) {
        await new Promise<void>((resolve) => {
          const t = scheduler.setTimeout(resolve, grace);
          drainWaiters.push(() => {
            scheduler.clearTimeout(t);
            resolve();
          });
        });
      }
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.all(all.map((s) => s.close()));
      const shared = await Promise.allSettled(sharedLinks.values());
      await Promise.all(
        shared.map((s) => (s.status === "fulfilled" ? s.value.close() : undefined)),
      );
    },
    upstreamHealth() {
      return configs.map((c) => {
        const h = health.get(c.name) ?? { ok: false };
        return h.detail === undefined
          ? { name: c.name, ok: h.ok }
          : { name: c.name, ok: h.ok, detail: h.detail };
      });
    },
    sessions() {
      return [...sessions.values()].map((s) => ({
        id: s.id,
        grant: s.grant,
        createdAt: s.createdAt,
      }));
    },
    async notifyToolsChanged(grant, opts) {
      const o = opts?.force ? { force: true } : {};
      const checks: Array<Promise<void>> = [];
      for (const s of sessions.values()) {
        if (grant === undefined || s.grant === grant) checks.push(s.toolsMaybeChanged(o));
      }
      await Promise.all(checks);
    },
    inFlight,
    oauth,
    serveOAuthMetadata(req, res) {
      return oauth !== undefined && serveOAuthMetadata(oauth, req, res);
    },
  };
}
