/**
 * The Streamable HTTP endpoint on plain Node request/response objects: the stages every
 * request passes before a method handler (Host, shutdown, Origin and CORS, preflight,
 * the failed-auth throttle, the identity stage), then POST, GET or DELETE.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Authenticator, sendAuthRefusal } from "../auth/authenticate.js";
import type { AuthThrottle } from "../auth-throttle.js";
import type { Identity } from "../engine.js";
import { errText } from "../errors.js";
import { header, hostAllowed, isLoopbackOrigin, sendError } from "../http.js";
import type { FrontContext } from "./context.js";
import { handlePost } from "./post.js";
import { handleDelete, handleGet } from "./sessions.js";

const ALLOW = "GET, POST, DELETE, OPTIONS";
/** Request headers a browser MCP client sends (API key, session, resumption). */
const CORS_ALLOW_HEADERS =
  "authorization, x-api-key, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id, traceparent, tracestate";
/** Response headers a browser MCP client must read. */
const CORS_EXPOSE = "mcp-session-id, mcp-protocol-version, www-authenticate";

/** What the request stages check against, besides the {@link FrontContext}. */
export interface ServeOptions {
  /** Serialized origins allowed (CORS for them); undefined: loopback origins only. */
  allowedOrigins: ReadonlySet<string> | undefined;
  /** Normalized Host values allowed; undefined: any. */
  allowedHosts: ReadonlySet<string> | undefined;
  throttle: AuthThrottle | undefined;
  authenticate: Authenticator;
  /** Runs start() on the first request when the app did not. */
  ensureStarted(): Promise<void> | undefined;
}

/**
 * Origin check and CORS headers; true when refused (answered). Browsers send the
 * serialized origin; only origins the operator listed get CORS.
 */
function originRefused(o: ServeOptions, req: IncomingMessage, res: ServerResponse): boolean {
  const origin = header(req, "origin");
  if (origin === undefined) return false;
  const allowed = o.allowedOrigins;
  if (!(allowed ? allowed.has(origin) : isLoopbackOrigin(origin))) {
    sendError(res, "ORIGIN_FORBIDDEN", "Forbidden: Origin not allowed");
    return true;
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
  return false;
}

/** A preflight, answered before identify: it never carries the API key. */
function preflight(o: ServeOptions, req: IncomingMessage, res: ServerResponse): void {
  const headers: Record<string, string> = { allow: ALLOW };
  if (o.allowedOrigins && header(req, "origin") !== undefined) {
    headers["access-control-allow-methods"] = ALLOW;
    headers["access-control-allow-headers"] = CORS_ALLOW_HEADERS;
    headers["access-control-max-age"] = "600";
  }
  res.writeHead(204, headers).end();
}

/** The throttle and identity stages; the caller's identity, or undefined when refused. */
async function identify(
  o: ServeOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<Identity | undefined> {
  const address = req.socket?.remoteAddress ?? "unknown";
  const wait = o.throttle?.blockedFor(address) ?? 0;
  if (wait > 0) {
    // Before the credential is looked at: a blocked guess learns nothing.
    const s = Math.ceil(wait / 1000);
    sendError(
      res,
      "AUTH_THROTTLED",
      `Too Many Requests: too many failed authentications from this address; retry in ${s} s`,
      { "retry-after": String(s) },
    );
    return undefined;
  }
  // Identity stage: a refusal carries its status and WWW-Authenticate challenge.
  const found = o.authenticate(req);
  const auth = found instanceof Promise ? await found : found;
  if (auth.ok) o.throttle?.succeeded(address);
  // Only a wrong credential counts as a guess (not a missing scope or an issuer outage).
  else if (auth.code === "UNAUTHORIZED") o.throttle?.failed(address);
  if (!auth.ok) {
    sendAuthRefusal(res, auth);
    return undefined;
  }
  return auth.identity;
}

/** Creates the endpoint: `(req, res)` resolves when the request has been handled. */
export function createServe(
  fc: FrontContext,
  o: ServeOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async function serve(req, res) {
    try {
      // First of all: a request for another host name (a DNS-rebinding page) learns
      // nothing, not even whether its credential or session would have worked.
      if (o.allowedHosts && !hostAllowed(header(req, "host"), o.allowedHosts)) {
        sendError(res, "HOST_FORBIDDEN", "Forbidden: Host not allowed");
        return;
      }
      if (fc.closing()) {
        sendError(res, "CLOSING", "Service Unavailable: gateway is shutting down");
        return;
      }
      if (originRefused(o, req, res)) return;
      if (req.method === "OPTIONS") return preflight(o, req, res);
      const identity = await identify(o, req, res);
      if (!identity) return;
      // start() is optional: the first request runs it (probes + idle sweep).
      const starting = o.ensureStarted();
      if (starting) await starting;
      switch (req.method) {
        case "POST":
          return await handlePost(fc, req, res, identity);
        case "GET":
          return handleGet(fc, req, res, identity);
        case "DELETE":
          return await handleDelete(fc, req, res, identity);
        default:
          sendError(res, "METHOD_NOT_ALLOWED", "Method Not Allowed", { allow: ALLOW });
      }
    } catch (e) {
      fc.logger.error?.({ err: errText(e) }, "toolgate handler failed");
      if (!res.headersSent) sendError(res, "UPSTREAM_FAILED", "internal gateway error");
      else if (!res.writableEnded) res.end();
    }
  };
}
