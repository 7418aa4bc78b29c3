import { randomUUID } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname } from "node:path";
import type {
  ApprovalOutcome,
  DecisionEvent,
  RefusedEvent,
  UpstreamConfig,
} from "@toolgate/mcp-express";
import {
  AuthThrottle,
  createToolgateMcp,
  hostAllowed,
  normalizeHost,
  type ToolgateMcp,
} from "@toolgate/mcp-express";
import { type Identity, PolicyError, PolicyHolder } from "@toolgate/policy-engine";
import { createCounterStore, type MeteredCounterStore } from "@toolgate/rate-limit-store";
import express, { type Express } from "express";
import { type CounterView, createAdminRouter } from "./admin.js";
import { createApprover } from "./approvals/approver.js";
import { createRedisApprovalStore } from "./approvals/redis-store.js";
import { type ApprovalStore, createMemoryApprovalStore } from "./approvals/store.js";
import { AuditLog } from "./audit.js";
import {
  DEFAULT_POLICY_PATH,
  type LoadedConfig,
  mcpAllowedHosts,
  type UpstreamEntry,
} from "./config.js";
import { GatewayError, type GatewayIssue } from "./errors.js";
import { DecisionFeed } from "./feed.js";
import { shareFeedOverRedis } from "./feed-share.js";
import { createLogger, type Logger } from "./logger.js";
import { sha256Hex } from "./mask.js";
import { createGatewayMetrics, type GatewayMetrics } from "./metrics.js";
import { oauthPolicyChooser } from "./oauth.js";
import { createStudio } from "./studio/index.js";
import { startTracing } from "./tracing.js";

/** Metric label for calls to tools no upstream has. */
const UNKNOWN_TOOL_LABEL = "(unknown)";

/** A built-in upstream started by the gateway (e.g. the Binance.US tools). */
export interface BuiltinUpstream {
  readonly upstream: UpstreamConfig;
  /** One line for the start-up banner, e.g. "Binance.US mock exchange at http://...". */
  readonly description?: string | undefined;
  /** Reports stream reconnects to metrics; called once at start. */
  onReconnect?(listener: () => void): void;
  close(): Promise<void>;
}

/** Starts the built-in upstream named in `builtin:`. */
export type BuiltinFactory = (
  entry: { readonly name: string; readonly builtin: string },
  ctx: { readonly env: Record<string, string | undefined>; readonly logger: Logger },
) => Promise<BuiltinUpstream>;

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

/** The answer to any request that arrives while the gateway drains (Express or not). */
function refuseShuttingDown(res: ServerResponse, mcp = false): void {
  // MCP clients read a JSON-RPC error; everything else the admin API's error shape.
  const message = "Service Unavailable: gateway is shutting down";
  const body = JSON.stringify(
    mcp
      ? { jsonrpc: "2.0", id: null, error: { code: -32603, message, data: { code: "CLOSING" } } }
      : { error: "shutting_down", message },
  );
  res.writeHead(503, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    connection: "close",
  });
  res.end(body);
}

function upstreamFromEntry(entry: UpstreamEntry): UpstreamConfig | undefined {
  if ("url" in entry) {
    return { name: entry.name, url: entry.url, headers: entry.headers, timeoutMs: entry.timeoutMs };
  }
  if ("command" in entry) {
    return {
      name: entry.name,
      command: entry.command,
      args: entry.args,
      env: entry.env,
      cwd: entry.cwd,
      timeoutMs: entry.timeoutMs,
    };
  }
  return undefined;
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
  const { loaded } = options;
  const { config } = loaded;
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger();
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomUUID;
  const cleanups: Array<() => Promise<void> | void> = [];
  const runCleanups = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        logger.warn({ err: (err as Error).message }, "error while shutting down");
      }
    }
  };

  try {
    // Policies: one holder per file, shared by the grants naming it.
    const policies = new Map<string, PolicyHolder>();
    const issues: GatewayIssue[] = [];
    const load = async (path: string, where: string) => {
      if (policies.has(path)) return;
      try {
        policies.set(path, await PolicyHolder.fromFile(path));
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        for (const i of err.issues) {
          issues.push({
            path: `${where} (${path})${i.path ? ` ${i.path}` : ""}`,
            message: i.message,
            fix: i.fix,
          });
        }
      }
    };
    for (const g of loaded.grants) await load(g.policyPath, `grants.${g.name}.policy`);
    // OAuth: the fallback policy and the policies chosen by claim.
    if (loaded.oauth?.policyPath) await load(loaded.oauth.policyPath, "auth.oauth.policy");
    for (const [i, p] of (loaded.oauth?.policies ?? []).entries())
      await load(p.policyPath, `auth.oauth.policies[${i}].policy`);
    if (issues.length > 0) {
      throw new GatewayError(
        "CONFIG_INVALID",
        `invalid policy: ${issues.length} problem(s)`,
        issues,
      );
    }
    const holderOf = new Map(loaded.grants.map((g) => [g.name, policies.get(g.policyPath)]));
    const grantByHash = new Map(loaded.grants.map((g) => [g.keyHash, g.name]));

    const store = createCounterStore(config.store, { now });
    cleanups.push(() => store.close());
    // Tracing from the standard OTEL_* environment; undefined (and free) when not set.
    const tracing = startTracing(env);
    if (tracing) {
      cleanups.push(() => tracing.shutdown());
      logger.info({ traces: tracing.describe }, "OpenTelemetry tracing on");
    }
    const approvals =
      config.store.type === "redis"
        ? createRedisApprovalStore({
            url: config.store.url,
            keyPrefix: config.store.prefix ?? "toolgate:",
          })
        : createMemoryApprovalStore();
    cleanups.push(() => approvals.close());

    // The MCP endpoint is created below, after the metrics it reports into; the gauges
    // read it through this late-bound reference at scrape time.
    let mcpRef: ToolgateMcp | undefined;
    const metrics = createGatewayMetrics({
      pendingApprovals: async () => (await approvals.listPending()).length,
      sessions: () => mcpRef?.sessions().length ?? 0,
      inFlight: () => mcpRef?.inFlight() ?? 0,
    });
    const feed = new DecisionFeed(200);
    // On Redis every instance's page shows the decisions of all of them.
    const sharedFeed =
      config.store.type === "redis"
        ? shareFeedOverRedis(feed, {
            url: config.store.url,
            keyPrefix: config.store.prefix ?? "toolgate:",
            instanceId: randomUUID(),
          })
        : undefined;
    if (sharedFeed) cleanups.push(() => sharedFeed.close());
    const audit = config.audit.enabled
      ? new AuditLog({
          path: config.audit.path,
          maxBytes: config.audit.maxBytes,
          keep: config.audit.keep,
        })
      : undefined;
    if (audit) cleanups.push(() => audit.close());

    // Upstreams.
    const upstreams: UpstreamConfig[] = [];
    const notes: string[] = [];
    for (const entry of config.upstreams) {
      const plain = upstreamFromEntry(entry);
      if (plain) {
        upstreams.push(plain);
        continue;
      }
      const b = entry as { name: string; builtin: string; timeoutMs?: number | undefined };
      if (!options.builtins) {
        throw new GatewayError(
          "CONFIG_INVALID",
          `built-in upstream "${b.builtin}" is not available`,
        );
      }
      const started = await options.builtins(b, { env, logger });
      cleanups.push(() => started.close());
      started.onReconnect?.(() => metrics.streamReconnects.inc({ stream: b.name }));
      upstreams.push(
        b.timeoutMs === undefined
          ? started.upstream
          : { ...started.upstream, timeoutMs: b.timeoutMs },
      );
      if (started.description) notes.push(started.description);
    }
    upstreams.push(...(options.extraUpstreams ?? []));
    if (upstreams.length === 0) {
      throw new GatewayError("CONFIG_INVALID", "no upstreams configured", [
        {
          path: "upstreams",
          message: "list at least one upstream",
          fix: "add a url, command or builtin upstream",
        },
      ]);
    }

    if (config.approvals.callerMayApprove) {
      logger.warn(
        { setting: "approvals.callerMayApprove" },
        "approvals.callerMayApprove is on: a caller may approve its own held calls through elicitation (only while its grant has a single session). Use it only for a trusted single-user desktop setup.",
      );
    }
    const approve = createApprover({
      store: approvals,
      timeoutMs: config.approvals.timeoutMs,
      elicitation: config.approvals.elicitation,
      callerMayApprove: config.approvals.callerMayApprove,
      // Masked for the approver: the config's paths plus the policy's `secret` of the tool.
      secretPaths: (call) => {
        const policy = holderOf.get(call.grant)?.current;
        const key = policy?.plan(call.tool).rule?.key;
        const own = key === undefined ? undefined : policy?.document.tools?.[key]?.secret;
        return [...config.approvals.secretArguments, ...(own ?? [])];
      },
      onWarn: (msg, fields) => logger.warn(fields, msg),
      now,
      onError: (err) => logger.error({ err: (err as Error).message }, "approval store error"),
    });
    // One throttle for /mcp and the admin API: guesses at either count together.
    const authThrottle = new AuthThrottle({ ...config.authThrottle, now });
    // The store's failure cause goes to the log (never to the agent), at most every 10 s.
    let lastDegradedLog = 0;

    const onDecision = (e: DecisionEvent) => {
      const d = e.decision;
      // A tool no upstream has gets one fixed label: agents calling made-up names must not
      // grow the metric's label set without bound (the audit log keeps the real name).
      const toolLabel = e.upstream === undefined ? UNKNOWN_TOOL_LABEL : e.tool;
      metrics.decisions.inc({ tool: toolLabel, effect: d.effect, code: d.code });
      metrics.decisionSeconds.observe({ effect: d.effect }, d.decideUs / 1e6);
      if (e.upstreamMs !== undefined && e.upstream) {
        metrics.upstreamSeconds.observe(
          { upstream: e.upstream, outcome: e.outcome === "upstream_error" ? "error" : "ok" },
          e.upstreamMs / 1000,
        );
      }
      if (e.outcome === "upstream_error")
        metrics.upstreamErrors.inc({ upstream: e.upstream ?? "unknown" });
      if (e.outcome === "approval_rejected") metrics.approvals.inc({ outcome: "rejected" });
      if (e.outcome === "approval_timeout") metrics.approvals.inc({ outcome: "timeout" });
      if (d.effect === "require_approval" && e.outcome === "forwarded") {
        metrics.approvals.inc({ outcome: "approved" });
      }
      if (d.degraded) {
        if (e.at - lastDegradedLog >= 10_000) {
          lastDegradedLog = e.at;
          logger.warn(
            { store: d.degraded.store, mode: d.degraded.mode, cause: d.degraded.reason },
            "limit store unavailable",
          );
        }
        metrics.storeErrors.inc({ store: d.degraded.store });
        metrics.failureModeActivations.inc({ store: d.degraded.store, mode: d.degraded.mode });
      }
      const shadow = d.shadow !== undefined;
      audit?.write({
        time: new Date(e.at).toISOString(),
        decisionId: d.id,
        grant: e.grant,
        subject: e.subject,
        clientId: e.clientId,
        session: e.session,
        tool: e.tool,
        upstream: e.upstream,
        effect: d.effect,
        code: d.code,
        rule: d.ruleId,
        reason: d.reason,
        argumentKeys: e.argumentKeys,
        argumentsDigest: e.argumentsDigest,
        shadow,
        shadowEffect: d.shadow?.effect,
        outcome: e.outcome,
        approver: e.approver,
        retryAfterMs: d.retryAfterMs,
        policyVersion: d.policyVersion,
        upstreamMs: e.upstreamMs,
      });
      (sharedFeed ?? feed).push({
        id: d.id,
        at: e.at,
        grant: e.grant,
        subject: e.subject,
        clientId: e.clientId,
        session: e.session,
        tool: e.tool,
        effect: d.effect,
        code: d.code,
        reason: d.reason,
        ruleId: d.ruleId,
        outcome: e.outcome,
        approver: e.approver,
        retryAfterMs: d.retryAfterMs,
        shadow,
      });
    };
    // A message refused before it could reach an upstream (a request method sent without
    // an id): an attempt to get past the policy, so it is audited like a decision.
    const onRefused = (e: RefusedEvent) => {
      metrics.decisions.inc({ tool: e.method, effect: "deny", code: "REFUSED" });
      audit?.write({
        time: new Date(e.at).toISOString(),
        decisionId: newId(),
        grant: e.grant,
        session: e.session,
        tool: e.method,
        effect: "deny",
        code: "REFUSED",
        rule: "protocol",
        reason: e.reason,
        argumentKeys: [],
        argumentsDigest: "",
        shadow: false,
        outcome: e.code,
      });
    };

    // The same Host allowlist guards /mcp (in mcp-express) and the approvals page and
    // admin API here: a page that rebinds its own domain to 127.0.0.1 reaches neither.
    // Probes and /metrics stay open to any Host (orchestrators call them by pod address).
    const allowedHosts = mcpAllowedHosts(
      (options.listen ?? config.listen).host,
      config.allowedHosts,
    );
    const adminHosts = allowedHosts
      ? new Set(allowedHosts.map((h) => normalizeHost(h) ?? h))
      : undefined;
    // OAuth: the canonical URL of /mcp is known once the server listens (port 0 in tests).
    let resourceUrl = "";
    const oauth = loaded.oauth;
    const chooseOAuthPolicy = oauth ? oauthPolicyChooser(oauth, policies) : undefined;
    const mcp = createToolgateMcp({
      upstreams,
      apiKeys: (key) => grantByHash.get(sha256Hex(key)),
      // A verified token (it has claims) gets the policy its claims choose; an API key
      // the policy of its grant.
      policy: (grant: string, identity?: Identity) =>
        identity?.claims !== undefined && chooseOAuthPolicy
          ? chooseOAuthPolicy(identity.claims)
          : holderOf.get(grant),
      oauth: oauth && {
        issuer: oauth.issuer,
        jwksUri: oauth.jwksUri,
        resource: () => oauth.resource ?? resourceUrl,
        audience: oauth.audience,
        requiredScopes: oauth.requiredScopes,
        grantClaim: oauth.grantClaim,
        algorithms: oauth.algorithms,
        clockToleranceSec: oauth.clockToleranceSec,
        jwksCooldownMs: oauth.jwksCooldownMs,
        jwksMaxAgeMs: oauth.jwksMaxAgeMs,
      },
      tracer: tracing?.tracer,
      store,
      approve: async (req) => (await approve(req)) as ApprovalOutcome,
      // The approver's own timeout (recorded in the store) must fire first.
      approvalTimeoutMs: config.approvals.timeoutMs + 5_000,
      approvalProgressMs: config.approvals.progressMs,
      onDecision,
      onRefused,
      maxSessionsPerGrant: config.maxSessionsPerGrant,
      authThrottle,
      allowedOrigins: config.allowedOrigins,
      allowedHosts,
      now,
      newId,
      logger,
    });
    mcpRef = mcp;

    cleanups.push(() => mcp.close({ graceMs: config.shutdownGraceMs }));
    await mcp.start();

    const counters = async (): Promise<CounterView[]> => {
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

    // Policy studio: its API rides behind the admin token (extraApi below), its page is
    // static. It publishes through the same reload path as the file watcher.
    const studio = createStudio({
      grants: loaded.grants,
      policies,
      upstreams,
      store,
      counters,
      reloadPolicy: (path) => reloadPolicy(path),
      audit,
      readOnlyPolicies: new Set([DEFAULT_POLICY_PATH]),
      now,
      logger,
    });

    const app = express();
    app.disable("x-powered-by");
    app.set("trust proxy", false);
    let accepting = true;
    app.use((_req, res, next) => {
      if (accepting) next();
      else refuseShuttingDown(res);
    });
    app.all("/mcp", mcp.handler);
    app.use(
      createAdminRouter({
        approvals,
        token: loaded.adminToken,
        throttle: authThrottle,
        feed,
        feedScope: sharedFeed ? "all instances (since this one started)" : "this instance",
        counters,
        now,
        extraApi: studio.api,
      }),
    );
    app.use(studio.pages);
    app.get("/metrics", async (_req, res) => {
      const stats = store.stats();
      res.set("Content-Type", metrics.registry.contentType);
      res.send(
        (await metrics.registry.metrics()) +
          `# HELP toolgate_store_backend_errors_total Backend errors seen by the counter store\n` +
          `# TYPE toolgate_store_backend_errors_total counter\n` +
          `toolgate_store_backend_errors_total{store="${stats.store}"} ${stats.errors}\n`,
      );
    });
    app.get("/healthz", (_req, res) => {
      res.json({ ok: true });
    });
    app.get("/readyz", async (_req, res) => {
      const [s, a] = await Promise.all([store.ready(), approvals.ready()]);
      const ups = mcp.upstreamHealth();
      const ok = s.ok && a.ok && ups.every((u) => u.ok);
      res.status(ok ? 200 : 503).json({ ok, store: s, approvals: a, upstreams: ups });
    });
    app.get("/", (_req, res) => {
      res.json({ name: "toolgate", mcp: "/mcp", admin: "/admin", metrics: "/metrics" });
    });
    // Anything else is a JSON 404, and an error no route handled (a malformed admin JSON
    // body, a bug) is answered in JSON without a stack: Express's default pages print
    // the stack trace to whoever asked.
    app.use((_req, res) => {
      res.status(404).json({ error: "not_found", message: "no such endpoint; GET / lists them" });
    });
    app.use(
      (
        err: { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown },
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        const status = Number(err?.status ?? err?.statusCode ?? 500);
        if (res.headersSent) {
          res.end();
          return;
        }
        if (status >= 400 && status < 500) {
          // Client mistakes (bad JSON, body too large): http-errors marks their messages
          // safe to show with `expose`.
          const message = err?.expose === true ? String(err.message) : "bad request";
          res.status(status).json({ error: "bad_request", message });
          return;
        }
        logger.error({ err: String(err?.message ?? err) }, "request failed");
        res.status(500).json({ error: "internal", message: "internal error" });
      },
    );

    // Policy watching: a valid change applies to the next call, an invalid one is logged
    // and the last good policy stays. Watch the folder: editors replace files by rename.
    const timers = new Map<string, NodeJS.Timeout>();
    const reloadPolicy = async (path: string): Promise<boolean> => {
      const holder = policies.get(path);
      if (!holder) return false;
      const r = await holder.reloadFile(path);
      if (!r.ok) {
        logger.error(
          { policy: path, issues: r.error.issues },
          `policy change rejected, keeping the last good policy: ${r.error.message}`,
        );
        return false;
      }
      if (r.changed) {
        // No notify here: mcp-express subscribed to this holder when the first session of
        // a grant using it initialized, so the swap itself tells every affected session.
        logger.info({ policy: path, version: r.policy.version.slice(0, 12) }, "policy reloaded");
      }
      return true;
    };
    const watchers: FSWatcher[] = [];
    const dirs = new Map<string, string[]>();
    for (const path of policies.keys()) {
      const d = dirname(path);
      dirs.set(d, [...(dirs.get(d) ?? []), path]);
    }
    for (const [d, files] of dirs) {
      try {
        const w = watch(d, { persistent: false }, (_ev, name) => {
          for (const f of files) {
            if (name !== null && String(name) !== basename(f)) continue;
            clearTimeout(timers.get(f));
            timers.set(
              f,
              setTimeout(() => void reloadPolicy(f), config.watchDebounceMs),
            );
          }
        });
        w.on("error", (err) => logger.warn({ err: err.message, dir: d }, "policy watcher error"));
        watchers.push(w);
      } catch (err) {
        logger.warn({ err: (err as Error).message, dir: d }, "cannot watch policy folder");
      }
    }
    cleanups.push(() => {
      for (const w of watchers) w.close();
      for (const t of timers.values()) clearTimeout(t);
    });

    // `/mcp` goes straight to the plain Node listener, before Express parses anything: it
    // is the hot path and the listener does its own auth, origin check and body parsing.
    // Odd spellings Express would also match (`/MCP`, `/mcp/`) still reach the Express
    // mount above, so behaviour is the same either way.
    const limits = config.httpTimeouts;
    const server = createServer(
      {
        headersTimeout: limits.headersMs,
        requestTimeout: limits.requestMs,
        // Node checks those limits on this interval (default 30 s, which would let a
        // stalled client outlive its limit by up to that much).
        connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(limits.headersMs / 4))),
      },
      function toolgateRequest(req, res) {
        const q = req.url?.indexOf("?") ?? -1;
        const path = q === -1 ? req.url : req.url?.slice(0, q);
        if (path !== "/mcp") {
          // RFC 9728 metadata: public, answered before Express (and before any Host check:
          // clients fetch it by whatever name reached the gateway).
          if (
            path?.startsWith("/.well-known/oauth-protected-resource") &&
            mcp.serveOAuthMetadata(req, res)
          )
            return;
          if (
            adminHosts &&
            path?.startsWith("/admin") &&
            !hostAllowed(req.headers.host, adminHosts)
          ) {
            const body = JSON.stringify({
              error: "host_forbidden",
              message: "Forbidden: Host not allowed",
            });
            res.writeHead(403, { "content-type": "application/json" });
            res.end(body);
            return;
          }
          app(req, res);
          return;
        }
        if (accepting) mcp.listener(req, res);
        else refuseShuttingDown(res, true);
      },
    );
    server.keepAliveTimeout = limits.keepAliveMs;
    const listen = options.listen ?? config.listen;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(listen.port, listen.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const hostForUrl = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
    const url = `http://${hostForUrl === "0.0.0.0" ? "127.0.0.1" : hostForUrl}:${port}`;
    resourceUrl = `${url}/mcp`;
    logger.info(
      { url, store: store.name, upstreams: upstreams.map((u) => u.name) },
      "toolgate listening",
    );

    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        accepting = false;
        // The listener stays open while in-flight calls drain: a request that races the
        // shutdown (new connection or kept-alive one) is answered 503 "shutting down" with
        // `Connection: close`, never a refused connection or a reset socket.
        await runCleanups(); // mcp.close drains in-flight calls within the grace period
        const serverClosed = new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections();
        await serverClosed;
        logger.info({}, "toolgate stopped");
      })();
      return closing;
    };

    return {
      url,
      mcpUrl: `${url}/mcp`,
      adminUrl: `${url}/admin`,
      port,
      app,
      server,
      mcp,
      metrics,
      approvals,
      store,
      feed,
      logger,
      notes,
      policies,
      reloadPolicy,
      close,
    };
  } catch (err) {
    await runCleanups();
    throw err;
  }
}
