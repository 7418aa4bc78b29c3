import { createHmac } from "node:crypto";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { beforeEach, describe, expect, it } from "vitest";
import { ToolgateMcpError } from "../errors.js";
import type { FetchLike } from "./jwks.js";
import { createOAuthVerifier, type OAuthOptions, type VerifyResult } from "./oauth.js";

const ISSUER = "https://login.example.com";
const RESOURCE = "https://gw.example.com/mcp";
const JWKS_URI = "https://login.example.com/jwks";

interface Key {
  kid: string;
  priv: CryptoKey;
  pub: JWK;
}
async function newKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  return {
    kid,
    priv: privateKey,
    pub: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" },
  };
}

let now: number;
let published: JWK[];
let fetched: string[];
let k1: Key;
let k2: Key;

/** The authorization server's endpoints as a fetch stand-in (counts every call). */
const fetchImpl: FetchLike = async (url) => {
  fetched.push(url);
  const body =
    url === JWKS_URI
      ? JSON.stringify({ keys: published })
      : url === `${ISSUER}/.well-known/oauth-authorization-server`
        ? JSON.stringify({ issuer: ISSUER, jwks_uri: JWKS_URI })
        : undefined;
  return {
    ok: body !== undefined,
    status: body === undefined ? 404 : 200,
    headers: { get: () => null },
    text: async () => body ?? "",
  };
};

function verifier(extra: Partial<OAuthOptions> = {}) {
  return createOAuthVerifier({
    issuer: ISSUER,
    resource: RESOURCE,
    fetch: fetchImpl,
    now: () => now,
    ...extra,
  });
}

async function mint(
  key: Key,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const t = Math.floor(now / 1000);
  return new SignJWT({ client_id: "agent-1", scope: "mcp:tools read", ...claims })
    .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "at+jwt", ...header })
    .setIssuer((claims.iss as string) ?? ISSUER)
    .setAudience((claims.aud as string) ?? RESOURCE)
    .setSubject((claims.sub as string) ?? "alice")
    .setIssuedAt(t)
    .setExpirationTime(t + 300)
    .sign(key.priv);
}

function refusal(r: VerifyResult) {
  if (r.ok) throw new Error("token was accepted");
  return r.refusal;
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

beforeEach(async () => {
  now = Date.UTC(2026, 0, 1);
  fetched = [];
  k1 ??= await newKey("k1");
  k2 ??= await newKey("k2");
  published = [k1.pub];
});

describe("OAuth access-token verification", () => {
  it("accepts a good token and maps its claims to an identity", async () => {
    const r = await verifier().verify(await mint(k1, { role: "trader" }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.token.identity).toMatchObject({
      grant: "alice",
      sub: "alice",
      clientId: "agent-1",
      scopes: ["mcp:tools", "read"],
      claims: expect.objectContaining({ role: "trader" }),
    });
    // Discovery once, keys once.
    expect(fetched).toEqual([`${ISSUER}/.well-known/oauth-authorization-server`, JWKS_URI]);
  });

  it("grantClaim client_id makes every token of one client one grant", async () => {
    const r = await verifier({ grantClaim: "client_id" }).verify(await mint(k1));
    expect(r.ok && r.token.identity.grant).toBe("agent-1");
    const none = await verifier({ grantClaim: "tenant" }).verify(await mint(k1));
    expect(refusal(none).description).toMatch(/no usable "tenant" claim/);
  });

  it("refuses another audience, another issuer, expired and not-yet-valid tokens", async () => {
    const v = verifier();
    expect(
      refusal(await v.verify(await mint(k1, { aud: "https://other.example.com/mcp" }))),
    ).toMatchObject({
      status: 401,
      error: "invalid_token",
      description: expect.stringMatching(/another resource/),
    });
    expect(
      refusal(await v.verify(await mint(k1, { iss: "https://evil.example.com" }))).description,
    ).toMatch(/another authorization server/);
    const token = await mint(k1);
    now += 300_000 + 29_000; // inside the 30 s tolerance
    expect((await v.verify(token)).ok).toBe(true);
    now += 2_000;
    expect(refusal(await v.verify(token)).description).toMatch(/expired/);
    const early = await mint(k1, { nbf: Math.floor(now / 1000) + 120 });
    expect(refusal(await v.verify(early)).description).toMatch(/not valid yet/);
  });

  it("refuses alg none, HS256 signed with the public key, foreign typ and junk, before any key fetch", async () => {
    const v = verifier();
    const t = Math.floor(now / 1000);
    const claims = { iss: ISSUER, aud: RESOURCE, sub: "alice", exp: t + 300, iat: t };
    const none = `${b64({ alg: "none", typ: "at+jwt" })}.${b64(claims)}.`;
    expect(refusal(await v.verify(none)).description).toMatch(/algorithm none is not accepted/);
    // The classic confusion attack: the public key used as an HMAC secret.
    const head = `${b64({ alg: "HS256", kid: "k1", typ: "at+jwt" })}.${b64(claims)}`;
    const secret = JSON.stringify(k1.pub);
    const hs = `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
    expect(refusal(await v.verify(hs)).description).toMatch(/HS256 is not accepted/);
    // An ID token (typ JWT) is not an access token.
    const idToken = await mint(k1, {}, { typ: "JWT" });
    expect(refusal(await v.verify(idToken)).description).toMatch(/not an access token/);
    expect(refusal(await v.verify("not-a-jwt")).description).toMatch(/not a JWT/);
    expect(refusal(await v.verify(`${"a".repeat(20_000)}.b.c`)).description).toMatch(/not a JWT/);
    expect(fetched).toEqual([]);
    // A forged signature with the right header still fails.
    const good = await mint(k1);
    const forged = `${good.slice(0, good.lastIndexOf("."))}.${"A".repeat(342)}`;
    expect(refusal(await v.verify(forged)).description).toMatch(/signature is invalid/);
  });

  it("missing required scopes answer 403 insufficient_scope naming them", async () => {
    const v = verifier({ requiredScopes: ["mcp:tools", "trade"] });
    const r = refusal(await v.verify(await mint(k1)));
    expect(r).toMatchObject({
      status: 403,
      error: "insufficient_scope",
      scope: "mcp:tools trade",
      description: "the access token lacks scope trade",
    });
    expect(v.challenge(r)).toBe(
      `Bearer resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/mcp", error="insufficient_scope", error_description="the access token lacks scope trade", scope="mcp:tools trade"`,
    );
    // scp as a list (some vendors) counts too.
    expect(
      (await v.verify(await mint(k1, { scope: undefined, scp: ["mcp:tools", "trade"] }))).ok,
    ).toBe(true);
  });

  it("unknown kid: one refetch, then none during the cool-down; a rotated-in key is found", async () => {
    const v = verifier({ jwksCooldownMs: 30_000 });
    expect((await v.verify(await mint(k1))).ok).toBe(true);
    const before = v.jwksFetches;
    const stranger = await mint(k2);
    // Right after a fetch even an unknown kid waits for the cool-down.
    expect(refusal(await v.verify(stranger)).description).toMatch(/no signing key/);
    expect(v.jwksFetches).toBe(before);
    now += 30_000;
    // k2 is not published: one fetch to look for it, then the cool-down holds.
    expect(refusal(await v.verify(stranger)).description).toMatch(/no signing key/);
    for (let i = 0; i < 20; i++) await v.verify(stranger);
    expect(v.jwksFetches).toBe(before + 1);
    // The issuer rotates k2 in; after the cool-down the next unknown kid refetches.
    published = [k1.pub, k2.pub];
    now += 30_000;
    expect((await v.verify(await mint(k2))).ok).toBe(true);
    expect(v.jwksFetches).toBe(before + 2);
  });

  it("a key removed from the set stops verifying once the cached set ages out", async () => {
    const v = verifier({ jwksMaxAgeMs: 60_000 });
    const old = await mint(k1);
    expect((await v.verify(old)).ok).toBe(true);
    published = [k2.pub];
    now += 59_000;
    expect((await v.verify(old)).ok).toBe(true); // still cached
    now += 1_000;
    expect(refusal(await v.verify(old)).description).toMatch(/no signing key/);
    expect((await v.verify(await mint(k2))).ok).toBe(true);
  });

  it("a verified token is remembered, but never past exp nor across a key refetch", async () => {
    const v = verifier({ jwksCooldownMs: 0 });
    const token = await mint(k1);
    const first = await v.verify(token);
    expect(first.ok).toBe(true);
    // The same result object comes back: no second signature check.
    expect(await v.verify(token)).toBe(first);
    // A refetch (here: an unknown kid) voids what was verified under the old set.
    published = [k2.pub];
    await v.verify(await mint(k2));
    expect(refusal(await v.verify(token)).description).toMatch(/no signing key/);
    published = [k1.pub, k2.pub];
    const again = await mint(k1, { sub: "bob" });
    await v.verify(await mint(k1, {}, { kid: "k-unknown" })); // refetch: k1 back
    expect((await v.verify(again)).ok).toBe(true);
    now += 300_000 + 31_000;
    expect(refusal(await v.verify(again)).description).toMatch(/expired/);
    // verifiedCacheSize 0: every call checks the signature.
    const off = verifier({ verifiedCacheSize: 0 });
    const t2 = await mint(k1);
    expect(await off.verify(t2)).not.toBe(await off.verify(t2));
  });

  it("symmetric and private keys in a JWKS are ignored; keys unreachable at first answer 503", async () => {
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    published = [
      { ...(await exportJWK(privateKey)), kid: "k1", alg: "RS256" },
      { kty: "oct", k: "c2VjcmV0", kid: "k1" },
    ];
    const v = verifier();
    expect(refusal(await v.verify(await mint(k1))).description).toMatch(/no signing key/);
    const told: string[] = [];
    const down = createOAuthVerifier({
      issuer: ISSUER,
      resource: RESOURCE,
      jwksUri: "https://login.example.com/missing",
      fetch: fetchImpl,
      now: () => now,
      onKeyError: (m) => told.push(m),
    });
    const r = refusal(await down.verify(await mint(k1)));
    expect(r.status).toBe(503);
    expect(told).toEqual(["GET https://login.example.com/missing: HTTP 404"]);
    expect(down.challenge(r)).not.toMatch(/error=/);
  });

  it("discovery refuses a metadata document naming another issuer", async () => {
    const lying: FetchLike = async () => ({
      ok: true,
      status: 200,
      headers: { get: () => null },
      text: async () => JSON.stringify({ issuer: "https://evil.example.com", jwks_uri: JWKS_URI }),
    });
    const v = createOAuthVerifier({
      issuer: ISSUER,
      resource: RESOURCE,
      fetch: lying,
      now: () => now,
    });
    expect(refusal(await v.verify(await mint(k1))).status).toBe(503);
  });
});

describe("metadata and options", () => {
  it("RFC 9728 document, paths and the bare challenge", () => {
    const v = verifier({ requiredScopes: ["mcp:tools"] });
    expect(v.metadata()).toMatchObject({
      resource: RESOURCE,
      authorization_servers: [ISSUER],
      bearer_methods_supported: ["header"],
      scopes_supported: ["mcp:tools"],
    });
    expect(v.metadataPaths()).toEqual([
      "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-protected-resource",
    ]);
    expect(v.challenge()).toBe(
      'Bearer resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"',
    );
  });

  it("a client-controlled value cannot break the header", () => {
    const v = verifier();
    const c = v.challenge({
      status: 401,
      error: "invalid_token",
      description: 'x"\r\nSet-Cookie: a=b',
    });
    expect(c).not.toMatch(/[\r\n]/);
    expect(c).toContain('error_description="x\\"??Set-Cookie: a=b"');
  });

  it("bad options name the path and the fix", () => {
    const bad = (o: Partial<OAuthOptions>) => {
      try {
        createOAuthVerifier({ issuer: ISSUER, resource: RESOURCE, ...o } as OAuthOptions);
      } catch (e) {
        expect(e).toBeInstanceOf(ToolgateMcpError);
        return (e as ToolgateMcpError).message;
      }
      throw new Error("accepted");
    };
    expect(bad({ issuer: "http://login.example.com" })).toMatch(
      /oauth\.issuer: .*use an https URL/,
    );
    expect(bad({ algorithms: ["HS256"] })).toMatch(
      /oauth\.algorithms\.0: use asymmetric algorithms only/,
    );
    expect(bad({ algorithms: ["none"] })).toMatch(/never none/);
    expect(bad({ clockToleranceSec: 3600 })).toMatch(/oauth\.clockToleranceSec/);
    expect(bad({ resource: "/mcp" })).toMatch(/oauth\.resource/);
    expect(bad({ requiredScopes: ['a"b'] })).toMatch(/oauth\.requiredScopes\.0/);
    // Loopback http is fine (local authorization servers, tests).
    expect(() => verifier({ issuer: "http://127.0.0.1:9000" })).not.toThrow();
  });
});
