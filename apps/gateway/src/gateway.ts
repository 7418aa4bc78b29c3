import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { UpstreamConfig } from "@toolgate/mcp-express";
import {
  AuthThrottle,
  createOAuthVerifier,
  normalizeHost,
  type OAuthVerifier,
  type ToolgateMcp,
} from "@toolgate/mcp-express";
import type { MeteredCounterStore, PolicyHolder } from "@toolgate/policy-engine";
import { createCounterStore } from "@toolgate/rate-limit-store";
import express, { type Express, type Router } from "express";
import { type CounterView, createAdminRouter } from "./admin.js";
import { chooseApprovalBackend } from "./approvals/backends.js";
import { type ApprovalLifecycle, createApprovalLifecycle } from "./approvals/events.js";
import { sweepExpired } from "./approvals/retry.js";
import type { ApprovalStore } from "./approvals/store.js";
import { createApproverSessions } from "./approver-sessions.js";
import { AuditLog } from "./audit.js";
import { DEFAULT_POLICY_PATH, type LoadedConfig, mcpAllowedHosts } from "./config.js";
import { DecisionFeed } from "./feed.js";
import { guardrailParts } from "./guardrail-parts.js";
import { type GatewayHttp, startHttpServer } from "./http-server.js";
import { createLogger, type Logger } from "./logger.js";
import { createMcpEndpoint } from "./mcp-endpoint.js";
import { createGatewayMetrics, type GatewayMetrics, webhookMetricsSink } from "./metrics.js";
import {
  auditObserver,
  type DecisionObserver,
  fanOut,
  feedObserver,
  metricsObserver,
} from "./observers.js";
import { loadPolicies, reloadPolicyFile, watchPolicyFiles } from "./policies.js";
import { Cleanups, type Runtime } from "./runtime.js";
import { createStudio } from "./studio/index.js";
import { type GatewayTracing, startTracing } from "./tracing.js";
import { type BuiltinFactory, startUpstreams } from "./upstreams.js";
import { type ApprovalWebhooks, createApprovalWebhooks } from "./webhooks/index.js";

export type { BuiltinFactory, BuiltinUpstream } from "./upstreams.js";

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  /** The loaded config (see `loadGatewayConfig`). */
  readonly loaded: LoadedConfig;
  readonly logger?: Logger;
  readonly env?: Record<string, string | undefined>;
  /** Starts `builtin:` upstreams. Without it a config naming one fails at start-up. */
  readonly builtins?: BuiltinFactory;
  /** Extra upstreams (e.g. an in-process McpServer), added after the configured ones. */
  readonly extraUpstreams?: readonly UpstreamConfig[];
  readonly now?: () => number;
  readonly newId?: () => string;
  /** Listen on this instead of `config.listen` (tests). */
  readonly listen?: { readonly host: string; readonly port: number };
}

/** A running gateway. */
export interface RunningGateway {
  readonly url: string;
  readonly mcpUrl: string;
  readonly adminUrl: string;
  readonly port: number;
  readonly app: Express;
  readonly server: Server;
  readonly mcp: ToolgateMcp;
  readonly metrics: GatewayMetrics;
  readonly approvals: ApprovalStore;
  /**
   * Approval lifecycle events (`approval.requested` / `approval.decided` /
   * `approval.expired`), each emitted once by the instance that made the change, with
   * arguments masked as approvers see them: subscribe with `approvalEvents.on(listener)`.
   */
  readonly approvalEvents: ApprovalLifecycle;
  readonly store: MeteredCounterStore;
  readonly feed: DecisionFeed;
  readonly logger: Logger;
  /** Builtin descriptions for the banner. */
  readonly notes: readonly string[];
  /** Policies by file, for reload tests and the admin counters. */
  readonly policies: ReadonlyMap<string, PolicyHolder>;
  /** Reloads one policy file now (the watcher calls this); resolves true when applied. */
  reloadPolicy(path: string): Promise<boolean>;
  /** Stops accepting, drains in-flight calls within the grace period, closes everything. */
  close(): Promise<void>;
}

/**
 * The state behind decisions: counter store, approvals (backend chosen by config or the
 * counter store's type), the decision feed (shared when the backend can), the audit log,
 * metrics, and the observers that fan each decision out to them.
 */
function createStateParts(rt: Runtime, mcpRef: () => ToolgateMcp | undefined) {
  const { config } = rt.loaded;
  const store = createCounterStore(config.store, { now: rt.now });
  rt.cleanups.add(() => store.close());
  const { backend, location } = chooseApprovalBackend(config.approvals.store, config.store);
  const approvals = backend.create(location, { now: rt.now });
  rt.cleanups.add(() => approvals.close());
  const lifecycle = createApprovalLifecycle();
  // On a shared backend a page signed in through one instance works through all.
  const sessionRuntime = { now: rt.now, ttlMs: config.approvals.sessionTtlMs };
  const sessions =
    backend.sessions?.(location, sessionRuntime) ?? createApproverSessions(sessionRuntime);
  rt.cleanups.add(async () => sessions.close?.());
  rt.cleanups.add(startExpirySweep(rt, approvals, lifecycle));
  let webhooks: ApprovalWebhooks | undefined;
  const metrics = createGatewayMetrics({
    pendingApprovals: async () => (await approvals.listPending()).length,
    webhookQueue: () => webhooks?.dispatcher.size() ?? 0,
    // The MCP endpoint is created after the metrics it reports into; these read it at
    // scrape time.
    sessions: () => mcpRef()?.sessions().length ?? 0,
    inFlight: () => mcpRef()?.inFlight() ?? 0,
    storeStats: () => store.stats(),
  });
  webhooks = createApprovalWebhooks({
    webhooks: config.webhooks,
    now: rt.now,
    metrics: webhookMetricsSink(metrics),
    logger: rt.logger,
  });
  rt.cleanups.add(() => webhooks?.close());
  // Each approval transition made through this instance is announced to the webhooks once.
  rt.cleanups.add(webhooks.listen(lifecycle));
  const feed = new DecisionFeed(200);
  // Where the backend is shared, every instance's page shows the decisions of all.
  const sharedFeed = backend.shareFeed?.(feed, location, randomUUID());
  if (sharedFeed) rt.cleanups.add(() => sharedFeed.close());
  const audit = config.audit.enabled
    ? new AuditLog({
        path: config.audit.path,
        maxBytes: config.audit.maxBytes,
        keep: config.audit.keep,
        flush: config.audit.flush,
        onError: (err, lost) =>
          rt.logger.error({ err: err.message, lost }, "audit records could not be written"),
      })
    : undefined;
  if (audit) rt.cleanups.add(() => audit.close());
  const guardrails = guardrailParts(rt, metrics.registry, audit, location);
  const observers: DecisionObserver[] = [metricsObserver(metrics, rt.logger)];
  if (audit) observers.push(auditObserver(audit));
  observers.push(feedObserver(sharedFeed ?? feed), guardrails.observer);
  return {
    store,
    approvals,
    lifecycle,
    sessions,
    metrics,
    feed,
    feedShared: sharedFeed !== undefined,
    audit,
    guardrails,
    decisions: fanOut(observers, rt),
  };
}

type StateParts = ReturnType<typeof createStateParts>;

/** How often approvals nobody waits on (retry mode, dead holders) are checked for expiry. */
const EXPIRY_SWEEP_MS = 5_000;

/** Expires lapsed approvals on a timer, so `approval.expired` fires without a retry. */
function startExpirySweep(
  rt: Runtime,
  approvals: ApprovalStore,
  lifecycle: ApprovalLifecycle,
): () => void {
  const timer = setInterval(() => {
    sweepExpired({ store: approvals, now: rt.now, lifecycle }).catch((err: unknown) =>
      rt.logger.warn({ err: (err as Error).message }, "approval expiry sweep failed"),
    );
  }, EXPIRY_SWEEP_MS);
  timer.unref?.();
  return () => clearInterval(timer);
}

/** Verifies approvers' OAuth access tokens, when some approver is identified by subject. */
function approverOAuth(rt: Runtime, resourceUrl: () => string): OAuthVerifier | undefined {
  const { oauth, approvers } = rt.loaded;
  if (!oauth || !approvers.some((a) => a.oauthSubject !== undefined)) return undefined;
  return createOAuthVerifier({
    issuer: oauth.issuer,
    jwksUri: oauth.jwksUri,
    resource: () => oauth.resource ?? resourceUrl(),
    audience: oauth.audience,
    grantClaim: oauth.grantClaim,
    algorithms: oauth.algorithms,
    clockToleranceSec: oauth.clockToleranceSec,
    jwksCooldownMs: oauth.jwksCooldownMs,
    jwksMaxAgeMs: oauth.jwksMaxAgeMs,
    now: rt.now,
  });
}

/** The admin page's view of each grant's counters, through the engine's limit view. */
function counterView(
  loaded: LoadedConfig,
  holderOf: ReadonlyMap<string, PolicyHolder | undefined>,
  store: MeteredCounterStore,
): () => Promise<CounterView[]> {
  return async () => {
    const out: CounterView[] = [];
    for (const g of loaded.grants) {
      const holder = holderOf.get(g.name);
      if (!holder) continue;
      const limits = holder.current
        .limitCounters({ grant: g.name })
        .filter((l) => l.scope === "grant");
      if (limits.length === 0) continue;
      const states = await store.peek(limits);
      limits.forEach((l, i) => {
        const s = states[i];
        out.push({
          grant: g.name,
          counter: l.counter,
          used: s?.used ?? 0,
          max: l.max,
          resetAtMs: s?.resetAtMs ?? 0,
        });
      });
    }
    return out;
  };
}

/**
 * The approvals page and admin API, with the policy studio: its API rides behind the
 * admin token (`extraApi`), its page is static, and it publishes through the same reload
 * path as the file watcher.
 */
function adminSurface(
  rt: Runtime,
  parts: StateParts & {
    readonly policies: Map<string, PolicyHolder>;
    readonly holderOf: ReadonlyMap<string, PolicyHolder | undefined>;
    readonly upstreams: readonly UpstreamConfig[];
    readonly authThrottle: AuthThrottle;
    readonly reloadPolicy: (path: string) => Promise<boolean>;
    readonly resourceUrl: () => string;
  },
): { readonly admin: Router; readonly pages: Router } {
  const { loaded, now, logger } = rt;
  const counters = counterView(loaded, parts.holderOf, parts.store);
  const studio = createStudio({
    grants: loaded.grants,
    policies: parts.policies,
    upstreams: parts.upstreams,
    store: parts.store,
    counters,
    reloadPolicy: parts.reloadPolicy,
    audit: parts.audit,
    readOnlyPolicies: new Set([DEFAULT_POLICY_PATH]),
    now,
    logger,
  });
  const admin = createAdminRouter({
    approvals: parts.approvals,
    token: loaded.adminToken,
    approvers: loaded.approvers,
    sessions: parts.sessions,
    oauth: approverOAuth(rt, parts.resourceUrl),
    lifecycle: parts.lifecycle,
    policyOf: (grant) => loaded.grants.find((g) => g.name === grant)?.policyPath,
    throttle: parts.authThrottle,
    feed: parts.feed,
    feedScope: parts.feedShared ? "all instances (since this one started)" : "this instance",
    counters,
    now,
    extraApi: express.Router().use(studio.api, parts.guardrails.api),
  });
  return { admin, pages: studio.pages };
}

/** Tracing from the standard OTEL_* environment; undefined (and free) when not set. */
function startGatewayTracing(rt: Runtime): GatewayTracing | undefined {
  const tracing = startTracing(rt.env);
  if (tracing) {
    rt.cleanups.add(() => tracing.shutdown());
    rt.logger.info({ traces: tracing.describe }, "OpenTelemetry tracing on");
  }
  return tracing;
}

/**
 * Composes the packages into a running gateway: policies (watched), the counter store,
 * approvals, upstreams, `/mcp`, `/admin`, `/metrics`, `/healthz`, `/readyz`, the audit log.
 * Resolves once it listens.
 *
 * @example
 * const gw = await startGateway({ loaded: loadGatewayConfig({}), builtins: binanceBuiltin });
 * console.log(gw.mcpUrl);
 * process.on("SIGTERM", () => gw.close().then(() => process.exit(0)));
 */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger();
  const rt: Runtime = {
    loaded: options.loaded,
    env: options.env ?? process.env,
    logger,
    now: options.now ?? Date.now,
    newId: options.newId ?? randomUUID,
    cleanups: new Cleanups(logger),
  };
  try {
    return await compose(rt, options);
  } catch (err) {
    await rt.cleanups.run();
    throw err;
  }
}

async function compose(rt: Runtime, options: GatewayOptions): Promise<RunningGateway> {
  const { loaded, logger, now } = rt;
  const { config } = loaded;
  const policies = await loadPolicies(loaded);
  const holderOf = new Map(loaded.grants.map((g) => [g.name, policies.get(g.policyPath)]));
  let mcpRef: ToolgateMcp | undefined;
  const parts = createStateParts(rt, () => mcpRef);
  const tracing = startGatewayTracing(rt);
  const { upstreams, notes } = await startUpstreams({
    entries: config.upstreams,
    builtins: options.builtins,
    extra: options.extraUpstreams,
    env: rt.env,
    logger,
    onCleanup: (c) => rt.cleanups.add(c),
    onReconnect: (stream) => parts.metrics.streamReconnects.inc({ stream }),
  });
  // One throttle for /mcp and the admin API: guesses at either count together.
  const authThrottle = new AuthThrottle({ ...config.authThrottle, now });
  const listen = options.listen ?? config.listen;
  const allowedHosts = mcpAllowedHosts(listen.host, config.allowedHosts);
  let resourceUrl = "";
  const mcp = createMcpEndpoint(rt, {
    ...parts,
    upstreams,
    policies,
    holderOf,
    authThrottle,
    allowedHosts,
    tracing,
    resourceUrl: () => resourceUrl,
  });
  mcpRef = mcp;
  rt.cleanups.add(() => mcp.close({ graceMs: config.shutdownGraceMs }));
  await mcp.start();

  const reloadPolicy = (path: string) => reloadPolicyFile(policies, path, logger);
  rt.cleanups.add(
    watchPolicyFiles(policies.keys(), {
      debounceMs: config.watchDebounceMs,
      reload: reloadPolicy,
      logger,
      auditPath: config.audit.enabled ? config.audit.path : undefined,
    }),
  );
  const http = await startHttpServer({
    ...parts,
    mcp,
    ...adminSurface(rt, {
      ...parts,
      policies,
      holderOf,
      upstreams,
      authThrottle,
      reloadPolicy,
      resourceUrl: () => resourceUrl,
    }),
    logger,
    listen,
    timeouts: config.httpTimeouts,
    adminHosts: allowedHosts ? new Set(allowedHosts.map((h) => normalizeHost(h) ?? h)) : undefined,
  });
  resourceUrl = `${http.url}/mcp`;
  logger.info(
    { url: http.url, store: parts.store.name, upstreams: upstreams.map((u) => u.name) },
    "toolgate listening",
  );

  return running(rt, { ...parts, mcp, http, notes, policies, reloadPolicy });
}

/**
 * The handle of a started gateway. `close` stops accepting first: the listener stays
 * open while in-flight calls drain, so a request that races the shutdown (new
 * connection or kept-alive one) is answered 503 "shutting down" with
 * `Connection: close`, never a refused connection or a reset socket.
 */
function running(
  rt: Runtime,
  parts: StateParts & {
    readonly mcp: ToolgateMcp;
    readonly http: GatewayHttp;
    readonly notes: string[];
    readonly policies: ReadonlyMap<string, PolicyHolder>;
    readonly reloadPolicy: (path: string) => Promise<boolean>;
  },
): RunningGateway {
  const { http, logger } = { ...parts, logger: rt.logger };
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      http.stopAccepting();
      await rt.cleanups.run(); // mcp.close drains in-flight calls within the grace period
      await http.close();
      logger.info({}, "toolgate stopped");
    })();
    return closing;
  };
  return {
    url: http.url,
    mcpUrl: `${http.url}/mcp`,
    adminUrl: `${http.url}/admin`,
    port: http.port,
    app: http.app,
    server: http.server,
    mcp: parts.mcp,
    metrics: parts.metrics,
    approvals: parts.approvals,
    approvalEvents: parts.lifecycle,
    store: parts.store,
    feed: parts.feed,
    logger,
    notes: parts.notes,
    policies: parts.policies,
    reloadPolicy: parts.reloadPolicy,
    close,
  };
}
