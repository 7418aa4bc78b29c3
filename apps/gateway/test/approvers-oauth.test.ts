/**
 * Approvers identified by OAuth claims: an approver's access token decides through the
 * admin API and signs in on the page; the same person calling through a grant can never
 * approve that call, whichever grant the token maps to.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { startTestGateway, type TestGateway, textOf } from "./helpers/gateway.js";

const RESOURCE = "https://desk.example.com/mcp";
const ANA = "ana-approver-token-0123456789";
let issuer = "";
let key: { kid: string; priv: CryptoKey; pub: JWK };
const as: Server = createServer((req, res) => {
  res.writeHead(req.url === "/jwks" || req.url?.startsWith("/.well-known") ? 200 : 404, {
    "content-type": "application/json",
  });
  if (req.url === "/jwks") res.end(JSON.stringify({ keys: [key.pub] }));
  else res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
});

async function token(sub: string, clientId: string): Promise<string> {
  const t = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: clientId, scope: "mcp:tools" })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "at+jwt" })
    .setIssuer(issuer)
    .setAudience(RESOURCE)
    .setSubject(sub)
    .setIssuedAt(t)
    .setExpirationTime(t + 600)
    .sign(key.priv);
}

describe("OAuth-identified approvers", () => {
  let t: TestGateway;
  const calls: string[] = [];

  beforeAll(async () => {
    await new Promise<void>((r) => as.listen(0, "127.0.0.1", () => r()));
    issuer = `http://127.0.0.1:${(as.address() as AddressInfo).port}`;
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    key = {
      kid: "k1",
      priv: privateKey,
      pub: { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" },
    };
    const policy = {
      version: "1",
      default: "deny",
      tools: { transfer_funds: { action: "require_approval" } },
    };
    t = await startTestGateway({
      config: `upstreams: []
grants:
  ops: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.json }
auth:
  oauth:
    issuer: "${issuer}"
    resource: "${RESOURCE}"
    grantClaim: client_id
    policy: policy.json
approvals:
  approvers:
    cleo: { oauthSubject: "cleo@desk" }
    ana: { token: "${ANA}" }
`,
      files: { "policy.json": JSON.stringify(policy) },
      extraUpstreams: [{ name: "bank", server: fakeUpstream(calls) }],
    });
  }, 30_000);
  afterAll(async () => {
    await t?.close();
    as.closeAllConnections();
    await new Promise<void>((r) => as.close(() => r()));
  });

  const decide = (bearer: string, id: string) =>
    fetch(`${t.gw.url}/admin/api/approvals/${id}/approve`, {
      method: "POST",
      headers: { Authorization: `Bearer ${bearer}` },
    });
  async function held(amount: number) {
    for (let i = 0; i < 400; i++) {
      const p = (await t.gw.approvals.listPending()).find((a) => a.arguments.amount === amount);
      if (p) return p;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("not held");
  }

  it("an approver's own call (same subject, any grant) cannot be approved by them; others' can", async () => {
    const cleoToken = await token("cleo@desk", "cleo-laptop");
    // Cleo calls through the grant her client maps to ("desk-bot"), not a grant she is linked to.
    const agent = await t.connect(await token("cleo@desk", "desk-bot"));
    const own = agent.callTool({
      name: "transfer_funds",
      arguments: { amount: 1, apiSecret: "x" },
    });
    const mine = await held(1);
    expect(mine).toMatchObject({ grant: "desk-bot", subject: "cleo@desk" });
    const self = await decide(cleoToken, mine.id);
    expect(self.status).toBe(403);
    expect(((await self.json()) as { message: string }).message).toContain(
      "nobody approves their own call",
    );
    // Someone else's token, not an approver: refused outright.
    expect((await decide(await token("mallory", "x"), mine.id)).status).toBe(401);
    expect((await decide(ANA, mine.id)).status).toBe(200);
    expect((await own).isError, textOf(await own)).toBeFalsy();

    // Dan's call: Cleo may approve it, with her access token, and sign in with it too.
    const dan = await t.connect(await token("dan@desk", "desk-bot"));
    const his = dan.callTool({ name: "transfer_funds", arguments: { amount: 2, apiSecret: "x" } });
    const theirs = await held(2);
    expect((await decide(cleoToken, theirs.id)).status).toBe(200);
    expect((await his).isError).toBeFalsy();
    const signIn = await fetch(`${t.gw.url}/admin/api/session`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ credential: cleoToken }),
    });
    expect(signIn.status).toBe(200);
    expect(await signIn.json()).toMatchObject({ approver: "cleo" });
    expect(signIn.headers.get("set-cookie")).toMatch(/HttpOnly;.*SameSite=Strict/i);
    expect(calls).toEqual(["transfer:1", "transfer:2"]);
  }, 30_000);
});
