// OAuth access tokens against the real `toolgate serve` process: the tokens of one client
// (one grant) count per user, identity conditions hold, forged or foreign tokens are
// refused with the spec's challenge and reach nothing, the upstream authenticates the
// gateway with its own credential only, and no token shows up in any log, audit record
// or metric.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNoSecrets } from "../src/artifacts.js";
import {
  connectClient,
  endSession,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  readJsonLines,
  startFixtureUpstream,
  startGateway,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

const RESOURCE = "https://tools.desk.example/mcp";
let issuer = "";
let key: { kid: string; priv: CryptoKey; pub: JWK };
const as: Server = createServer((req, res) => {
  const body =
    req.url === "/.well-known/oauth-authorization-server"
      ? { issuer, jwks_uri: `${issuer}/jwks` }
      : req.url === "/jwks"
        ? { keys: [key.pub] }
        : undefined;
  if (!body) return void res.writeHead(404).end();
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
});

/** Every token minted here, so the final scan can look for each of them. */
const minted: string[] = [];
async function token(sub: string, role: string, over: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  const t = await new SignJWT({ client_id: "desk-agent", scope: "mcp:tools", role })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "at+jwt" })
    .setIssuer(issuer)
    .setAudience((over.aud as string) ?? RESOURCE)
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime((over.exp as number) ?? now + 600)
    .sign(key.priv);
  minted.push(t);
  return t;
}

let up: FixtureUpstream;
let gw: GatewayProcess;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  key = {
    kid: "rel-1",
    priv: privateKey,
    pub: { ...(await exportJWK(publicKey)), kid: "rel-1", alg: "ES256", use: "sig" },
  };
  await new Promise<void>((r) => as.listen(0, "127.0.0.1", () => r()));
  issuer = `http://127.0.0.1:${(as.address() as AddressInfo).port}`;
  // The upstream accepts only the gateway's own credential: a forwarded client token
  // would fail every call.
  up = await startFixtureUpstream({ name: "oauth-upstream", token: SECRETS.upstreamToken });
  gw = await startGateway({
    name: "oauth",
    config: [
      ...fixtureConfigLines(up.url, { upstreamToken: true }),
      "auth:",
      "  oauth:",
      `    issuer: "${issuer}"`,
      `    resource: "${RESOURCE}"`,
      "    requiredScopes: [mcp:tools]",
      "    grantClaim: client_id",
      "    policies:",
      "      - { claim: role, value: trader, policy: policy.yaml }",
      "      - { claim: role, value: viewer, policy: policy.yaml }",
    ].join("\n"),
    files: {
      "policy.yaml": [
        'version: "1"',
        "default: deny",
        "tools:",
        "  work:",
        "    limits: [{ counter: work, window: minute, max: 3, scope: user }]",
        "  echo:",
        "    require: [{ path: identity.claims.role, op: eq, value: trader, reason: traders only }]",
      ].join("\n"),
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.stop();
  as.closeAllConnections();
  await new Promise<void>((r) => as.close(() => r()));
});

describe("OAuth tokens through the real process", () => {
  it("per-user limits inside one client's grant and identity conditions, exactly", async () => {
    const alice = await connectClient(gw.mcpUrl, await token("alice", "trader"));
    const bob = await connectClient(gw.mcpUrl, await token("bob", "viewer"));
    const run = async (c: typeof alice, id: string) =>
      (await c.callTool({ name: "work", arguments: { id } })).isError === true;
    const aliceDenied = [];
    for (let i = 0; i < 4; i++) aliceDenied.push(await run(alice, `a${i}`));
    const bobDenied = [];
    for (let i = 0; i < 4; i++) bobDenied.push(await run(bob, `b${i}`));
    expect(aliceDenied).toEqual([false, false, false, true]);
    expect(bobDenied).toEqual([false, false, false, true]);
    expect((await alice.callTool({ name: "echo", arguments: { text: "hi" } })).isError).toBeFalsy();
    const refused = await bob.callTool({ name: "echo", arguments: { text: "hi" } });
    expect(refused.isError).toBe(true);
    // Each admitted call ran exactly once upstream, with the gateway's own credential.
    const { calls } = await up.stats();
    expect(Object.keys(calls).sort()).toEqual(["a0", "a1", "a2", "b0", "b1", "b2"]);
    await endSession(alice);
    await endSession(bob);
    const audit = readJsonLines(join(gw.dir, ".toolgate", "audit.jsonl"));
    expect(audit.filter((e) => e.subject === "alice" && e.clientId === "desk-agent")).toHaveLength(
      5,
    );
  });

  it("foreign, expired and unsigned tokens: 401 with the challenge, nothing reaches the upstream", async () => {
    const before = await up.stats();
    const now = Math.floor(Date.now() / 1000);
    const bad = [
      await token("mallory", "trader", { aud: "https://elsewhere.example/mcp" }),
      await token("mallory", "trader", { exp: now - 600 }),
      `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString("base64url")}.${Buffer.from(
        JSON.stringify({ iss: issuer, aud: RESOURCE, sub: "mallory", exp: now + 600 }),
      ).toString("base64url")}.`,
    ];
    for (const t of bad) {
      const res = await fetch(gw.mcpUrl, {
        method: "POST",
        headers: {
          authorization: `Bearer ${t}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-11-25",
            capabilities: {},
            clientInfo: { name: "x", version: "1" },
          },
        }),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe(
        `Bearer resource_metadata="https://tools.desk.example/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="${JSON.parse(await res.text()).error.message.replace(/^Unauthorized: /, "")}"`,
      );
    }
    expect((await up.stats()).sessions).toBe(before.sessions);
  });

  it("no token appears in any log, audit record or metric", async () => {
    await gw.metrics();
    // The signature and claims parts: each identifies one token.
    const parts = minted.flatMap((t) =>
      t
        .split(".")
        .slice(1)
        .filter((p) => p.length >= 24),
    );
    expectNoSecrets(gw.dir, parts);
  });
});
