// Authentication games against the real gateway process. Every way of presenting a key
// the gateway must not accept gets 401 (with WWW-Authenticate on /mcp), the admin token
// and the API keys are not interchangeable, and the upstream behind the gateway never
// sees any of it: no call, no session. Oversized bodies get 413, foreign origins and
// foreign Host names 403, and clients too slow to send their request are cut off (408).
import { request } from "node:http";
import { connect as netConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
  connectClient,
  endSession,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  startFixtureUpstream,
  startGateway,
  waitFor,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTP request with exactly the headers given (name spelling kept as written), so the
 * test controls what fetch would normalise.
 */
function raw(
  url: string,
  opts: { method?: string; headers?: Array<[string, string]>; body?: string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // Bounded: a request the gateway never answers fails here, naming itself.
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${opts.method ?? "POST"} ${url} within 15 s`));
    }, 15_000);
    const req = request(url, { method: opts.method ?? "POST", setHost: true }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    for (const [k, v] of opts.headers ?? []) req.setHeader(k, v);
    if (opts.body !== undefined) req.setHeader("content-length", Buffer.byteLength(opts.body));
    req.end(opts.body);
  });
}

/** The gateway's default body limit (mcp-express `maxBodyBytes`). */
const BODY_LIMIT = 4 * 1024 * 1024;

/**
 * Starts a POST and writes `send` bytes of body in 64 KiB writes, never ending it, then
 * waits for the gateway's answer. `announce` sets a Content-Length (else the body is
 * chunked). A gateway that refuses a body must answer without waiting for the rest; and
 * since the test stops writing, the refused connection is closed cleanly (a client still
 * pushing bytes into it could be reset before it reads the answer).
 */
function upload(
  url: string,
  headers: Array<[string, string]>,
  send: number,
  announce?: number,
): Promise<RawResponse & { sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to an upload within 15 s (sent ${sent} bytes)`));
    }, 15_000);
    const req = request(url, { method: "POST" }, (res) => {
      answered = true;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      const done = () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, sent });
        req.destroy();
      };
      res.on("end", done);
      res.on("error", done);
    });
    req.on("error", (e) => {
      if (answered) return;
      clearTimeout(timer);
      reject(e);
    });
    for (const [k, v] of headers) req.setHeader(k, v);
    if (announce !== undefined) req.setHeader("content-length", announce);
    req.flushHeaders();
    const chunk = Buffer.alloc(64 * 1024, "x");
    const next = () => {
      if (answered || req.destroyed || sent >= send) return;
      const part = chunk.subarray(0, Math.min(chunk.length, send - sent));
      sent += part.length;
      req.write(part, () => setImmediate(next));
    };
    next();
  });
}

const INIT = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "auth-games", version: "1" },
  },
});
const CALL = JSON.stringify({
  jsonrpc: "2.0",
  id: 2,
  method: "tools/call",
  params: { name: "work", arguments: { id: "sneaky" } },
});
const MCP_HEADERS: Array<[string, string]> = [
  ["content-type", "application/json"],
  ["accept", "application/json, text/event-stream"],
];

describe("auth against the real process", () => {
  let up: FixtureUpstream;
  let gw: GatewayProcess;
  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "auth-up" });
    gw = await startGateway({
      name: "auth-gw",
      config: [
        ...fixtureConfigLines(up.url),
        // Every refusal here must be checked, not throttled (the throttle is attacker.test.ts's).
        "authThrottle: { freeFailures: 100000 }",
        "audit: { path: audit.jsonl }",
      ].join("\n"),
      files: { "policy.yaml": 'version: "1"\ndefault: deny\ntools:\n  work: {}\n' },
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await up?.stop();
    expectNoSecrets(gw.dir);
  });

  const key = SECRETS.agentKey;
  const flipCase = (s: string) =>
    [...s].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join("");
  /** Ways to present a credential that must all be refused on /mcp. */
  const refused: Array<[string, Array<[string, string]>, string?]> = [
    ["no credential", []],
    ["empty bearer", [["Authorization", "Bearer "]]],
    ["bearer without a space", [["Authorization", `Bearer${key}`]]],
    ["wrong key", [["Authorization", `Bearer ${SECRETS.otherKey}`]]],
    ["key with a different case", [["Authorization", `Bearer ${flipCase(key)}`]]],
    ["key cut short", [["Authorization", `Bearer ${key.slice(0, -1)}`]]],
    ["key with a suffix", [["Authorization", `Bearer ${key}x`]]],
    [
      "key as Basic credentials",
      [["Authorization", `Basic ${Buffer.from(`${key}:`).toString("base64")}`]],
    ],
    ["key without a scheme", [["Authorization", key]]],
    ["two keys in one header", [["Authorization", `Bearer ${SECRETS.otherKey}, Bearer ${key}`]]],
    ["Bearer inside X-API-Key", [["X-API-Key", `Bearer ${key}`]]],
    ["admin token as the API key", [["Authorization", `Bearer ${SECRETS.adminToken}`]]],
    ["admin token in X-API-Key", [["X-API-Key", SECRETS.adminToken]]],
    ["key in the query string", [], `?api_key=${key}`],
    ["key in the query string as access_token", [], `?access_token=${key}`],
    ["key in a cookie", [["Cookie", `api_key=${key}`]]],
    ["key in a Proxy-Authorization header", [["Proxy-Authorization", `Bearer ${key}`]]],
  ];

  it("answers 401 with WWW-Authenticate to every bad credential on /mcp, and forwards nothing", async () => {
    const before = await up.stats();
    for (const [what, headers, query] of refused) {
      for (const body of [INIT, CALL]) {
        const extra: Array<[string, string]> =
          body === CALL ? [["mcp-session-id", "00000000-0000-0000-0000-000000000000"]] : [];
        const r = await raw(`${gw.mcpUrl}${query ?? ""}`, {
          headers: [...MCP_HEADERS, ...headers, ...extra],
          body,
        });
        recordClientText(`auth ${what}`, r.body);
        expect({ what, status: r.status }).toEqual({ what, status: 401 });
        expect(r.headers["www-authenticate"], what).toBe('Bearer realm="toolgate"');
        expect(JSON.parse(r.body), what).toMatchObject({
          error: { data: { code: "UNAUTHORIZED" } },
        });
      }
      for (const method of ["GET", "DELETE"]) {
        const r = await raw(`${gw.mcpUrl}${query ?? ""}`, {
          method,
          headers: [["accept", "text/event-stream"], ...headers],
        });
        recordClientText(`auth ${what} ${method}`, r.body);
        expect({ what, method, status: r.status }).toEqual({ what, method, status: 401 });
      }
    }
    // The upstream saw nothing: no call ran, no session was opened for any of it.
    const after = await up.stats();
    expect(after.calls).toEqual({});
    expect(after.sessions).toBe(before.sessions);
    expect(await gw.metric("toolgate_sessions")).toBe(0);
    expect(await gw.metric("toolgate_decisions_total")).toBeNaN();
  });

  it("takes the right key however the header name is spelled, and a scheme in any case", async () => {
    for (const headers of [
      [["AUTHORIZATION", `Bearer ${key}`]],
      [["authorization", `bearer ${key}`]],
      [["Authorization", `BEARER   ${key}  `]],
      [["x-API-key", key]],
    ] as Array<Array<[string, string]>>) {
      const r = await raw(gw.mcpUrl, { headers: [...MCP_HEADERS, ...headers], body: INIT });
      expect({ headers: headers.map((h) => h[0]), status: r.status }).toEqual({
        headers: headers.map((h) => h[0]),
        status: 200,
      });
      const sid = r.headers["mcp-session-id"] as string;
      const del = await raw(gw.mcpUrl, {
        method: "DELETE",
        headers: [...headers, ["mcp-session-id", sid]],
      });
      expect(del.status).toBe(200);
    }
    expect(await gw.metric("toolgate_sessions")).toBe(0);
  });

  it("keeps the admin API and /mcp credentials apart", async () => {
    const refusedAdmin: Array<[string, Array<[string, string]>, string?]> = [
      ["no token", []],
      ["the API key", [["Authorization", `Bearer ${key}`]]],
      ["the API key in X-API-Key", [["X-API-Key", key]]],
      ["the token in the query string", [], `?token=${SECRETS.adminToken}`],
      [
        "the token with a different case",
        [["Authorization", `Bearer ${flipCase(SECRETS.adminToken)}`]],
      ],
      [
        "the token as Basic",
        [
          [
            "Authorization",
            `Basic ${Buffer.from(`admin:${SECRETS.adminToken}`).toString("base64")}`,
          ],
        ],
      ],
    ];
    for (const [what, headers, query] of refusedAdmin) {
      for (const [method, path] of [
        ["GET", "approvals"],
        ["GET", "counters"],
        ["GET", "decisions"],
        ["POST", "approvals/x/approve"],
      ] as const) {
        const r = await raw(`${gw.url}/admin/api/${path}${query ?? ""}`, {
          method,
          headers: [["content-type", "application/json"], ...headers],
          body: method === "POST" ? "{}" : undefined,
        });
        recordClientText(`admin auth ${what}`, r.body);
        expect({ what, path, status: r.status }).toEqual({ what, path, status: 401 });
        expect(r.headers["www-authenticate"], what).toMatch(/^Bearer /);
      }
    }
    const ok = await raw(`${gw.url}/admin/api/approvals`, {
      method: "GET",
      headers: [["Authorization", `Bearer ${SECRETS.adminToken}`]],
    });
    expect(ok.status).toBe(200);
    expect((await up.stats()).calls).toEqual({});
  });

  it("refuses oversized bodies with 413, announced or streamed, and foreign origins with 403", async () => {
    const auth: Array<[string, string]> = [["Authorization", `Bearer ${key}`]];
    // Announced: refused on the Content-Length alone, before any of the body is sent.
    const announced = await upload(gw.mcpUrl, [...MCP_HEADERS, ...auth], 0, BODY_LIMIT + 1);
    recordClientText("auth oversized", announced.body);
    expect(announced.status).toBe(413);
    expect(JSON.parse(announced.body)).toMatchObject({
      error: { data: { code: "BODY_TOO_LARGE" } },
    });
    // Chunked: refused once the bytes received pass the limit.
    const streamed = await upload(
      gw.mcpUrl,
      [...MCP_HEADERS, ...auth, ["transfer-encoding", "chunked"]],
      BODY_LIMIT + 64 * 1024,
    );
    recordClientText("auth oversized chunked", streamed.body);
    expect(streamed.status).toBe(413);

    for (const origin of [
      "http://evil.example",
      "null",
      "http://localhost.evil.example",
      "https://127.0.0.1.nip.io",
    ]) {
      const r = await raw(gw.mcpUrl, {
        headers: [...MCP_HEADERS, ...auth, ["Origin", origin]],
        body: INIT,
      });
      recordClientText(`auth origin ${origin}`, r.body);
      expect({ origin, status: r.status }).toEqual({ origin, status: 403 });
    }
    // A local page (the MCP Inspector) is let in.
    const local = await raw(gw.mcpUrl, {
      headers: [...MCP_HEADERS, ...auth, ["Origin", "http://localhost:6274"]],
      body: INIT,
    });
    expect(local.status).toBe(200);
    await raw(gw.mcpUrl, {
      method: "DELETE",
      headers: [...auth, ["mcp-session-id", local.headers["mcp-session-id"] as string]],
    });

    expect((await up.stats()).calls).toEqual({});
    expect(gw.child.exitCode).toBeNull();
    // And the right key still works end to end after all of it.
    const client = await connectClient(gw.mcpUrl);
    const r = await client.callTool({ name: "work", arguments: { id: "fine" } });
    expect(r.content).toEqual([{ type: "text", text: "done:fine" }]);
    await endSession(client);
    expect((await up.stats()).calls).toEqual({ fine: 1 });
  });
});

/**
 * Writes `text` on a raw TCP connection (so the request can be malformed or left
 * unfinished), then waits, bounded, for the gateway to close it; resolves with what it
 * answered and how long it took.
 */
function rawTcp(port: number, text: string): Promise<{ reply: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = netConnect(port, "127.0.0.1");
    let reply = "";
    sock.on("data", (d) => {
      reply += d.toString("latin1");
    });
    sock.on("error", () => {
      // A reset is an answer too: the close below reports it.
    });
    sock.on("close", () => {
      clearTimeout(cap);
      resolve({ reply, ms: Date.now() - started });
    });
    // Far above the limits under test: only a gateway that never cuts the client off
    // gets here, and the test then fails on the time measured.
    const cap = setTimeout(() => sock.destroy(), 20_000);
    sock.write(text);
  });
}

describe("Host check and slow clients against the real process", () => {
  let up: FixtureUpstream;
  let gw: GatewayProcess;
  let port: number;
  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "host-up" });
    gw = await startGateway({
      name: "host-gw",
      config: [
        ...fixtureConfigLines(up.url),
        'allowedHosts: ["gw.example.test"]',
        "httpTimeouts: { headersMs: 500, requestMs: 1000, keepAliveMs: 1000 }",
        "audit: { path: audit.jsonl }",
      ].join("\n"),
      files: { "policy.yaml": 'version: "1"\ndefault: deny\ntools:\n  work: {}\n' },
    });
    port = Number(new URL(gw.url).port);
  });
  afterAll(async () => {
    await gw?.stop();
    await up?.stop();
    expectNoSecrets(gw.dir);
  });

  const auth: Array<[string, string]> = [["Authorization", `Bearer ${SECRETS.agentKey}`]];

  it("refuses foreign Host names with 403 (key or not) and serves loopback names and allowedHosts", async () => {
    const before = await up.stats();
    for (const host of [
      "evil.example",
      `evil.example:${port}`,
      `127.0.0.1.evil.example:${port}`,
      `localhost.evil.example`,
      "gw.example.test.evil.example",
      "10.0.0.5",
    ]) {
      for (const headers of [auth, []]) {
        const r = await raw(gw.mcpUrl, {
          headers: [...MCP_HEADERS, ...headers, ["Host", host]],
          body: INIT,
        });
        recordClientText(`host ${host}`, r.body);
        expect({ host, status: r.status }).toEqual({ host, status: 403 });
      }
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "LOCALHOST", "gw.example.test"]) {
      const r = await raw(gw.mcpUrl, {
        headers: [...MCP_HEADERS, ...auth, ["Host", host]],
        body: INIT,
      });
      expect({ host, status: r.status }).toEqual({ host, status: 200 });
      await raw(gw.mcpUrl, {
        method: "DELETE",
        headers: [...auth, ["mcp-session-id", String(r.headers["mcp-session-id"])]],
      });
    }
    // A request with no Host at all is malformed HTTP/1.1.
    const none = await rawTcp(
      port,
      `POST /mcp HTTP/1.1\r\nAuthorization: Bearer ${SECRETS.agentKey}\r\nContent-Type: application/json\r\nContent-Length: ${INIT.length}\r\nConnection: close\r\n\r\n${INIT}`,
    );
    expect(none.reply).toMatch(/^HTTP\/1\.1 (400|403)/);
    // Refused hosts never reached the upstream: only the four accepted sessions did.
    const after = await up.stats();
    expect(after.calls).toEqual({});
    expect(after.sessions).toBe(before.sessions);
    expect(await gw.metric("toolgate_sessions")).toBe(0);
  });

  it("cuts off clients that stall their headers or body, while serving others", async () => {
    const head = [
      "POST /mcp HTTP/1.1",
      `Host: 127.0.0.1:${port}`,
      `Authorization: Bearer ${SECRETS.agentKey}`,
      "Content-Type: application/json",
      "Accept: application/json, text/event-stream",
    ].join("\r\n");
    // Headers never finished, and a body that stops after its first bytes.
    const slowHeaders = rawTcp(port, `${head}\r\n`);
    const slowBody = rawTcp(port, `${head}\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":"2.0",`);
    // Meanwhile a normal client is served as usual.
    const client = await connectClient(gw.mcpUrl);
    const r = await client.callTool({ name: "work", arguments: { id: "meanwhile" } });
    expect(r.content).toEqual([{ type: "text", text: "done:meanwhile" }]);
    for (const [what, p] of [
      ["headers", slowHeaders],
      ["body", slowBody],
    ] as const) {
      const { reply, ms } = await p;
      recordClientText(`slow ${what}`, reply);
      // Cut off with a 408, or just closed; well before the 20 s cap.
      expect({ what, reply: reply.slice(0, 12) }).toMatchObject({
        what,
        reply: expect.stringMatching(/^(HTTP\/1\.1 408)?$/),
      });
      expect(ms, what).toBeLessThan(10_000);
    }
    await endSession(client);
    await waitFor(
      "nothing in flight",
      async () => (await gw.metric("toolgate_in_flight_requests")) === 0,
    );
    expect((await up.stats()).calls).toEqual({ meanwhile: 1 });
    expect(gw.child.exitCode).toBeNull();
  });
});
