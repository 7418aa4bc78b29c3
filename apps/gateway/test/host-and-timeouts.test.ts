// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the config language writes ${ENV} references in plain strings
// The gateway's own defences against hostile clients: the Host check it turns on for a
// loopback listener (DNS rebinding) and the HTTP timeouts that cut off slow clients.
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadGatewayConfig, mcpAllowedHosts } from "../src/config.js";
import { GatewayError } from "../src/errors.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import {
  ADMIN_TOKEN,
  API_KEY,
  startTestGateway,
  type TestGateway,
  textOf,
} from "./helpers/gateway.js";

const POLICY = `version: "1"
default: deny
tools:
  get_time: { action: allow }
`;
const BASE = `upstreams: []\ngrants: { demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: p.yaml } }\n`;

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function start(extra = ""): Promise<TestGateway> {
  t = await startTestGateway({
    config: BASE + extra,
    files: { "p.yaml": POLICY },
    extraUpstreams: [{ name: "fake", server: fakeUpstream() }],
  });
  return t;
}

/** A POST to `path` (default /mcp) with a chosen Host header; resolves with the status. */
function postWithHost(gw: TestGateway, host: string, key?: string, path = "/mcp"): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: gw.gw.port,
        method: "POST",
        path,
        headers: {
          host,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...(key ? { authorization: `Bearer ${key}` } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }));
  });
}

function loadError(config: string): GatewayError {
  const cwd = mkdtempSync(join(tmpdir(), "toolgate-limits-"));
  writeFileSync(join(cwd, "toolgate.config.yaml"), config);
  try {
    loadGatewayConfig({ cwd, env: { TOOLGATE_API_KEY: API_KEY } });
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("config was accepted");
}

describe("Host check (DNS-rebinding protection)", () => {
  it("is on for a loopback listener, off elsewhere unless allowedHosts is set", () => {
    expect(mcpAllowedHosts("127.0.0.1", undefined)).toEqual(["localhost", "127.0.0.1", "[::1]"]);
    expect(mcpAllowedHosts("127.0.0.2", ["gw.test"])).toEqual([
      "localhost",
      "127.0.0.1",
      "[::1]",
      "127.0.0.2",
      "gw.test",
    ]);
    expect(mcpAllowedHosts("::1", undefined)).toEqual(["localhost", "127.0.0.1", "[::1]"]);
    expect(mcpAllowedHosts("LocalHost", undefined)).toContain("localhost");
    expect(mcpAllowedHosts("0.0.0.0", undefined)).toBeUndefined();
    expect(mcpAllowedHosts("10.1.2.3", undefined)).toBeUndefined();
    expect(mcpAllowedHosts("0.0.0.0", ["gw.example.com"])).toEqual(["gw.example.com"]);
    expect(mcpAllowedHosts("0.0.0.0", [])).toBeUndefined();
    expect(mcpAllowedHosts("127.0.0.1", [])).toEqual(["localhost", "127.0.0.1", "[::1]"]);
  });

  it("a loopback gateway refuses a foreign Host on /mcp (403) and serves loopback names", async () => {
    const gw = await start();
    expect(await postWithHost(gw, "evil.example", API_KEY)).toBe(403);
    expect(await postWithHost(gw, `evil.example:${gw.gw.port}`)).toBe(403);
    // Loopback names pass the Host check; then the key decides.
    expect(await postWithHost(gw, `localhost:${gw.gw.port}`)).toBe(401);
    expect(await postWithHost(gw, `127.0.0.1:${gw.gw.port}`)).toBe(401);
    // The MCP client (Host 127.0.0.1:<port>) works as before.
    const client = await gw.connect();
    expect(textOf(await client.callTool({ name: "get_time", arguments: {} }))).not.toMatch(
      /denied/,
    );
    const health = await fetch(`${gw.gw.url}/healthz`);
    expect(health.status).toBe(200);
    // The approvals page and admin API are guarded the same way (even with the token);
    // probes and metrics answer any Host, as orchestrators call them by address.
    const approve = "/admin/api/approvals/x/approve";
    expect(await postWithHost(gw, "evil.example", ADMIN_TOKEN, approve)).toBe(403);
    expect(await postWithHost(gw, "evil.example", undefined, "/admin")).toBe(403);
    // Past the Host check the admin API itself answers (400: a ping is no approval body).
    expect(await postWithHost(gw, `localhost:${gw.gw.port}`, ADMIN_TOKEN, approve)).toBe(400);
    expect(await postWithHost(gw, "evil.example", undefined, "/healthz")).toBe(404);
    const probe = await new Promise<number>((resolve, reject) => {
      request(
        {
          host: "127.0.0.1",
          port: gw.gw.port,
          path: "/readyz",
          headers: { host: "10.0.0.7:8080" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on("error", reject)
        .end();
    });
    expect([200, 503]).toContain(probe);
  });

  it("allowedHosts extends the loopback names", async () => {
    const gw = await start('allowedHosts: ["gw.test", "other.test:8443"]\n');
    expect(await postWithHost(gw, "GW.test:1234")).toBe(401);
    expect(await postWithHost(gw, "other.test:8443")).toBe(401);
    expect(await postWithHost(gw, "other.test:8444")).toBe(403);
    expect(await postWithHost(gw, "localhost")).toBe(401);
  });

  it("a malformed allowedHosts entry stops start-up with its path", () => {
    const e = loadError(`${BASE}allowedHosts: ["http://gw.test/mcp"]\n`);
    expect(e.code).toBe("CONFIG_INVALID");
    expect(e.issues.map((i) => i.path)).toContain("allowedHosts[0]");
  });
});

describe("HTTP timeouts (slow clients)", () => {
  it("defaults to 10 s for headers, 30 s per request, 5 s keep-alive", async () => {
    const gw = await start();
    expect(gw.gw.server.headersTimeout).toBe(10_000);
    expect(gw.gw.server.requestTimeout).toBe(30_000);
    expect(gw.gw.server.keepAliveTimeout).toBe(5_000);
  });

  it("refuses a headers limit above the request limit", () => {
    const e = loadError(`${BASE}httpTimeouts: { headersMs: 5000, requestMs: 1000 }\n`);
    expect(e.issues.map((i) => i.path)).toContain("httpTimeouts.headersMs");
  });

  it("cuts off a client that sends its headers byte by byte; other clients are served", async () => {
    const gw = await start("httpTimeouts: { headersMs: 300, requestMs: 600, keepAliveMs: 1000 }\n");
    expect(gw.gw.server.headersTimeout).toBe(300);
    expect(gw.gw.server.requestTimeout).toBe(600);
    expect(gw.gw.server.keepAliveTimeout).toBe(1000);
    const text = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${API_KEY}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 10\r\n\r\n`;
    const started = Date.now();
    const loris = new Promise<{ reply: string; sent: number }>((resolve) => {
      const sock = netConnect(gw.gw.port, "127.0.0.1");
      let reply = "";
      let i = 0;
      const timer = setInterval(() => {
        if (i < text.length) sock.write(text[i++] ?? "");
      }, 20);
      sock.on("data", (d) => {
        reply += d.toString("latin1");
      });
      sock.on("error", () => {});
      sock.on("close", () => {
        clearInterval(timer);
        resolve({ reply, sent: i });
      });
      setTimeout(() => sock.destroy(), 5000).unref();
    });
    const client = await gw.connect();
    const r = await client.callTool({ name: "get_time", arguments: {} });
    expect(r.isError).toBeFalsy();
    const { reply, sent } = await loris;
    expect(sent).toBeLessThan(text.length);
    expect(reply === "" || reply.startsWith("HTTP/1.1 408")).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    // A request whose body never arrives is cut off too, and nothing is left in flight.
    const stalled = await new Promise<string>((resolve) => {
      const sock = netConnect(gw.gw.port, "127.0.0.1");
      let reply = "";
      sock.on("data", (d) => {
        reply += d.toString("latin1");
      });
      sock.on("error", () => {});
      sock.on("close", () => resolve(reply));
      sock.write(`${text.replace("Content-Length: 10", "Content-Length: 100")}{"json`);
      setTimeout(() => sock.destroy(), 5000).unref();
    });
    expect(stalled === "" || stalled.startsWith("HTTP/1.1 408")).toBe(true);
    expect(gw.gw.mcp.inFlight()).toBe(0);
  });
});
