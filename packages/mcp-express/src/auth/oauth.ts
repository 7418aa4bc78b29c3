import {
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyOptions,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import { z } from "zod";
import type { Identity } from "../engine.js";
import { errText, ToolgateMcpError } from "../errors.js";
import { type FetchLike, fetchJson, JwksCache } from "./jwks.js";

/**
 * Signature algorithms accepted by default: asymmetric only. `none` and the HMAC family
 * are never accepted (an HS256 token "signed" with the authorization server's public key
 * would otherwise verify); the allowlist can only narrow this set.
 */
export const OAUTH_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

/** Token types (`typ` header) accepted by default: JWT access tokens per RFC 9068. */
export const OAUTH_TOKEN_TYPES = ["at+jwt", "application/at+jwt"] as const;

/**
 * Options of the OAuth 2.1 resource server (`oauth` option of `createToolgateMcp`).
 *
 * @example
 * oauth: {
 *   issuer: "https://login.example.com",
 *   resource: "https://gw.example.com/mcp",   // what clients call; the default audience
 *   requiredScopes: ["mcp:tools"],
 *   grantClaim: "client_id",                  // one grant per client; default "sub"
 * }
 */
export interface OAuthOptions {
  /** The authorization server's issuer identifier; tokens must carry it as `iss`. */
  issuer: string;
  /**
   * The canonical URL of the MCP endpoint as clients reach it (RFC 9728 `resource`), or a
   * function returning it (e.g. known only once the server listens). The protected-
   * resource metadata and `WWW-Authenticate` point at it.
   */
  resource: string | (() => string);
  /** Accepted `aud` values (RFC 8707 resource binding). Default: `[resource]`. */
  audience?: string | string[];
  /** Where the signing keys are. Default: `jwks_uri` of the issuer's metadata (RFC 8414 / OIDC discovery). */
  jwksUri?: string;
  /** Scopes every token must carry; missing ones answer 403 `insufficient_scope`. */
  requiredScopes?: string[];
  /** Scopes named in the metadata (`scopes_supported`). Default: `requiredScopes`. */
  scopesSupported?: string[];
  /** Claim whose value is the grant (policy and `scope: grant` counters). Default `sub`; `client_id` for one grant per machine client. */
  grantClaim?: string;
  /** Narrows {@link OAUTH_ALGORITHMS}; anything outside it is refused at start-up. */
  algorithms?: string[];
  /** Accepted `typ` header values when a token has one. Default {@link OAUTH_TOKEN_TYPES}. */
  tokenTypes?: string[];
  /** Allowed clock difference for `exp`/`nbf`/`iat`, seconds. Default 30 (at most 300). */
  clockToleranceSec?: number;
  /** Keys are refetched when older than this. Default 10 minutes. */
  jwksMaxAgeMs?: number;
  /** Least time between key fetches triggered by an unknown `kid`. Default 30 s. */
  jwksCooldownMs?: number;
  /** Time limit of one metadata or key fetch. Default 5 s. */
  fetchTimeoutMs?: number;
  /**
   * Verified tokens remembered (exact token text -> identity), so a client reusing its
   * token pays the signature check once. Entries still honour `exp`/`nbf` on every use
   * and are dropped when the key set is refetched. 0 turns it off. Default 10000.
   */
  verifiedCacheSize?: number;
  /** Human name of the resource in the metadata (`resource_name`). Default "Toolgate MCP gateway". */
  resourceName?: string;
  /** Fetch used for discovery and keys. Default the global `fetch`. */
  fetch?: FetchLike;
  /** Clock (epoch ms) for token times and key ages. Default `Date.now`. */
  now?: () => number;
  /** Told when discovery or a key fetch fails (the last good keys stay in use). */
  onKeyError?: (message: string) => void;
}

/** A token that passed every check, and the identity it stands for. */
export interface VerifiedToken {
  readonly identity: Identity;
  readonly claims: JWTPayload;
}

/** Why a token was refused: what the client is told (never the token itself). */
export interface TokenRefusal {
  /** 401 for a bad token, 403 for missing scopes, 503 when keys cannot be loaded. */
  readonly status: 401 | 403 | 503;
  readonly error: "invalid_token" | "insufficient_scope" | "temporarily_unavailable";
  readonly description: string;
  /** For `insufficient_scope`: the scopes the request needs. */
  readonly scope?: string;
}

/** Result of {@link OAuthVerifier.verify}. */
export type VerifyResult =
  | { readonly ok: true; readonly token: VerifiedToken }
  | { readonly ok: false; readonly refusal: TokenRefusal };

/** The resource server: verifies access tokens and describes itself (RFC 9728). */
export interface OAuthVerifier {
  /** Checks one bearer token: signature, issuer, audience, times, type, scopes, grant claim. */
  verify(token: string): Promise<VerifyResult>;
  /** The RFC 9728 protected-resource metadata document. */
  metadata(): Record<string, unknown>;
  /** URL of the metadata document (the path-suffixed well-known form). */
  metadataUrl(): string;
  /** Paths the metadata is served at: `/.well-known/oauth-protected-resource<path>` and the root form. */
  metadataPaths(): string[];
  /** `WWW-Authenticate` value for a refusal (or for a request that carried no token). */
  challenge(refusal?: TokenRefusal): string;
  /** Loads the issuer metadata and keys now (start-up); failures are retried on use. */
  warm(): Promise<void>;
  /** Key fetches so far (tests, metrics). */
  readonly jwksFetches: number;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** https, or http on a loopback address (a local authorization server or a test). */
function secureUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === "https:" || (u.protocol === "http:" && LOOPBACK.test(u.hostname));
  } catch {
    return false;
  }
}
const SECURE_FIX =
  "use an https URL (http only on localhost/127.0.0.1/[::1]): keys fetched over plain http could be swapped by anyone on the path";

const fn = z.custom<(...a: never[]) => unknown>((v) => typeof v === "function", {
  message: "must be a function",
});
const scopeToken = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "a scope is one word of printable ASCII without quotes");

/** Zod schema of {@link OAuthOptions}; errors name the path and the fix. */
export const OAuthOptionsSchema = z.strictObject({
  issuer: z.string().refine(secureUrl, { message: `issuer: ${SECURE_FIX}` }),
  resource: z.union([
    z.string().refine((v) => URL.canParse(v), {
      message:
        "give the absolute URL clients use for the MCP endpoint, e.g. https://gw.example.com/mcp",
    }),
    fn,
  ]),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  jwksUri: z
    .string()
    .refine(secureUrl, { message: `jwksUri: ${SECURE_FIX}` })
    .optional(),
  requiredScopes: z.array(scopeToken).optional(),
  scopesSupported: z.array(scopeToken).optional(),
  grantClaim: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'name one claim, e.g. "sub" or "client_id"')
    .optional(),
  algorithms: z
    .array(
      z.enum(OAUTH_ALGORITHMS, {
        message: `use asymmetric algorithms only: ${OAUTH_ALGORITHMS.join(", ")} (never none or HS*)`,
      }),
    )
    .min(1, "list at least one algorithm, or leave it unset for the asymmetric default")
    .optional(),
  tokenTypes: z.array(z.string().min(1)).min(1).optional(),
  clockToleranceSec: z
    .number()
    .int()
    .min(0)
    .max(300, "keep the clock tolerance small (at most 300 s); fix the clocks instead")
    .optional(),
  jwksMaxAgeMs: z.number().int().min(1000).optional(),
  jwksCooldownMs: z.number().int().min(0).optional(),
  fetchTimeoutMs: z.number().int().min(100).optional(),
  verifiedCacheSize: z.number().int().min(0).optional(),
  resourceName: z.string().optional(),
  fetch: fn.optional(),
  now: fn.optional(),
  onKeyError: fn.optional(),
});

/** Longest token read; real access tokens are far below it, and larger ones cost CPU to parse. */
const MAX_TOKEN_CHARS = 16 * 1024;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** True when `token` has the shape of a compact JWS (three base64url parts). */
export function looksLikeJwt(token: string): boolean {
  return token.length <= MAX_TOKEN_CHARS && JWT_SHAPE.test(token);
}

/**
 * A quoted-string for `WWW-Authenticate`. Parts of it can come from the client (an
 * `alg` or `typ` it sent), so anything outside printable ASCII is replaced and the
 * length bounded: a header must never be splittable or oversized by a caller.
 */
function quote(v: string): string {
  const safe = v.replace(/[^\x20-\x7e]/g, "?").slice(0, 300);
  return `"${safe.replace(/[\\"]/g, "\\$&")}"`;
}

/** The `scope` claim (space separated, RFC 9068) or `scp` (a list or a string, some vendors). */
function scopesOf(claims: JWTPayload): string[] {
  const s = claims.scope ?? claims.scp;
  if (typeof s === "string") return s.split(" ").filter((x) => x.length > 0);
  if (Array.isArray(s)) return s.filter((x): x is string => typeof x === "string");
  return [];
}

/**
 * `/.well-known/oauth-protected-resource` + the resource's path (RFC 9728 section 3.1),
 * on the resource's origin.
 */
function wellKnown(resource: string): { url: string; path: string } {
  const u = new URL(resource);
  const suffix = u.pathname === "/" ? "" : u.pathname.replace(/\/$/, "");
  const path = `/.well-known/oauth-protected-resource${suffix}`;
  return { url: `${u.origin}${path}`, path };
}

/**
 * Creates the OAuth 2.1 resource server of the gateway (MCP authorization): it verifies
 * JWT access tokens with `jose` against the issuer's keys (cached; see `JwksCache`) and
 * maps them to an {@link Identity}. Options are validated here, so a bad config fails
 * at start-up. Framework-free: no HTTP server, only outbound fetches of metadata/keys.
 *
 * Checks, in order: shape and size; `alg` in the allowlist and `typ` (when present) an
 * access-token type; signature against the key named by `kid`; `iss`; `aud` contains
 * one of the accepted audiences (a token minted for another resource is refused);
 * `exp` present and not passed, `nbf`/`iat` not in the future (with the clock
 * tolerance); the grant claim is a non-empty string; required scopes present.
 *
 * @example
 * const v = createOAuthVerifier({ issuer, resource: "https://gw.example.com/mcp" });
 * const r = await v.verify(token);
 * if (r.ok) r.token.identity; // { grant, sub, clientId, scopes, claims }
 */
export function createOAuthVerifier(options: OAuthOptions): OAuthVerifier {
  const parsed = OAuthOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (i) => `oauth.${i.path.join(".") || "(root)"}: ${i.message}`,
    );
    throw new ToolgateMcpError("OPTIONS_INVALID", `toolgate-mcp options: ${lines.join("; ")}`, {
      issues: lines,
    });
  }
  const now = options.now ?? Date.now;
  const fetchImpl: FetchLike = options.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const timeoutMs = options.fetchTimeoutMs ?? 5_000;
  const issuer = options.issuer;
  const resourceOf =
    typeof options.resource === "function" ? options.resource : () => options.resource as string;
  const audiences = (): string[] =>
    options.audience === undefined
      ? [resourceOf()]
      : Array.isArray(options.audience)
        ? options.audience
        : [options.audience];
  const algorithms: string[] = options.algorithms ?? [...OAUTH_ALGORITHMS];
  const algSet = new Set(algorithms);
  const types = new Set((options.tokenTypes ?? [...OAUTH_TOKEN_TYPES]).map((t) => t.toLowerCase()));
  const grantClaim = options.grantClaim ?? "sub";
  const required = options.requiredScopes ?? [];
  const tolerance = options.clockToleranceSec ?? 30;

  let discovered: Promise<string> | undefined;
  /** The issuer's `jwks_uri` from its metadata (RFC 8414, then OpenID discovery). */
  async function discover(): Promise<string> {
    const base = issuer.replace(/\/$/, "");
    const u = new URL(base);
    const candidates = [
      // RFC 8414: the well-known segment goes between the host and the issuer's path.
      `${u.origin}/.well-known/oauth-authorization-server${u.pathname === "/" ? "" : u.pathname}`,
      `${base}/.well-known/openid-configuration`,
    ];
    let last = "";
    for (const url of candidates) {
      try {
        const doc = (await fetchJson(fetchImpl, url, timeoutMs)) as Record<string, unknown>;
        // A document naming another issuer must not pick our keys (RFC 8414 section 3.3).
        if (doc?.issuer !== issuer) {
          last = `${url} names issuer ${JSON.stringify(doc?.issuer)}, not ${issuer}`;
          continue;
        }
        const jwks = doc.jwks_uri;
        if (typeof jwks !== "string" || !secureUrl(jwks)) {
          last = `${url} has no usable jwks_uri`;
          continue;
        }
        return jwks;
      } catch (e) {
        last = errText(e);
      }
    }
    throw new Error(`issuer discovery failed: ${last}`);
  }
  const jwksUri = (): Promise<string> => {
    if (options.jwksUri !== undefined) return Promise.resolve(options.jwksUri);
    discovered ??= discover().catch((e: unknown) => {
      discovered = undefined; // retried on the next refresh (cool-down applies)
      throw e;
    });
    return discovered;
  };
  let lastKeyError: string | undefined;
  const keys = new JwksCache({
    uri: jwksUri,
    fetch: fetchImpl,
    now,
    maxAgeMs: options.jwksMaxAgeMs ?? 10 * 60_000,
    cooldownMs: options.jwksCooldownMs ?? 30_000,
    timeoutMs,
    onError: (m) => {
      lastKeyError = m;
      options.onKeyError?.(m);
    },
  });

  /** Verified tokens by their exact text; see `verifiedCacheSize`. */
  const verified = new Map<
    string,
    { result: VerifyResult; expMs: number; nbfMs: number; epoch: number }
  >();
  const cacheMax = options.verifiedCacheSize ?? 10_000;

  const invalid = (description: string): VerifyResult => ({
    ok: false,
    refusal: { status: 401, error: "invalid_token", description },
  });

  async function verify(token: string): Promise<VerifyResult> {
    const hit = verified.get(token);
    if (hit !== undefined) {
      const t = now();
      // The same checks time would change, against keys that have not been refetched.
      if (hit.epoch === keys.epoch && keys.fresh(t) && t < hit.expMs && t >= hit.nbfMs)
        return hit.result;
      verified.delete(token);
    }
    const used = { epoch: -1 };
    const r = await verifyFully(token, used);
    // Oversized tokens are checked every time rather than held: the memory stays bounded
    // by count times a typical token, whatever a client sends.
    if (r.ok && cacheMax > 0 && used.epoch === keys.epoch && token.length <= 4096) {
      if (verified.size >= cacheMax) verified.clear();
      const { exp, nbf } = r.token.claims;
      verified.set(token, {
        result: r,
        expMs: ((exp as number) + tolerance) * 1000,
        nbfMs: typeof nbf === "number" ? (nbf - tolerance) * 1000 : Number.NEGATIVE_INFINITY,
        epoch: used.epoch,
      });
    }
    return r;
  }

  /** Every check; `used.epoch` is set to the key set the signature was checked against. */
  async function verifyFully(token: string, used: { epoch: number }): Promise<VerifyResult> {
    if (!looksLikeJwt(token)) return invalid("the access token is not a JWT");
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return invalid("the access token header cannot be read");
    }
    // Before any key lookup: `none`, HS* and anything unexpected never reach a key.
    if (typeof header.alg !== "string" || !algSet.has(header.alg))
      return invalid(`signature algorithm ${String(header.alg).slice(0, 32)} is not accepted`);
    if (header.typ !== undefined && !types.has(String(header.typ).toLowerCase()))
      return invalid(`token type ${String(header.typ).slice(0, 32)} is not an access token`);
    let resolver: Awaited<ReturnType<JwksCache["resolverFor"]>>;
    try {
      resolver = await keys.resolverFor(header);
      used.epoch = keys.epoch;
    } catch {
      return {
        ok: false,
        refusal: {
          status: 503,
          error: "temporarily_unavailable",
          description: `the authorization server's keys cannot be loaded${lastKeyError ? `: ${lastKeyError}` : ""}`,
        },
      };
    }
    const opts: JWTVerifyOptions = {
      algorithms,
      issuer,
      audience: audiences(),
      clockTolerance: tolerance,
      currentDate: new Date(now()),
      requiredClaims: ["exp", "iss", "aud"],
    };
    let claims: JWTPayload;
    try {
      claims = (await jwtVerify(token, resolver, opts)).payload;
    } catch (e) {
      return invalid(describeJoseError(e));
    }
    const grant = claims[grantClaim];
    if (typeof grant !== "string" || grant.length === 0 || grant.length > 256)
      return invalid(`the access token has no usable "${grantClaim}" claim`);
    const scopes = scopesOf(claims);
    const missing = required.filter((s) => !scopes.includes(s));
    if (missing.length > 0) {
      return {
        ok: false,
        refusal: {
          status: 403,
          error: "insufficient_scope",
          description: `the access token lacks scope ${missing.join(", ")}`,
          scope: required.join(" "),
        },
      };
    }
    const clientId =
      typeof claims.client_id === "string"
        ? claims.client_id
        : typeof claims.azp === "string"
          ? claims.azp
          : undefined;
    const identity: Identity = {
      grant,
      sub: typeof claims.sub === "string" && claims.sub.length > 0 ? claims.sub : undefined,
      clientId,
      scopes,
      claims,
    };
    return { ok: true, token: { identity, claims } };
  }

  return {
    verify,
    metadata() {
      const resource = resourceOf();
      const scopes = options.scopesSupported ?? required;
      const doc: Record<string, unknown> = {
        resource,
        authorization_servers: [issuer],
        bearer_methods_supported: ["header"],
        resource_signing_alg_values_supported: algorithms,
        resource_name: options.resourceName ?? "Toolgate MCP gateway",
      };
      if (scopes.length > 0) doc.scopes_supported = scopes;
      return doc;
    },
    metadataUrl: () => wellKnown(resourceOf()).url,
    metadataPaths() {
      const { path } = wellKnown(resourceOf());
      const root = "/.well-known/oauth-protected-resource";
      return path === root ? [root] : [path, root];
    },
    challenge(refusal) {
      const parts = [`resource_metadata=${quote(wellKnown(resourceOf()).url)}`];
      if (refusal && refusal.status !== 503) {
        parts.push(`error=${quote(refusal.error)}`);
        parts.push(`error_description=${quote(refusal.description)}`);
        if (refusal.scope) parts.push(`scope=${quote(refusal.scope)}`);
      } else if (required.length > 0) {
        // Tells a client without a token which scopes to ask for.
        parts.push(`scope=${quote(required.join(" "))}`);
      }
      return `Bearer ${parts.join(", ")}`;
    },
    async warm() {
      await keys.refresh();
    },
    get jwksFetches() {
      return keys.fetches;
    },
  };
}

/** A jose error as a short, token-free reason for the client and the log. */
function describeJoseError(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return "the access token has expired";
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    switch (e.claim) {
      case "aud":
        return "the access token was issued for another resource (aud)";
      case "iss":
        return "the access token was issued by another authorization server (iss)";
      case "nbf":
        return "the access token is not valid yet (nbf)";
      case "iat":
        return "the access token was issued in the future (iat)";
      default:
        return `the access token's "${e.claim}" claim is missing or invalid`;
    }
  }
  if (e instanceof joseErrors.JWKSNoMatchingKey)
    return "no signing key of the authorization server matches the token (kid)";
  if (e instanceof joseErrors.JWKSMultipleMatchingKeys)
    return "the token does not name its signing key (kid) unambiguously";
  if (e instanceof joseErrors.JWSSignatureVerificationFailed)
    return "the access token signature is invalid";
  if (e instanceof joseErrors.JOSEAlgNotAllowed)
    return "the access token's signature algorithm is not accepted";
  if (e instanceof joseErrors.JWTInvalid) return "the access token is malformed";
  return "the access token cannot be verified";
}
