import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { realScheduler, silentLogger } from "@toolgate/policy-engine";
import { expressHandler, type McpRequestHandler } from "./adapters/express.js";
import { type McpRequestListener, nodeListener } from "./adapters/node.js";
import { serveOAuthMetadata } from "./auth/authenticate.js";
import { createOAuthVerifier, type OAuthVerifier } from "./auth/oauth.js";
import { guarded, mrtrDeps, type Seams, serveOptions, sessionContext } from "./compose.js";
import { createEngine } from "./engine.js";
import type { FrontContext } from "./front/context.js";
import { createServe } from "./front/serve.js";
import { ModernFront } from "./modern/front.js";
import type { Logger, ToolgateMcpOptions } from "./options.js";
import { validateOptions } from "./options-schema.js";
import { PinWatch } from "./pin-watch.js";
import { createMemoryPinStore, PinGuard } from "./pins.js";
import { PolicyView } from "./policy-view.js";
import { SessionTable } from "./session-table.js";
import { Telemetry } from "./telemetry.js";
import { type UpstreamHealth, UpstreamPool } from "./upstream-pool.js";

/** The gateway handle returned by {@link createToolgateMcp}. */
export interface ToolgateMcp {
  /** Mount with `app.all("/mcp", gw.handler)`; parses its own body. */
  handler: McpRequestHandler;
  /**
   * The same endpoint as a plain Node request listener, for `http.createServer` or to
   * route `/mcp` before Express: skips the framework's per-request work (measurably
   * cheaper per call; see the README). `identify` then receives the `IncomingMessage`.
   *
   * @example
   * createServer((req, res) => (req.url?.startsWith("/mcp") ? gw.listener(req, res) : app(req, res)));
   */
  listener: McpRequestListener;
  /** Probes the upstreams (health) and starts the idle-session sweep. Call before listen. */
  start(): Promise<void>;
  /** Stops accepting, waits up to `graceMs` (default 5000) for in-flight calls, closes all. */
  close(opts?: { graceMs?: number }): Promise<void>;
  /** Last known state of each upstream. */
  upstreamHealth(): UpstreamHealth[];
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
  const seams = seamsOf(options);
  const { now, scheduler, logger, telemetry } = seams;
  const engine = createEngine({
    store: options.store,
    now,
    newId: options.newId,
    // Reservation spans need the store wrapped; without tracing the engine keeps its
    // synchronous in-process path.
    wrapStore: telemetry.live ? (s) => telemetry.traceStore(s) : undefined,
  });
  const sessions = new SessionTable({
    now,
    scheduler,
    logger,
    idleMs: options.sessionIdleMs ?? 30 * 60_000,
    maxPerGrant: options.maxSessionsPerGrant ?? 100,
  });
  // A reload reaches only the sessions governed by that holder; the previous policy is
  // their baseline when their client has not listed tools yet.
  const policies: PolicyView = new PolicyView(options.policy, (holder, prev) => {
    for (const s of sessions.values()) {
      if (policies.sourceOf(s.grant, s.identity) === holder)
        void s.toolsMaybeChanged({ previousPolicy: prev });
    }
  });
  const pins = new PinGuard(
    options.pinStore ?? createMemoryPinStore(),
    guarded(options.onPinEvent, logger, "onPinEvent"),
    logger,
    now,
  );
  const pool = new UpstreamPool(options.upstreams, {
    scheduler,
    logger,
    callTimeoutMs: options.callTimeoutMs ?? 60_000,
    tools: pinWatch(options, pins, policies, logger),
  });
  const session = sessionContext(options, engine, policies, sessions, seams, pins);
  let closing = false;
  const onRefused = guarded(options.onRefused, logger, "onRefused");
  const front: FrontContext = {
    ...seams,
    sessions,
    pool,
    session,
    responseMode: options.responseMode ?? "auto",
    sseRetryMs: options.sseRetryMs ?? 1000,
    maxBodyBytes: options.maxBodyBytes ?? 4 * 1024 * 1024,
    maxSessionsPerGrant: options.maxSessionsPerGrant ?? 100,
    policyFor: (identity) => policies.policyFor(identity),
    mrtr: mrtrDeps(options, seams),
    closing: () => closing,
    onRefused: (e) => onRefused?.(e),
  };
  front.modern = new ModernFront(front, {
    idleMs: options.heldSessionIdleMs ?? 5 * 60_000,
    max: options.maxHeldSessions ?? 1000,
    scheduler,
  });
  const oauth = options.oauth
    ? createOAuthVerifier({
        now,
        onKeyError: (err) => logger.warn?.({ err }, "OAuth signing keys could not be loaded"),
        ...options.oauth,
      })
    : undefined;
  const { start, pending } = starter(sessions, pool, oauth);
  const serve = createServe(front, serveOptions(options, oauth, pending));
  return handle(serve, start, sessions, pool, oauth, async (graceMs) => {
    if (closing) return;
    closing = true;
    policies.close();
    await sessions.close(graceMs);
    await front.modern?.close();
    await pool.close();
  });
}

/**
 * The gateway's own pin check of its upstreams' tools (start-up, restarts), for the
 * grants of `pinCheckGrants`; wanted only while one of their policies uses pins.
 */
function pinWatch(
  options: ToolgateMcpOptions,
  pins: PinGuard,
  policies: PolicyView,
  logger: Logger,
) {
  const grants = options.pinCheckGrants ?? (typeof options.policy === "function" ? [] : ["*"]);
  if (grants.length === 0) return undefined;
  const watch = new PinWatch({
    pins,
    policies,
    grants,
    upstreams: options.upstreams.map((u) => u.name),
    namespace: options.namespace ?? "auto",
    separator: options.separator ?? "__",
    logger,
  });
  return {
    wanted: () => grants.some((grant) => policies.policyFor({ grant })?.pinSettings !== undefined),
    seen: (upstream: string, tools: ReadonlyArray<Record<string, unknown>>) =>
      watch.seen(upstream, tools),
  };
}

/** The injected seams with their defaults, and the tracer's telemetry. */
function seamsOf(options: ToolgateMcpOptions): Seams {
  return {
    now: options.now ?? Date.now,
    newId: options.newId ?? randomUUID,
    scheduler: options.scheduler ?? realScheduler,
    logger: options.logger ?? silentLogger,
    telemetry: Telemetry.create(options.tracer),
  };
}

/**
 * `start` runs once (later calls share it); `pending` is the start still under way, or
 * undefined once done, so a request arriving first waits for it.
 */
function starter(sessions: SessionTable, pool: UpstreamPool, oauth: OAuthVerifier | undefined) {
  let started: Promise<void> | undefined;
  let startDone = false;
  function start(): Promise<void> {
    started ??= (async () => {
      sessions.startSweep();
      // Keys loaded in the background so the first token is not slower; an authorization
      // server that is down must not hold up start-up (verification retries on use).
      if (oauth) void oauth.warm();
      await pool.probe();
      startDone = true;
    })();
    return started;
  }
  return { start, pending: () => (startDone ? undefined : start()) };
}

/** The public handle over the parts. */
function handle(
  serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  start: () => Promise<void>,
  sessions: SessionTable,
  pool: UpstreamPool,
  oauth: OAuthVerifier | undefined,
  close: (graceMs: number) => Promise<void>,
): ToolgateMcp {
  return {
    handler: expressHandler(serve),
    listener: nodeListener(serve),
    start,
    close: (opts) => close(opts?.graceMs ?? 5_000),
    upstreamHealth: () => pool.upstreamHealth(),
    sessions: () =>
      [...sessions.values()].map((s) => ({ id: s.id, grant: s.grant, createdAt: s.createdAt })),
    async notifyToolsChanged(grant, opts) {
      const o = opts?.force ? { force: true } : {};
      const checks: Array<Promise<void>> = [];
      for (const s of sessions.values()) {
        if (grant === undefined || s.grant === grant) checks.push(s.toolsMaybeChanged(o));
      }
      await Promise.all(checks);
    },
    inFlight: () => sessions.inFlight(),
    oauth,
    serveOAuthMetadata: (req: IncomingMessage, res: ServerResponse) =>
      oauth !== undefined && serveOAuthMetadata(oauth, req, res),
  };
}
