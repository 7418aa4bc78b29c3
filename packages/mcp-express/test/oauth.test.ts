/**
 * The gateway as an OAuth 2.1 resource server against a real OpenID provider
 * (oidc-provider, in process): the MCP SDK client's own client-credentials provider
 * discovers the authorization server through the gateway's 401 and metadata, gets a
 * token bound to the gateway by a resource indicator and calls tools; forged, foreign
 * and insufficient tokens are refused with the right status and challenge and nothing
 * reaches the upstream. Traces of the same calls are checked with an in-memory exporter.
 */
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { SpanKind } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { compilePolicy } from "@toolgate/policy-engine";
import express from "express";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import Provider from "oidc-provider";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createToolgateMcp, type DecisionEvent, type ToolgateMcp } from "../src/index.js";
import { freePort, initBody, post } from "./harness.js";

const API_KEY = "sk-static-key-0123456789";

let issuer: string;
let resource: string;
let gwBase: string;
let idp: Server;
let gwServer: Server;
let upServer: Server;
let gw: ToolgateMcp;
let signing: { kid: string; priv: CryptoKey; pub: JWK };
let tokenEndpoint: string;
const seen: Array<{ headers: IncomingHttpHeaders; body: Record<string, unknown> }> = [];
const decisions: DecisionEvent[] = [];
const exporter = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
});

/** An upstream MCP server over HTTP that records every request it gets. */
async function startUpstream(): Promise<string> {
  const app = express();
  app.use(express.json());
  app.all("/mcp", async (req, res) => {
    if (req.method === "POST") seen.push({ headers: req.headers, body: req.body });
    const server = new McpServer({ name: "recorder", version: "1.0.0" });
    server.registerTool("echo", { inputSchema: { text: z.string() } }, async ({ text }) => ({
      content: [{ type: "text", text }],
    }));
    server.registerTool("trade", {}, async () => ({ content: [{ type: "text", text: "traded" }] }));
    const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => void t.close());
    await server.connect(t);
    await t.handleRequest(req, res, req.body);
  });
  const port = await freePort();
  upServer = await new Promise<Server>((r) => {
    const s = app.listen(port, "127.0.0.1", () => r(s));
  });
  return `http://127.0.0.1:${port}/mcp`;
}

async function startIdp(): Promise<void> {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  signing = {
    kid: "idp-1",
    priv: privateKey,
    pub: { ...(await exportJWK(publicKey)), kid: "idp-1", alg: "RS256", use: "sig" },
  };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: "agent",
        client_secret: "agent-secret-0123456789",
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
        scope: "mcp:tools other",
      },
      {
        client_id: "viewer",
        client_secret: "viewer-secret-0123456789",
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
        scope: "other",
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: "idp-1", alg: "RS256", use: "sig" }] },
    scopes: ["mcp:tools", "other"],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => ({
          scope: "mcp:tools other",
          audience: indicator,
          accessTokenFormat: "jwt",
          accessTokenTTL: 300,
          jwt: { sign: { alg: "RS256" } },
        }),
      },
    },
    extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => ({
      role: token.clientId === "agent" ? "trader" : "viewer",
    }),
  } as never);
  idp = await new Promise<Server>((r) => {
    const s = createServer(provider.callback()).listen(port, "127.0.0.1", () => r(s));
  });
  const conf = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
    token_endpoint: string;
  };
  tokenEndpoint = conf.token_endpoint;
}

/** A token straight from the provider's token endpoint (client credentials). */
async function providerToken(
  client: string,
  secret: string,
  scope: string,
  forResource = resource,
): Promise<string> {
  const res = await fetch(tokenEndpoint, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${client}:${secret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope, resource: forResource }),
  });
  const body = (await res.json()) as { access_token?: string; error?: string };
  if (!body.access_token) throw new Error(`token endpoint: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** A token signed with the provider's own key, with whatever claims a test needs. */
async function forge(
  claims: Record<string, unknown>,
  key = signing.priv,
  kid = signing.kid,
): Promise<string> {
  const t = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: "agent", scope: "mcp:tools", ...claims })
    .setProtectedHeader({ alg: "RS256", kid, typ: "at+jwt" })
    .setIssuer((claims.iss as string) ?? issuer)
    .setAudience((claims.aud as string) ?? resource)
    .setSubject("agent")
    .setIssuedAt(t - 10)
    .setExpirationTime((claims.exp as number) ?? t + 300)
    .sign(key);
}

beforeAll(async () => {
  const upstream = await startUpstream();
  await startIdp();
  const port = await freePort();
  gwBase = `http://127.0.0.1:${port}`;
  resource = `${gwBase}/mcp`;
  const policy = compilePolicy({
    version: "1",
    default: "allow",
    tools: {
      echo: { limits: [{ counter: "echo", window: "minute", max: 1000, scope: "user" }] },
      trade: {
        require: [
          {
            path: "identity.claims.role",
            op: "eq",
            value: "trader",
            reason: "only traders may trade",
          },
        ],
      },
    },
  });
  gw = createToolgateMcp({
    upstreams: [{ name: "recorder", url: upstream }],
    apiKeys: { [API_KEY]: "static" },
    oauth: { issuer, resource: () => resource, requiredScopes: ["mcp:tools"] },
    policy,
    tracer: tracerProvider.getTracer("test"),
    onDecision: (e) => decisions.push(e),
  });
  await gw.start();
  const app = express();
  app.use((req, res, next) => {
    if (!gw.serveOAuthMetadata(req, res)) next();
  });
  app.all("/mcp", gw.handler);
  gwServer = await new Promise<Server>((r) => {
    const s = app.listen(port, "127.0.0.1", () => r(s));
  });
});

afterAll(async () => {
  await gw?.close({ graceMs: 100 });
  for (const s of [gwServer, upServer, idp]) {
    s?.closeAllConnections();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  }
  await tracerProvider.shutdown();
});

beforeEach(() => {
  seen.length = 0;
  decisions.length = 0;
  exporter.reset();
});

function sdkClient(clientId: string, secret: string, headers: Record<string, string> = {}) {
  const authProvider = new ClientCredentialsProvider({
    clientId,
    clientSecret: secret,
    expectedIssuer: issuer,
    scope: "mcp:tools",
  });
  const client = new Client({ name: "oauth-client", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(resource), {
    authProvider,
    requestInit: { headers },
  });
  return { client, transport, authProvider };
}

describe("MCP SDK client with its client-credentials provider", () => {
  it("discovers the authorization server through the 401 and metadata, gets a token for the gateway and calls tools", async () => {
    const { client, transport, authProvider } = sdkClient("agent", "agent-secret-0123456789");
    await client.connect(transport);
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(["echo", "trade"]);
    const r = await client.callTool({ name: "echo", arguments: { text: "hi" } });
    expect(r.content).toEqual([{ type: "text", text: "hi" }]);
    const traded = await client.callTool({ name: "trade", arguments: {} });
    expect(traded.isError).toBeFalsy();
    // The provider issued a token bound to the gateway's resource URL.
    const token = authProvider.tokens()?.access_token ?? "";
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString());
    expect(payload).toMatchObject({ iss: issuer, aud: resource, client_id: "agent" });
    // Audit events name the subject and client, never the token.
    const echo = decisions.find((d) => d.tool === "echo");
    expect(echo).toMatchObject({ grant: "agent", subject: "agent", clientId: "agent" });
    expect(JSON.stringify(decisions)).not.toContain(token);
    // The upstream never sees the client's token (no passthrough).
    expect(seen.length).toBeGreaterThan(0);
    for (const s of seen) {
      expect(s.headers.authorization).toBeUndefined();
      expect(JSON.stringify(s)).not.toContain(token.slice(0, 40));
    }
    await client.close();
  });

  it("an identity condition sees the verified claim: role=viewer may not trade", async () => {
    // The viewer client may not ask for mcp:tools, so build a token with the scope by hand
    // from the provider's own key: a role the provider would give this client.
    const token = await forge({ client_id: "viewer", role: "viewer", sub: "viewer" });
    const client = new Client({ name: "viewer", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(resource), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    const r = await client.callTool({ name: "trade", arguments: {} });
    expect(r.isError).toBe(true);
    expect(JSON.stringify(r.content)).toContain("only traders may trade");
    expect(seen.some((s) => s.body.method === "tools/call")).toBe(false);
    await client.close();
  });
});

describe("refusals: right status and challenge, nothing forwarded", () => {
  const metadataUrl = () => `${gwBase}/.well-known/oauth-protected-resource/mcp`;

  async function refused(token: string | undefined, status = 401) {
    const res = await post(
      resource,
      initBody("probe"),
      token ? { authorization: `Bearer ${token}` } : {},
    );
    expect(res.status).toBe(status);
    const challenge = res.headers.get("www-authenticate") ?? "";
    expect(challenge).toContain(`resource_metadata="${metadataUrl()}"`);
    expect(seen).toEqual([]);
    return { challenge, body: (await res.json()) as { error: { message: string } } };
  }

  it("no token: 401 naming the metadata and the scope to ask for", async () => {
    const { challenge } = await refused(undefined);
    expect(challenge).toBe(`Bearer resource_metadata="${metadataUrl()}", scope="mcp:tools"`);
  });

  it("a token the provider minted for another resource", async () => {
    const other = await providerToken(
      "agent",
      "agent-secret-0123456789",
      "mcp:tools",
      "http://127.0.0.1:9/other/mcp",
    );
    const { challenge, body } = await refused(other);
    expect(challenge).toContain('error="invalid_token"');
    expect(body.error.message).toMatch(/another resource/);
  });

  it("expired, wrong issuer, unknown kid, alg none, HS256 with the public key", async () => {
    const t = Math.floor(Date.now() / 1000);
    const cases: Array<[string, string]> = [
      [await forge({ exp: t - 3600 }), "expired"],
      [await forge({ iss: "http://127.0.0.1:1" }), "another authorization server"],
      [await forge({}, (await generateKeyPair("RS256")).privateKey, "stranger"), "no signing key"],
    ];
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const claims = { iss: issuer, aud: resource, sub: "agent", exp: t + 300, scope: "mcp:tools" };
    cases.push([`${b64({ alg: "none", typ: "at+jwt" })}.${b64(claims)}.`, "algorithm none"]);
    const head = `${b64({ alg: "HS256", kid: signing.kid, typ: "at+jwt" })}.${b64(claims)}`;
    const mac = createHmac("sha256", JSON.stringify(signing.pub)).update(head).digest("base64url");
    cases.push([`${head}.${mac}`, "algorithm HS256"]);
    for (const [token, why] of cases) {
      const { challenge, body } = await refused(token);
      expect(challenge).toContain('error="invalid_token"');
      expect(body.error.message).toContain(why);
      // The refusal never echoes the token.
      expect(JSON.stringify(body) + challenge).not.toContain(token.slice(-20));
    }
  });

  it("a token without the required scope: 403 insufficient_scope naming it", async () => {
    const token = await providerToken("viewer", "viewer-secret-0123456789", "other");
    const { challenge } = await refused(token, 403);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="mcp:tools"');
  });

  it("API keys keep working next to OAuth; an unknown key gets the OAuth challenge", async () => {
    const ok = await post(resource, initBody("key"), { authorization: `Bearer ${API_KEY}` });
    expect(ok.status).toBe(200);
    seen.length = 0;
    const { challenge } = await refused("sk-wrong-key-0123456789");
    expect(challenge).toContain('error="invalid_token"');
  });

  it("serves RFC 9728 metadata at the path-suffixed and the root well-known URL", async () => {
    for (const path of [
      "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-protected-resource",
    ]) {
      const res = await fetch(`${gwBase}${path}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        resource,
        authorization_servers: [issuer],
        scopes_supported: ["mcp:tools"],
        bearer_methods_supported: ["header"],
      });
    }
  });
});

describe("traces", () => {
  it("one tools/call: request span, decision with reservation, upstream call; the upstream gets the trace context", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parent = `00-${traceId}-00f067aa0ba902b7-01`;
    const { client, transport } = sdkClient("agent", "agent-secret-0123456789", {
      traceparent: parent,
    });
    await client.connect(transport);
    exporter.reset();
    seen.length = 0;
    await client.callTool({ name: "echo", arguments: { text: "traced" } });
    const spans = exporter.getFinishedSpans();
    const byName = (n: string) => spans.find((s) => s.name === n);
    const root = byName("tools/call echo");
    const decide = byName("toolgate.decide");
    const reserve = byName("toolgate.store.reserve");
    const upstream = spans.find((s) => s.name === "tools/call echo" && s.kind === SpanKind.CLIENT);
    const server = spans.find((s) => s.name === "tools/call echo" && s.kind === SpanKind.SERVER);
    expect(root && decide && reserve && upstream && server).toBeTruthy();
    if (!decide || !reserve || !upstream || !server) return;
    expect(server.spanContext().traceId).toBe(traceId);
    expect(server.parentSpanContext?.spanId).toBe("00f067aa0ba902b7");
    expect(decide.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(reserve.parentSpanContext?.spanId).toBe(decide.spanContext().spanId);
    expect(upstream.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(server.attributes).toMatchObject({
      "mcp.method.name": "tools/call",
      "gen_ai.tool.name": "echo",
      "gen_ai.operation.name": "execute_tool",
      "toolgate.decision": "allow",
      "toolgate.grant": "agent",
      "toolgate.subject": "agent",
      "toolgate.client_id": "agent",
    });
    expect(typeof server.attributes["mcp.session.id"]).toBe("string");
    expect(decide.attributes).toMatchObject({
      "toolgate.rule": "tools.echo",
      "toolgate.reason_code": "ALLOWED",
    });
    expect(reserve.attributes).toMatchObject({ "toolgate.admitted": true });
    // The upstream got the gateway's client span as parent, in the header and in _meta.
    const call = seen.find((s) => s.body.method === "tools/call");
    const expected = `00-${traceId}-${upstream.spanContext().spanId}-01`;
    expect(call?.headers.traceparent).toBe(expected);
    expect((call?.body.params as { _meta?: Record<string, unknown> })._meta?.traceparent).toBe(
      expected,
    );
    // Nothing in any span carries the token.
    const token = (
      transport as unknown as { _authProvider: ClientCredentialsProvider }
    )._authProvider.tokens()?.access_token;
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain(String(token).slice(-20));
    await client.close();
  });
});
