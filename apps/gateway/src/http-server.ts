import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hostAllowed, type ToolgateMcp } from "@toolgate/mcp-express";
import type { MeteredCounterStore } from "@toolgate/policy-engine";
import express, { type Express, type Router } from "express";
import type { ApprovalStore } from "./approvals/store.js";
import type { GatewayConfig } from "./config.js";
import type { Logger } from "./logger.js";
import type { GatewayMetrics } from "./metrics.js";

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

/** Whether the gateway still takes requests; flipped once by {@link GatewayHttp.close}. */
interface Gate {
  accepting: boolean;
}

/** What the Express app serves besides `/mcp`. */
export interface GatewayAppOptions {
  readonly mcp: ToolgateMcp;
  /** The admin API and approvals page (`createAdminRouter`). */
  readonly admin: Router;
  /** The studio's static pages. */
  readonly pages: Router;
  readonly metrics: GatewayMetrics;
  readonly store: MeteredCounterStore;
  readonly approvals: ApprovalStore;
  readonly logger: Logger;
}

/**
 * Routes that need no framework-free fast path: `/mcp` (odd spellings Express also
 * matches), the admin API and page, the studio, `/metrics`, the probes, and JSON 404s
 * and errors (Express's default pages print the stack to whoever asked).
 */
function createGatewayApp(options: GatewayAppOptions, gate: Gate): Express {
  const { mcp, metrics, store, approvals, logger } = options;
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  app.use((_req, res, next) => {
    if (gate.accepting) next();
    else refuseShuttingDown(res);
  });
  app.all("/mcp", mcp.handler);
  app.use(options.admin);
  app.use(options.pages);
  app.get("/metrics", async (_req, res) => {
    res.set("Content-Type", metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
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
  app.use((_req, res) => {
    res.status(404).json({ error: "not_found", message: "no such endpoint; GET / lists them" });
  });
  app.use(jsonErrors(logger));
  return app;
}

/** An error no route handled (a malformed admin JSON body, a bug), answered without a stack. */
function jsonErrors(logger: Logger): express.ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const e = err as {
      status?: unknown;
      statusCode?: unknown;
      expose?: unknown;
      message?: unknown;
    };
    const status = Number(e?.status ?? e?.statusCode ?? 500);
    if (res.headersSent) {
      res.end();
      return;
    }
    if (status >= 400 && status < 500) {
      // Client mistakes (bad JSON, body too large): http-errors marks their messages safe
      // to show with `expose`.
      const message = e?.expose === true ? String(e.message) : "bad request";
      res.status(status).json({ error: "bad_request", message });
      return;
    }
    logger.error({ err: String(e?.message ?? err) }, "request failed");
    res.status(500).json({ error: "internal", message: "internal error" });
  };
}

/** Options of {@link startHttpServer}. */
export interface GatewayHttpOptions extends GatewayAppOptions {
  readonly listen: { readonly host: string; readonly port: number };
  readonly timeouts: GatewayConfig["httpTimeouts"];
  /** Hosts `/admin` answers (normalized); undefined: any. */
  readonly adminHosts: ReadonlySet<string> | undefined;
}

/** The gateway's listening HTTP server. */
export interface GatewayHttp {
  readonly app: Express;
  readonly server: Server;
  readonly url: string;
  readonly port: number;
  /** From now on every request is answered 503 "shutting down" with `Connection: close`. */
  stopAccepting(): void;
  /** Closes the listener and every connection still open. */
  close(): Promise<void>;
}

/**
 * Builds the Express app and the Node server in front of it, and listens. `/mcp` goes
 * straight to mcp-express's plain listener before Express parses anything (the hot
 * path does its own auth, origin check and body parsing). The same Host allowlist as
 * `/mcp` guards `/admin` here: a page that rebinds its domain to 127.0.0.1 reaches
 * neither. Probes and `/metrics` stay open to any Host (orchestrators call them by pod
 * address), and so does the RFC 9728 metadata (clients fetch it by whatever name).
 */
export async function startHttpServer(options: GatewayHttpOptions): Promise<GatewayHttp> {
  const { mcp, adminHosts, timeouts: limits } = options;
  const gate: Gate = { accepting: true };
  const app = createGatewayApp(options, gate);
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
      if (path === "/mcp") {
        if (gate.accepting) mcp.listener(req, res);
        else refuseShuttingDown(res, true);
        return;
      }
      if (
        path?.startsWith("/.well-known/oauth-protected-resource") &&
        mcp.serveOAuthMetadata(req, res)
      )
        return;
      if (adminHosts && path?.startsWith("/admin") && !hostAllowed(req.headers.host, adminHosts)) {
        const body = JSON.stringify({
          error: "host_forbidden",
          message: "Forbidden: Host not allowed",
        });
        res.writeHead(403, { "content-type": "application/json" });
        res.end(body);
        return;
      }
      app(req, res);
    },
  );
  server.keepAliveTimeout = limits.keepAliveMs;
  const { listen } = options;
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
  return {
    app,
    server,
    url,
    port,
    stopAccepting: () => {
      gate.accepting = false;
    },
    close: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}
