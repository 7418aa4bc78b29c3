import {
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyOptions,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import type { Identity } from "../engine.js";
import { errText, ToolgateMcpError } from "../errors.js";
import { type FetchLike, fetchJson, JwksCache } from "./jwks.js";
import {
  looksLikeJwt,
  OAUTH_ALGORITHMS,
  OAUTH_TOKEN_TYPES,
  type OAuthOptions,
  OAuthOptionsSchema,
  type OAuthVerifier,
  secureUrl,
  type TokenRefusal,
  type VerifyResult,
} from "./oauth-options.js";

export type {
  OAuthOptions,
  OAuthVerifier,
  TokenRefusal,
  VerifiedToken,
  VerifyResult,
} from "./oauth-options.js";
export {
  looksLikeJwt,
  OAUTH_ALGORITHMS,
  OAUTH_TOKEN_TYPES,
  OAuthOptionsSchema,
} from "./oauth-options.js";

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

/** The verifier's settings with their defaults. */
function settingsOf(options: OAuthOptions) {
  const resourceOf =
    typeof options.resource === "function" ? options.resource : () => options.resource as string;
  const algorithms: string[] = options.algorithms ?? [...OAUTH_ALGORITHMS];
  return {
    now: options.now ?? Date.now,
    issuer: options.issuer,
    resourceOf,
    audiences: (): string[] =>
      options.audience === undefined
        ? [resourceOf()]
        : Array.isArray(options.audience)
          ? options.audience
          : [options.audience],
    algorithms,
    algSet: new Set(algorithms),
    types: new Set((options.tokenTypes ?? [...OAUTH_TOKEN_TYPES]).map((t) => t.toLowerCase())),
    grantClaim: options.grantClaim ?? "sub",
    required: options.requiredScopes ?? [],
    tolerance: options.clockToleranceSec ?? 30,
  };
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
  checkOptions(options);
  const settings = settingsOf(options);
  const { now, issuer, resourceOf, audiences, algorithms, algSet, types } = settings;
  const { grantClaim, required, tolerance } = settings;
  const fetchImpl: FetchLike = options.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const timeoutMs = options.fetchTimeoutMs ?? 5_000;
  const { keys, lastKeyError } = issuerKeys(options, now, fetchImpl, timeoutMs);

  const cache = new VerifiedTokens(options.verifiedCacheSize ?? 10_000, tolerance);
  async function verify(token: string): Promise<VerifyResult> {
    const hit = cache.get(token, keys, now());
    if (hit !== undefined) return hit;
    const used = { epoch: -1 };
    const r = await verifyFully(token, used);
    if (used.epoch === keys.epoch) cache.put(token, r, used.epoch);
    return r;
  }

  /** Every check; `used.epoch` is set to the key set the signature was checked against. */
  async function verifyFully(token: string, used: { epoch: number }): Promise<VerifyResult> {
    const read = readHeader(token, algSet, types);
    if ("refused" in read) return read.refused;
    const { header } = read;
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
          description: `the authorization server's keys cannot be loaded${lastKeyError() ? `: ${lastKeyError()}` : ""}`,
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
    return identityOf(claims, grantClaim, required);
  }

  return {
    verify,
    metadata: () => metadataOf(options, resourceOf(), algorithms, required),
    metadataUrl: () => wellKnown(resourceOf()).url,
    metadataPaths() {
      const { path } = wellKnown(resourceOf());
      const root = "/.well-known/oauth-protected-resource";
      return path === root ? [root] : [path, root];
    },
    challenge: (refusal) => challengeOf(wellKnown(resourceOf()).url, required, refusal),
    async warm() {
      await keys.refresh();
    },
    get jwksFetches() {
      return keys.fetches;
    },
  };
}

/**
 * Verified tokens by their exact text (see `verifiedCacheSize`): a hit is served only
 * while the checks time would change still pass, against keys not refetched since.
 */
class VerifiedTokens {
  private readonly map = new Map<
    string,
    { result: VerifyResult; expMs: number; nbfMs: number; epoch: number }
  >();
  constructor(
    private readonly max: number,
    private readonly toleranceSec: number,
  ) {}

  get(token: string, keys: JwksCache, t: number): VerifyResult | undefined {
    const hit = this.map.get(token);
    if (hit === undefined) return undefined;
    if (hit.epoch === keys.epoch && keys.fresh(t) && t < hit.expMs && t >= hit.nbfMs)
      return hit.result;
    this.map.delete(token);
    return undefined;
  }

  /** Keeps a success verified against key set `epoch`. */
  put(token: string, r: VerifyResult, epoch: number): void {
    // Oversized tokens are checked every time rather than held: the memory stays bounded
    // by count times a typical token, whatever a client sends.
    if (!r.ok || this.max <= 0 || token.length > 4096) return;
    if (this.map.size >= this.max) this.map.clear();
    const { exp, nbf } = r.token.claims;
    const tol = this.toleranceSec;
    this.map.set(token, {
      result: r,
      expMs: ((exp as number) + tol) * 1000,
      nbfMs: typeof nbf === "number" ? (nbf - tol) * 1000 : Number.NEGATIVE_INFINITY,
      epoch,
    });
  }
}

/** Validates the options; the error names each bad `oauth.*` path. */
function checkOptions(options: OAuthOptions): void {
  const parsed = OAuthOptionsSchema.safeParse(options);
  if (parsed.success) return;
  const lines = parsed.error.issues.map(
    (i) => `oauth.${i.path.join(".") || "(root)"}: ${i.message}`,
  );
  throw new ToolgateMcpError("OPTIONS_INVALID", `toolgate-mcp options: ${lines.join("; ")}`, {
    issues: lines,
  });
}

/** The issuer's signing keys (configured `jwksUri`, else discovered once and retried). */
function issuerKeys(
  options: OAuthOptions,
  now: () => number,
  fetchImpl: FetchLike,
  timeoutMs: number,
): { keys: JwksCache; lastKeyError: () => string | undefined } {
  let discovered: Promise<string> | undefined;
  const jwksUri = (): Promise<string> => {
    if (options.jwksUri !== undefined) return Promise.resolve(options.jwksUri);
    discovered ??= discoverJwksUri(options.issuer, fetchImpl, timeoutMs).catch((e: unknown) => {
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
  return { keys, lastKeyError: () => lastKeyError };
}

/** The RFC 9728 protected-resource metadata document. */
function metadataOf(
  options: OAuthOptions,
  resource: string,
  algorithms: readonly string[],
  required: readonly string[],
): Record<string, unknown> {
  const scopes = options.scopesSupported ?? required;
  const doc: Record<string, unknown> = {
    resource,
    authorization_servers: [options.issuer],
    bearer_methods_supported: ["header"],
    resource_signing_alg_values_supported: algorithms,
    resource_name: options.resourceName ?? "Toolgate MCP gateway",
  };
  if (scopes.length > 0) doc.scopes_supported = scopes;
  return doc;
}

/** A 401 `invalid_token` refusal with a token-free reason. */
function invalid(description: string): VerifyResult {
  return { ok: false, refusal: { status: 401, error: "invalid_token", description } };
}

/** The issuer's `jwks_uri` from its metadata (RFC 8414, then OpenID discovery). */
async function discoverJwksUri(
  issuer: string,
  fetchImpl: FetchLike,
  timeoutMs: number,
): Promise<string> {
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

/**
 * The token's protected header when its shape, `alg` and `typ` pass; a refusal
 * otherwise. Runs before any key lookup: `none`, HS* and anything unexpected never
 * reach a key.
 */
function readHeader(
  token: string,
  algSet: ReadonlySet<string>,
  types: ReadonlySet<string>,
): { header: ReturnType<typeof decodeProtectedHeader> } | { refused: VerifyResult } {
  const no = (why: string) => ({ refused: invalid(why) });
  if (!looksLikeJwt(token)) return no("the access token is not a JWT");
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return no("the access token header cannot be read");
  }
  if (typeof header.alg !== "string" || !algSet.has(header.alg))
    return no(`signature algorithm ${String(header.alg).slice(0, 32)} is not accepted`);
  if (header.typ !== undefined && !types.has(String(header.typ).toLowerCase()))
    return no(`token type ${String(header.typ).slice(0, 32)} is not an access token`);
  return { header };
}

/** The identity of verified claims: the grant claim, then the required scopes. */
function identityOf(
  claims: JWTPayload,
  grantClaim: string,
  required: readonly string[],
): VerifyResult {
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

/** The `WWW-Authenticate` challenge: where the metadata is, and why a token was refused. */
function challengeOf(
  metadataUrl: string,
  required: readonly string[],
  refusal: TokenRefusal | undefined,
): string {
  const parts = [`resource_metadata=${quote(metadataUrl)}`];
  if (refusal && refusal.status !== 503) {
    parts.push(`error=${quote(refusal.error)}`);
    parts.push(`error_description=${quote(refusal.description)}`);
    if (refusal.scope) parts.push(`scope=${quote(refusal.scope)}`);
  } else if (required.length > 0) {
    // Tells a client without a token which scopes to ask for.
    parts.push(`scope=${quote(required.join(" "))}`);
  }
  return `Bearer ${parts.join(", ")}`;
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
