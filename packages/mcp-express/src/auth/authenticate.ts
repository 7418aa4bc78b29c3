import type { IncomingMessage, ServerResponse } from "node:http";
import type { Identity } from "../engine.js";
import type { McpErrorCodeName } from "../errors.js";
import { presentedKey, sendError } from "../http.js";
import { looksLikeJwt, type OAuthVerifier } from "./oauth.js";

/** What authentication made of a request: an identity, or the refusal to send. */
export type AuthOutcome =
  | { readonly ok: true; readonly identity: Identity }
  | {
      readonly ok: false;
      readonly code: McpErrorCodeName;
      readonly message: string;
      readonly headers: Record<string, string>;
    };

/** Inputs of {@link createAuthenticator}: the credential sources of the gateway. */
export interface AuthenticatorOptions {
  /** API key -> grant (undefined: unknown key). */
  readonly lookupKey: (key: string) => string | undefined;
  /** A custom identity function; replaces API keys (and is exclusive with `oauth`). */
  readonly identify?:
    | ((req: IncomingMessage) => Identity | undefined | Promise<Identity | undefined>)
    | undefined;
  /** The OAuth resource server, when configured. */
  readonly oauth?: OAuthVerifier | undefined;
}

const API_KEY_HINT = "present an API key (Authorization: Bearer <key> or X-API-Key)";
const BOTH_HINT = "present an OAuth access token (Authorization: Bearer <token>) or an API key";

/** The identity stage: who sent a request, or why it is refused. */
export type Authenticator = (req: IncomingMessage) => AuthOutcome | Promise<AuthOutcome>;

/**
 * The identity stage of the gateway: API keys (an exact lookup, answered synchronously)
 * and, when configured, OAuth access tokens (verified with the issuer's cached keys).
 * A bearer value that is a known API key is an API key; any other bearer value with the
 * shape of a JWT is verified as an access token; everything else is refused. A refusal
 * carries the status and `WWW-Authenticate` the MCP authorization spec asks for, and
 * never repeats the credential.
 *
 * Seam: the gateway calls the returned function once per HTTP request, before any
 * session lookup, and sends a refusal with {@link sendAuthRefusal}.
 */
export function createAuthenticator(o: AuthenticatorOptions): Authenticator {
  const { oauth } = o;
  const unauthorized = (message: string, challenge: string): AuthOutcome => ({
    ok: false,
    code: "UNAUTHORIZED",
    message: `Unauthorized: ${message}`,
    headers: { "www-authenticate": challenge },
  });
  // Built per refusal: the resource URL may only be known once the server listens.
  const apiKeyOnly = unauthorized(API_KEY_HINT, 'Bearer realm="toolgate"');
  const noCredential = (): AuthOutcome =>
    oauth ? unauthorized(BOTH_HINT, oauth.challenge()) : apiKeyOnly;

  if (o.identify) {
    const identify = o.identify;
    return (req) => {
      const found = identify(req);
      if (found instanceof Promise)
        return found.then((id) => (id ? { ok: true, identity: id } : noCredential()));
      return found ? { ok: true, identity: found } : noCredential();
    };
  }

  return (req) => {
    const key = presentedKey(req);
    if (key === undefined) return noCredential();
    const grant = o.lookupKey(key);
    if (grant) return { ok: true, identity: { grant } };
    // Tokens only in the Authorization header (RFC 6750 section 2.1); query strings and
    // X-API-Key never carry them (bearer_methods_supported says "header").
    if (!oauth || typeof req.headers.authorization !== "string" || !looksLikeJwt(key))
      return oauth
        ? unauthorized(
            `unknown credential; ${BOTH_HINT}`,
            oauth.challenge({
              status: 401,
              error: "invalid_token",
              description: "unknown API key or malformed access token",
            }),
          )
        : noCredential();
    return oauth.verify(key).then((r): AuthOutcome => {
      if (r.ok) return { ok: true, identity: r.token.identity };
      const { refusal } = r;
      const challenge = { "www-authenticate": oauth.challenge(refusal) };
      if (refusal.status === 403)
        return {
          ok: false,
          code: "INSUFFICIENT_SCOPE",
          message: `Forbidden: ${refusal.description}`,
          headers: challenge,
        };
      if (refusal.status === 503)
        return {
          ok: false,
          code: "AUTH_UNAVAILABLE",
          message: `Service Unavailable: ${refusal.description}`,
          headers: { ...challenge, "retry-after": "5" },
        };
      return unauthorized(refusal.description, challenge["www-authenticate"]);
    });
  };
}

/** Sends an authentication refusal (JSON-RPC error body, status and challenge headers). */
export function sendAuthRefusal(
  res: ServerResponse,
  refusal: Extract<AuthOutcome, { ok: false }>,
): void {
  sendError(res, refusal.code, refusal.message, refusal.headers);
}

/**
 * Answers a GET for the RFC 9728 protected-resource metadata when `req` asks for one of
 * its paths; returns false (and answers nothing) for any other request. Public by
 * design (no credential; CORS open), as clients read it before they have a token.
 */
export function serveOAuthMetadata(
  oauth: OAuthVerifier,
  req: IncomingMessage,
  res: ServerResponse,
): boolean {
  const q = req.url?.indexOf("?") ?? -1;
  const path = q === -1 ? req.url : req.url?.slice(0, q);
  if (path === undefined || !oauth.metadataPaths().includes(path)) return false;
  if (req.method === "OPTIONS") {
    res
      .writeHead(204, {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "GET, OPTIONS",
        "access-control-max-age": "600",
      })
      .end();
    return true;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD, OPTIONS" }).end();
    return true;
  }
  const body = JSON.stringify(oauth.metadata());
  res.writeHead(200, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "public, max-age=300",
    "access-control-allow-origin": "*",
  });
  res.end(req.method === "HEAD" ? undefined : body);
  return true;
}
