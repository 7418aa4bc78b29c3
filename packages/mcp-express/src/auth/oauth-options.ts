/** The OAuth resource server's options (zod), result types and token shape check. */
import type { JWTPayload } from "jose";
import { z } from "zod";
import type { Identity } from "../engine.js";
import type { FetchLike } from "./jwks.js";

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
export function secureUrl(v: string): boolean {
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
