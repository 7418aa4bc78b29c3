/**
 * The gateway app with `auth.oauth`: identity conditions and per-user limits inside one
 * shared grant, exact on Redis across two instances; JWKS rotation while calls flow;
 * OpenTelemetry traces exported over OTLP/HTTP (the standard environment turns them on)
 * with the trace context reaching the upstream; the audit log names subject and client.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { compilePolicy, createPolicyEngine, parsePolicyText } from "@toolgate/policy-engine";
import express from "express";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { loadGatewayConfig } from "../src/config.js";
import { type RunningGateway, startGateway } from "../src/gateway.js";
import { banner } from "../src/serve.js";
import { memoryLogger, textOf } from "./helpers/gateway.js";

interface Key {
  kid: string;
  priv: CryptoKey;
  pub: JWK;
}
async function newKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  return {
    kid,
    priv: privateKey,
    pub: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" },
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return (server.address() as AddressInfo).port;
}

/** A minimal authorization server: RFC 8414 metadata and a JWKS that tests rotate. */
let issuer = "";
let published: JWK[] = [];
let jwksHits = 0;
const as = createServer((req, res) => {
  if (req.url === "/.well-known/oauth-authorization-server") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
  } else if (req.url === "/jwks") {
    jwksHits++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: published }));
  } else res.writeHead(404).end();
});

/** An HTTP MCP upstream that records what it receives. */
const seen: Array<{ headers: IncomingHttpHeaders; body: Record<string, unknown> }> = [];
let upstreamUrl = "";
const upApp = express();
upApp.use(express.json());
upApp.all("/mcp", async (req, res) => {
  if (req.method === "POST") seen.push({ headers: req.headers, body: req.body });
  const server = new McpServer({ name: "desk", version: "1.0.0" });
  server.registerTool("create_listen_key", {}, async () => ({
    content: [{ type: "text", text: "listen key created" }],
  }));
  server.registerTool("echo", { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: "text", text }],
  }));
  const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => void t.close());
  await server.connect(t);
  await t.handleRequest(req, res, req.body);
});
const up = createServer(upApp);

/** An OTLP/HTTP (JSON) receiver: what the gateway's exporter sends. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
}
const exported: Array<{ service: string; span: OtlpSpan }> = [];
const otlp = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    if (req.url === "/v1/traces" && String(req.headers["content-type"]).includes("json")) {
      const doc = JSON.parse(Buffer.concat(chunks).toString()) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{ spans: OtlpSpan[] }>;
        }>;
      };
      for (const rs of doc.resourceSpans) {
        const service =
          rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
        for (const ss of rs.scopeSpans)
          for (const span of ss.spans) exported.push({ service, span });
      }
    }
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
});

function attr(s: OtlpSpan, key: string): unknown {
  const v = s.attributes?.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : Object.values(v)[0];
}

let k1: Key;
let k2: Key;
let clock = Date.now();
const TRADER_POLICY = {
  version: "1",
  default: "deny",
  tools: {
    create_listen_key: {
      require: [
        {
          path: "identity.claims.role",
          op: "eq",
          value: "trader",
          reason: "only traders may create listen keys",
        },
      ],
      limits: [{ counter: "create_listen_key", window: "minute", max: 10, scope: "user" }],
    },
    echo: {},
  },
};

async function token(key: Key, sub: string, claims: Record<string, unknown> = {}) {
  const t = Math.floor(clock / 1000);
  return new SignJWT({ client_id: "desk-bot", scope: "mcp:tools", role: "trader", ...claims })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "at+jwt" })
    .setIssuer(issuer)
    .setAudience("https://desk.example.com/mcp")
    .setSubject(sub)
    .setIssuedAt(t)
    .setExpirationTime(t + 600)
    .sign(key.priv);
}

async function connect(url: string, bearer: string, traceparent?: string): Promise<Client> {
  const client = new Client({ name: "desk-agent", version: "1.0.0" });
  const headers: Record<string, string> = { authorization: `Bearer ${bearer}` };
  if (traceparent) headers.traceparent = traceparent;
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
  );
  return client;
}

function configYaml(store: string): string {
  return [
    `upstreams: [{ name: desk, url: "${upstreamUrl}" }]`,
    "grants:",
    "  ops: { apiKey: ops-api-key-0123456789, policy: trader.json }",
    `store: "${store}"`,
    "auth:",
    "  oauth:",
    `    issuer: "${issuer}"`,
    '    resource: "https://desk.example.com/mcp"',
    "    requiredScopes: [mcp:tools]",
    "    grantClaim: client_id",
    "    policies:",
    "      - { claim: role, value: trader, policy: trader.json }",
    "      - { claim: role, value: viewer, policy: trader.json }",
    "    jwksCooldownMs: 30000",
  ].join("\n");
}

async function startFrom(
  dir: string,
  env: Record<string, string> = {},
): Promise<{ gw: RunningGateway; logs: string[] }> {
  const loaded = loadGatewayConfig({
    cwd: dir,
    env: { TOOLGATE_ADMIN_TOKEN: "admin-0123456789abcdef", ...env },
  });
  loaded.config.audit.path = join(dir, `audit-${Math.random().toString(36).slice(2)}.jsonl`);
  const { logger, lines } = memoryLogger();
  const gw = await startGateway({
    loaded,
    env,
    logger,
    now: () => clock,
    listen: { host: "127.0.0.1", port: 0 },
  });
  return { gw, logs: lines };
}

function workdir(store: string): string {
  const dir = mkdtempSync(join(tmpdir(), "toolgate-oauth-"));
  writeFileSync(join(dir, "trader.json"), JSON.stringify(TRADER_POLICY));
  writeFileSync(join(dir, "toolgate.config.yaml"), configYaml(store));
  return dir;
}

beforeAll(async () => {
  issuer = `http://127.0.0.1:${await listen(as)}`;
  upstreamUrl = `http://127.0.0.1:${await listen(up)}/mcp`;
  await listen(otlp);
  k1 = await newKey("k1");
  k2 = await newKey("k2");
  published = [k1.pub];
});

afterAll(async () => {
  for (const s of [as, up, otlp]) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

describe("identity in policy across two gateways on Redis", () => {
  const gws: RunningGateway[] = [];
  const clients: Client[] = [];
  let dir = "";
  beforeAll(async () => {
    const prefix = `tg-oauth-${process.pid}-${Date.now()}:`;
    dir = workdir(`${inject("redisUrl")}?prefix=${prefix}`);
    for (let i = 0; i < 2; i++) gws.push((await startFrom(dir)).gw);
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.all(gws.map((g) => g.close()));
  });

  it("only role=trader may create listen keys, 10 per minute per user inside one client's grant", async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    const alice = [
      await connect(a.mcpUrl, await token(k1, "alice")),
      await connect(b.mcpUrl, await token(k1, "alice")),
    ];
    const bob = [
      await connect(a.mcpUrl, await token(k1, "bob")),
      await connect(b.mcpUrl, await token(k1, "bob")),
    ];
    const carol = await connect(b.mcpUrl, await token(k1, "carol", { role: "viewer" }));
    clients.push(...alice, ...bob, carol);
    const call = (c: Client) => c.callTool({ name: "create_listen_key", arguments: {} });
    // Alice alternates between the two instances: exactly 10 pass.
    const results = [];
    for (let i = 0; i < 12; i++) results.push(await call(alice[i % 2] as Client));
    expect(results.filter((r) => !r.isError)).toHaveLength(10);
    expect(results.slice(10).every((r) => r.isError)).toBe(true);
    expect(textOf(results[10])).toMatch(/10 per minute per user/);
    // Bob shares the grant (client_id desk-bot) but counts on his own.
    const bobs = [];
    for (let i = 0; i < 11; i++) bobs.push(await call(bob[i % 2] as Client));
    expect(bobs.filter((r) => !r.isError)).toHaveLength(10);
    // Carol is a viewer: refused by the identity condition, whatever her quota.
    const c = await call(carol);
    expect(c.isError).toBe(true);
    expect(textOf(c)).toContain("only traders may create listen keys");
  });

  it("the audit log and the feed record subject and client id, never the token", async () => {
    const files = readdirSync(dir).filter((f) => f.startsWith("audit-"));
    const lines = files.flatMap((f) =>
      readFileSync(join(dir, f), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    );
    const alice = lines.filter((l) => l.subject === "alice");
    expect(alice.length).toBe(12);
    expect(alice[0]).toMatchObject({ grant: "desk-bot", clientId: "desk-bot" });
    const text = files.map((f) => readFileSync(join(dir, f), "utf8")).join("");
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    const feed = gws[0]?.feed.recent(100) ?? [];
    expect(feed.some((d) => d.subject === "alice" && d.clientId === "desk-bot")).toBe(true);
  });

  it("API keys keep working next to OAuth", async () => {
    const c = await connect(gws[0]?.mcpUrl ?? "", "ops-api-key-0123456789");
    clients.push(c);
    // The ops key has no claims: the role condition fails closed, echo is allowed.
    expect((await c.callTool({ name: "create_listen_key", arguments: {} })).isError).toBe(true);
    expect(textOf(await c.callTool({ name: "echo", arguments: { text: "ok" } }))).toBe("ok");
  });
});

describe("JWKS rotation while calls flow", () => {
  it("new keys are picked up without restart; tokens of a removed key are refused", async () => {
    const dir = workdir("memory");
    const { gw } = await startFrom(dir);
    try {
      published = [k1.pub];
      const old = await token(k1, "dave");
      const c1 = await connect(gw.mcpUrl, old);
      expect(textOf(await c1.callTool({ name: "echo", arguments: { text: "one" } }))).toBe("one");
      // The issuer rotates: k2 in, k1 out. A k2 token names an unknown kid, so the gateway
      // refetches (the cool-down since its last fetch has passed) and finds it.
      published = [k2.pub];
      clock += 31_000;
      const hits = jwksHits;
      const c2 = await connect(gw.mcpUrl, await token(k2, "dave"));
      expect(textOf(await c2.callTool({ name: "echo", arguments: { text: "two" } }))).toBe("two");
      expect(jwksHits).toBe(hits + 1);
      // The refetched set has no k1: the old token is refused from now on, mid-session.
      const r = await fetch(gw.mcpUrl, {
        method: "POST",
        headers: {
          authorization: `Bearer ${old}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      });
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toContain('error="invalid_token"');
      // Unknown kids inside the cool-down cost no fetch.
      const stranger = await newKey("k9");
      for (let i = 0; i < 5; i++) {
        const x = await fetch(gw.mcpUrl, {
          method: "POST",
          headers: {
            authorization: `Bearer ${await token(stranger, "eve")}`,
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
          },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
        });
        expect(x.status).toBe(401);
      }
      expect(jwksHits).toBe(hits + 1);
      await c1.close().catch(() => {});
      await c2.close();
    } finally {
      await gw.close();
    }
  });

  it("serves the protected-resource metadata and refuses bad config with path and fix", async () => {
    const dir = workdir("memory");
    const { gw } = await startFrom(dir);
    try {
      const base = gw.url;
      const doc = await (await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)).json();
      expect(doc).toMatchObject({
        resource: "https://desk.example.com/mcp",
        authorization_servers: [issuer],
        scopes_supported: ["mcp:tools"],
      });
      const r = await fetch(gw.mcpUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
      });
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toBe(
        'Bearer resource_metadata="https://desk.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"',
      );
    } finally {
      await gw.close();
    }
    writeFileSync(
      join(dir, "toolgate.config.yaml"),
      [
        "auth:",
        "  oauth:",
        '    issuer: "http://login.example.com"',
        "    algorithms: [HS256]",
      ].join("\n"),
    );
    let issues: Array<{ path: string; message: string; fix?: string }> = [];
    try {
      loadGatewayConfig({ cwd: dir, env: {} });
    } catch (e) {
      issues = (e as { issues: typeof issues }).issues;
    }
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(["auth.oauth.issuer", "auth.oauth.algorithms[0]"]),
    );
    expect(issues.find((i) => i.path === "auth.oauth.issuer")?.message).toMatch(/https/);
    expect(issues.find((i) => i.path === "auth.oauth.algorithms[0]")?.message).toMatch(
      /never none or HS/,
    );
    // Tokens with no policy to get would all be refused: named as a config mistake.
    writeFileSync(join(dir, "toolgate.config.yaml"), `auth:\n  oauth:\n    issuer: "${issuer}"\n`);
    try {
      loadGatewayConfig({ cwd: dir, env: {} });
      issues = [];
    } catch (e) {
      issues = (e as { issues: typeof issues }).issues;
    }
    expect(issues[0]).toMatchObject({ path: "auth.oauth.policy" });
    expect(issues[0]?.message).toMatch(/every token is refused/);
  });
});

describe("default resource", () => {
  it("is the gateway's own /mcp URL once it listens (port 0 included)", async () => {
    const dir = workdir("memory");
    writeFileSync(
      join(dir, "toolgate.config.yaml"),
      configYaml("memory").replace('    resource: "https://desk.example.com/mcp"\n', ""),
    );
    const { gw } = await startFrom(dir);
    try {
      const doc = (await (
        await fetch(`${gw.url}/.well-known/oauth-protected-resource`)
      ).json()) as { resource: string };
      expect(doc.resource).toBe(gw.mcpUrl);
      // The start-up banner tells a new user where tokens come from.
      expect(banner(gw, { adminToken: "x", adminTokenGenerated: false })).toContain(
        `OAuth          tokens from ${issuer}; metadata at ${gw.url}/.well-known/oauth-protected-resource/mcp`,
      );
      const r = await fetch(gw.mcpUrl, { method: "POST" });
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toContain(
        `resource_metadata="${gw.url}/.well-known/oauth-protected-resource/mcp"`,
      );
    } finally {
      await gw.close();
    }
  });
});

describe("OpenTelemetry from the standard environment", () => {
  beforeAll(() => {
    published = [k1.pub, k2.pub];
  });

  it("exports the span tree of a tools/call over OTLP/HTTP and passes the trace context upstream", async () => {
    const dir = workdir("memory");
    const otlpPort = (otlp.address() as AddressInfo).port;
    const { gw } = await startFrom(dir, {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "toolgate-under-test",
    });
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    exported.length = 0;
    seen.length = 0;
    try {
      const c = await connect(
        gw.mcpUrl,
        await token(k1, "frank"),
        `00-${traceId}-b7ad6b7169203331-01`,
      );
      await c.callTool({ name: "create_listen_key", arguments: {} });
      await c.close();
    } finally {
      await gw.close(); // flushes the batch exporter
    }
    const spans = exported.filter((e) => e.span.traceId === traceId).map((e) => e.span);
    expect(exported.every((e) => e.service === "toolgate-under-test")).toBe(true);
    const server = spans.find((s) => s.name === "tools/call create_listen_key" && s.kind === 2);
    const client = spans.find((s) => s.name === "tools/call create_listen_key" && s.kind === 3);
    const decide = spans.find((s) => s.name === "toolgate.decide");
    const reserve = spans.find((s) => s.name === "toolgate.store.reserve");
    expect(server && client && decide && reserve).toBeTruthy();
    if (!server || !client || !decide || !reserve) return;
    expect(server.parentSpanId).toBe("b7ad6b7169203331");
    expect(decide.parentSpanId).toBe(server.spanId);
    expect(reserve.parentSpanId).toBe(decide.spanId);
    expect(client.parentSpanId).toBe(server.spanId);
    expect(attr(server, "mcp.method.name")).toBe("tools/call");
    expect(attr(server, "gen_ai.tool.name")).toBe("create_listen_key");
    expect(attr(server, "toolgate.decision")).toBe("allow");
    expect(attr(server, "toolgate.grant")).toBe("desk-bot");
    expect(attr(server, "toolgate.subject")).toBe("frank");
    expect(attr(decide, "toolgate.rule")).toBe("tools.create_listen_key");
    expect(attr(client, "toolgate.upstream")).toBe("desk");
    // The upstream saw the gateway's client span as its parent, in the header and _meta.
    const call = seen.find((s) => s.body.method === "tools/call");
    const tp = `00-${traceId}-${client.spanId}-01`;
    expect(call?.headers.traceparent).toBe(tp);
    expect((call?.body.params as { _meta?: { traceparent?: string } })._meta?.traceparent).toBe(tp);
    expect(call?.headers.authorization).toBeUndefined();
  });

  it("without OTEL_* nothing is exported, and an incoming traceparent still reaches the upstream", async () => {
    const dir = workdir("memory");
    const { gw } = await startFrom(dir);
    exported.length = 0;
    seen.length = 0;
    const traceId = "11111111111111111111111111111111";
    try {
      const c = await connect(
        gw.mcpUrl,
        await token(k1, "gina"),
        `00-${traceId}-2222222222222222-01`,
      );
      await c.callTool({ name: "echo", arguments: { text: "x" } });
      await c.close();
    } finally {
      await gw.close();
    }
    expect(exported).toEqual([]);
    const call = seen.find((s) => s.body.method === "tools/call");
    expect(call?.headers.traceparent).toBe(`00-${traceId}-2222222222222222-01`);
  });
});

describe("the README's OAuth example", () => {
  it("loads as written, and its trader policy means what the text says", async () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## OAuth access tokens"));
    const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
    const [config, trader] = blocks;
    expect(config).toContain("auth:");
    const dir = mkdtempSync(join(tmpdir(), "toolgate-readme-"));
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "toolgate.config.yaml"), config ?? "");
    writeFileSync(join(dir, "policies", "trader.yaml"), trader ?? "");
    const loaded = loadGatewayConfig({ cwd: dir, env: { CI_KEY: "ci-key-0123456789abcdef" } });
    expect(loaded.oauth).toMatchObject({
      issuer: "https://login.example.com",
      grantClaim: "client_id",
      requiredScopes: ["mcp:tools"],
    });
    expect(loaded.oauth?.policies.map((p) => p.claim)).toEqual(["role", "groups"]);
    const policy = compilePolicy(parsePolicyText(trader ?? "", { source: "trader.yaml" }));
    const engine = createPolicyEngine();
    const call = { name: "binance_us_create_listen_key" };
    const who = (sub: string, role: string) => ({ grant: "agent", sub, claims: { role } });
    for (let i = 0; i < 10; i++)
      expect((await engine.decide(policy, call, who("ann", "trader"))).effect).toBe("allow");
    expect((await engine.decide(policy, call, who("ann", "trader"))).code).toBe("RATE_LIMITED");
    expect((await engine.decide(policy, call, who("ben", "trader"))).effect).toBe("allow");
    expect((await engine.decide(policy, call, who("cid", "viewer"))).code).toBe("CONDITION_FAILED");
  });
});
