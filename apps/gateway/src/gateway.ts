import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { UpstreamConfig } from "@toolgate/mcp-express";
import {
  AuthThrottle,
  createToolgateMcp,
  normalizeHost,
  type ToolgateMcp,
} from "@toolgate/mcp-express";
import type { Identity, MeteredCounterStore, PolicyHolder } from "@toolgate/policy-engine";
import { createCounterStore } from "@toolgate/rate-limit-store";
import type { Express } from "express";
import { type CounterView, createAdminRouter } from "./admin.js";
import { approvalHoldCeilingMs, createApprover } from "./approvals/approver.js";
import { chooseApprovalBackend } from "./approvals/backends.js";
import type { ApprovalStore } from "./approvals/store.js";
import { AuditLog } from "./audit.js";
import { DEFAULT_POLICY_PATH, type LoadedConfig, mcpAllowedHosts } from "./config.js";
import { DecisionFeed } from "./feed.js";
import { startHttpServer } from "./http-server.js";
import { createLogger, type Logger } from "./logger.js";
import { sha256Hex } from "./mask.js";
import { createGatewayMetrics, type GatewayMetrics } from "./metrics.js";
import { oauthPolicyChooser } from "./oauth.js";
import {
  auditObserver,
  type DecisionObserver,
  fanOut,
  feedObserver,
  metricsObserver,
} from "./observers.js";
import { loadPolicies, reloadPolicyFile, watchPolicyFiles } from "./policies.js";
import { createStudio } from "./studio/index.js";
import { type GatewayTracing, startTracing } from "./tracing.js";
import { type BuiltinFactory, startUpstreams } from "./upstreams.js";

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

/** What is closed at shutdown (or when start-up fails), in reverse order of opening. */
class Cleanups {
  readonly #steps: Array<() => Promise<void> | void> = [];
  constructor(private readonly logger: Logger) {}
  add(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, "error while shutting down");
      }
    }
  }
}

/** The seams every part of one gateway shares. */
interface Runtime {
  readonly loaded: LoadedConfig;
  readonly env: Record<string, string | undefined>;
  readonly logger: Logger;
  readonly now: () => number;
  readonly newId: () => string;
  readonly cleanups: Cleanups;
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
  const metrics = createGatewayMetrics({
    pendingApprovals: async () => (await approvals.listPending()).length,
    // The MCP endpoint is created after the metrics it reports into; these read it at
    // scrape time.
    sessions: () => mcpRef()?.sessions().length ?? 0,
    inFlight: () => mcpRef()?.inFlight() ?? 0,
    storeStats: () => store.stats(),
  });
  const feed = new DecisionFeed(200);
  // Where the backend is shared, every instance's page shows the decisions of all.
  const sharedFeed = backend.shareFeed?.(feed, location, randomUUID());
  if (sharedFeed) rt.cleanups.add(() => sharedFeed.close());
  const audit = config.audit.enabled
    ? new AuditLog({
        path: config.audit.path,
        maxBytes: config.audit.maxBytes,
        keep: config.audit.keep,
      })
    : undefined;
  if (audit) rt.cleanups.add(() => audit.close());
  const observers: DecisionObserver[] = [metricsObserver(metrics, rt.logger)];
  if (audit) observers.push(auditObserver(audit));
  observers.push(feedObserver(sharedFeed ?? feed));
  return {
    store,
    approvals,
    metrics,
    feed,
    feedShared: sharedFeed !== undefined,
    audit,
    decisions: fanOut(observers, rt),
  };
}

type StateParts = ReturnType<typeof createStateParts>;

/** The approver mcp-express calls for held calls, with the config's masking and timeout. */
function createGatewayApprover(
  rt: Runtime,
  approvals: ApprovalStore,
  holderOf: ReadonlyMap<string, PolicyHolder | undefined>,
) {
  const { approvals: cfg } = rt.loaded.config;
  if (cfg.callerMayApprove) {
    rt.logger.warn(
      { setting: "approvals.callerMayApprove" },
      "approvals.callerMayApprove is on: a caller may approve its own held calls through elicitation (only while its grant has a single session). Use it only for a trusted single-user desktop setup.",
    );
  }
  return createApprover({
    store: approvals,
    timeoutMs: cfg.timeoutMs,
    elicitation: cfg.elicitation,
    callerMayApprove: cfg.callerMayApprove,
    // Masked for the approver: the config's paths plus the policy's `secret` of the tool.
    secretPaths: (call) => {
      const policy = holderOf.get(call.grant)?.current;
      const key = policy?.plan(call.tool).rule?.key;
      const own = key === undefined ? undefined : policy?.document.tools?.[key]?.secret;
      return [...cfg.secretArguments, ...(own ?? [])];
    },
    onWarn: (msg, fields) => rt.logger.warn(fields, msg),
    now: rt.now,
    onError: (err) => rt.logger.error({ err: (err as Error).message }, "approval store error"),
  });
}

/** The `/mcp` endpoint: credentials to grants, grants (or token claims) to policies. */
function createMcpEndpoint(
  rt: Runtime,
  parts: StateParts & {
    readonly upstreams: UpstreamConfig[];
    readonly policies: ReadonlyMap<string, PolicyHolder>;
    readonly holderOf: ReadonlyMap<string, PolicyHolder | undefined>;
    readonly authThrottle: AuthThrottle;
    readonly allowedHosts: string[] | undefined;
    readonly tracing: GatewayTracing | undefined;
    readonly resourceUrl: () => string;
  },
): ToolgateMcp {
  const { loaded } = rt;
  const { config, oauth } = loaded;
  const grantByHash = new Map(loaded.grants.map((g) => [g.keyHash, g.name]));
  const chooseOAuthPolicy = oauth ? oauthPolicyChooser(oauth, parts.policies) : undefined;
  return createToolgateMcp({
    upstreams: parts.upstreams,
    apiKeys: (key) => grantByHash.get(sha256Hex(key)),
    // A verified token (it has claims) gets the policy its claims choose; an API key the
    // policy of its grant.
    policy: (grant: string, identity?: Identity) =>
      identity?.claims !== undefined && chooseOAuthPolicy
        ? chooseOAuthPolicy(identity.claims)
        : parts.holderOf.get(grant),
    oauth: oauth && {
      issuer: oauth.issuer,
      jwksUri: oauth.jwksUri,
      // The canonical URL of /mcp is known once the server listens (port 0 in tests).
      resource: () => oauth.resource ?? parts.resourceUrl(),
      audience: oauth.audience,
      requiredScopes: oauth.requiredScopes,
      grantClaim: oauth.grantClaim,
      algorithms: oauth.algorithms,
      clockToleranceSec: oauth.clockToleranceSec,
      jwksCooldownMs: oauth.jwksCooldownMs,
      jwksMaxAgeMs: oauth.jwksMaxAgeMs,
    },
    tracer: parts.tracing?.tracer,
    store: parts.store,
    approve: createGatewayApprover(rt, parts.approvals, parts.holderOf),
    approvalTimeoutMs: approvalHoldCeilingMs(config.approvals.timeoutMs),
    approvalProgressMs: config.approvals.progressMs,
    onDecision: parts.decisions.onDecision,
    onRefused: parts.decisions.onRefused,
    maxSessionsPerGrant: config.maxSessionsPerGrant,
    authThrottle: parts.authThrottle,
    allowedOrigins: config.allowedOrigins,
    allowedHosts: parts.allowedHosts,
    now: rt.now,
    newId: rt.newId,
    logger: rt.logger,
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
  const counters = counterView(loaded, holderOf, parts.store);
  // Policy studio: its API rides behind the admin token (extraApi), its page is static.
  // It publishes through the same reload path as the file watcher.
  const studio = createStudio({
    grants: loaded.grants,
    policies,
    upstreams,
    store: parts.store,
    counters,
    reloadPolicy,
    audit: parts.audit,
    readOnlyPolicies: new Set([DEFAULT_POLICY_PATH]),
    now,
    logger,
  });
  rt.cleanups.add(
    watchPolicyFiles(policies.keys(), {
      debounceMs: config.watchDebounceMs,
      reload: reloadPolicy,
      logger,
    }),
  );
  const http = await startHttpServer({
    ...parts,
    mcp,
    admin: createAdminRouter({
      approvals: parts.approvals,
      token: loaded.adminToken,
      throttle: authThrottle,
      feed: parts.feed,
      feedScope: parts.feedShared ? "all instances (since this one started)" : "this instance",
      counters,
      now,
      extraApi: studio.api,
    }),
    pages: studio.pages,
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

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // The listener stays open while in-flight calls drain: a request that races the
      // shutdown (new connection or kept-alive one) is answered 503 "shutting down" with
      // `Connection: close`, never a refused connection or a reset socket.
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
    mcp,
    metrics: parts.metrics,
    approvals: parts.approvals,
    store: parts.store,
    feed: parts.feed,
    logger,
    notes,
    policies,
    reloadPolicy,
    close,
  };
}
