/**
 * Per-grant and per-identity upstream headers against a real HTTP upstream that records
 * every request's headers: each grant's connection carries its own values, and nothing
 * of the client's request (its Authorization above all) reaches the upstream.
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from "@modelcontextprotocol/client";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { compilePolicy } from "@toolgate/policy-engine";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToolgateMcp, renderHeaders } from "../src/index.js";
import { httpUpstreamSchema } from "../src/transports/http.js";
import { connect, type RunningGateway, startGateway } from "./harness.js";

const KEY_A = "client-key-of-grant-a-0123456789";
const KEY_B = "client-key-of-grant-b-0123456789";

describe("per-grant upstream headers", () => {
  const seen: IncomingHttpHeaders[] = [];
  /** Upstream sessions opened by the gateway's start-up health probe (no identity). */
  const probeSessions = new Set<string>();
  let upstream: Server;
  let gw: RunningGateway;
  beforeAll(async () => {
    const transports = new Map<string, StreamableHTTPServerTransport>();
    const app = express();
    app.use(express.json());
    app.all("/mcp", async (req, res) => {
      seen.push(req.headers);
      const sid = req.headers["mcp-session-id"];
      let t = typeof sid === "string" ? transports.get(sid) : undefined;
      if (!t) {
        const server = new McpServer({ name: "recorder", version: "1.0.0" });
        // The tool answers with the headers of the request that carried the call.
        server.registerTool("whoami", {}, async (extra) => ({
          content: [
            {
              type: "text",
              text: JSON.stringify({
                account: extra.requestInfo?.headers["x-account"],
                key: extra.requestInfo?.headers["x-account-key"] ?? null,
              }),
            },
          ],
        }));
        const byProbe = req.body?.params?.clientInfo?.name === "toolgate-probe";
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: randomUUID,
          onsessioninitialized: (id) => {
            transports.set(id, created);
            if (byProbe) probeSessions.add(id);
          },
        });
        await server.connect(created);
        t = created;
      }
      await t.handleRequest(req, res, req.body);
    });
    upstream = await new Promise<Server>((r) => {
      const s = app.listen(0, "127.0.0.1", () => r(s));
    });
    gw = await startGateway({
      upstreams: [
        {
          name: "bank",
          url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`,
          headers: {
            Authorization: "Bearer upstream-own-token",
            "X-Account": "desk/{{grant}}",
            "X-Static": "same-for-all",
          },
          grantHeaders: { "grant-b": { "X-Account-Key": "key-of-b" } },
        },
      ],
      apiKeys: { [KEY_A]: "grant-a", [KEY_B]: "grant-b" },
      policy: compilePolicy({ version: "1", default: "allow" }),
    });
  });
  afterAll(async () => {
    await gw?.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it("grant A's connection carries A's header, grant B's B's, and no client credential", async () => {
    const a = await connect(gw.url, KEY_A);
    const b = await connect(gw.url, KEY_B);
    const ra = await a.client.callTool({ name: "whoami", arguments: {} });
    const rb = await b.client.callTool({ name: "whoami", arguments: {} });
    const text = (r: unknown) => (r as { content: Array<{ text: string }> }).content[0]?.text;
    expect(JSON.parse(text(ra) ?? "")).toEqual({ account: "desk/grant-a", key: null });
    expect(JSON.parse(text(rb) ?? "")).toEqual({ account: "desk/grant-b", key: "key-of-b" });
    // A 2026 client (stateless, held upstream session per grant) gets its grant's too.
    const modern = new ModernClient(
      { name: "m", version: "1" },
      { versionNegotiation: { mode: "auto" } },
    );
    await modern.connect(
      new ModernTransport(new URL(gw.url), {
        requestInit: { headers: { authorization: `Bearer ${KEY_B}` } },
      }),
    );
    const rm = await modern.callTool({ name: "whoami", arguments: {} });
    expect(JSON.parse(text(rm) ?? "")).toEqual({ account: "desk/grant-b", key: "key-of-b" });
    await Promise.all([a.client.close(), b.client.close(), modern.close()]);

    expect(seen.length).toBeGreaterThan(4);
    for (const h of seen) {
      // The upstream's own credential, never the client's.
      expect(h.authorization).toBe("Bearer upstream-own-token");
      expect(JSON.stringify(h)).not.toContain(KEY_A);
      expect(JSON.stringify(h)).not.toContain(KEY_B);
      expect(h["x-static"]).toBe("same-for-all");
    }
    const accounts = new Set(seen.map((h) => h["x-account"]));
    expect(accounts).toEqual(new Set([undefined, "desk/grant-a", "desk/grant-b"]));
    // Only the start-up probe, which has no caller, goes without the templated header.
    expect(probeSessions.size).toBe(1);
    for (const h of seen.filter((x) => x["x-account"] === undefined)) {
      const sid = h["mcp-session-id"];
      expect(sid === undefined || probeSessions.has(String(sid))).toBe(true);
    }
    // B's key only ever travelled on B's connections.
    for (const h of seen.filter((x) => x["x-account"] === "desk/grant-a")) {
      expect(h["x-account-key"]).toBeUndefined();
    }
  });

  it("refuses templates that would copy the client's credential, or inject a header", () => {
    const parse = (
      headers: Record<string, string>,
      grantHeaders?: Record<string, Record<string, string>>,
    ) =>
      httpUpstreamSchema.safeParse({
        kind: "http",
        name: "u",
        url: "https://u.example/mcp",
        headers,
        grantHeaders,
      });
    const issues = (r: ReturnType<typeof parse>) =>
      r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    const copy = parse({ Authorization: "{{request.headers.authorization}}" });
    expect(issues(copy)[0]).toMatch(
      /^headers\.Authorization: \{\{request\.headers\.authorization\}\} would copy the client's credential/,
    );
    expect(issues(parse({ "X-T": "{{token}}" }))[0]).toContain(
      "would copy the client's credential",
    );
    expect(issues(parse({}, { g: { "X-T": "{{ identity.claims.email }}" } }))[0]).toMatch(
      /^grantHeaders\.g\.X-T: \{\{identity\.claims\.email\}\} is not a known placeholder; use \{\{grant\}\}/,
    );
    expect(issues(parse({ "X-A": "a\r\nX-Evil: 1" }))[0]).toContain(
      "characters a header cannot carry",
    );
    expect(issues(parse({ "Mcp-Session-Id": "x" }))[0]).toContain("set by the gateway itself");
    expect(issues(parse({ "X-A": "{{grant" }))[0]).toContain("unclosed");
    expect(parse({ "X-A": "{{ grant }}-{{subject}}" }).success).toBe(true);
    // The same refusal through the middleware's options.
    expect(() =>
      createToolgateMcp({
        upstreams: [
          { name: "u", url: "https://u.example/mcp", headers: { "X-T": "{{authorization}}" } },
        ],
        apiKeys: { k: "g" },
        policy: compilePolicy({ version: "1", default: "allow" }),
      }),
    ).toThrow(/would copy the client's credential/);
  });

  it("renders per connection: no subject means no connection, the probe sends fixed headers only", () => {
    const h = { "X-User": "{{subject}}", "X-Fixed": "f" };
    expect(renderHeaders(h, undefined, { grant: "g", subject: "alice" })).toEqual({
      "X-User": "alice",
      "X-Fixed": "f",
    });
    expect(() => renderHeaders(h, undefined, { grant: "g" })).toThrow(/needs \{\{subject\}\}/);
    expect(renderHeaders(h, undefined, undefined)).toEqual({ "X-Fixed": "f" });
    // A subject claim with a line break cannot smuggle a second header.
    expect(() => renderHeaders(h, undefined, { grant: "g", subject: "a\r\nX-Evil: 1" })).toThrow(
      /cannot carry/,
    );
  });
});
