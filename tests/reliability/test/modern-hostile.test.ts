// MCP 2026-07-28 against real gateway processes on one Redis: MRTR state issued by one
// instance is honoured by the other (shared stateSecret) and spent once across both;
// hostile 2026 input — header/body mismatch, missing headers, unknown versions, `_meta`
// of wrong types, forged, rebound and replayed `requestState` — each gets its JSON-RPC
// error, reaches no upstream and reserves nothing (the counters say so).
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { toNodeHandler } from "@modelcontextprotocol/node";
import {
  acceptedContent,
  createMcpHandler,
  inputRequired,
  McpServer,
} from "@modelcontextprotocol/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import type {} from "../../../packages/rate-limit-store/test/redis-global-setup.js";
import { adminCounters, type GatewayProcess, startGateway } from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

const V = "2026-07-28";
const prefix = `tg-rel-modern-h-${randomUUID().slice(0, 8)}:`;
const redisUrl = inject("redisUrl");

/** The SDK v2 upstream, in this process: counts the `tools/call` POSTs it gets and the tool runs. */
async function modernUpstream() {
  const seen = { posts: 0, runs: 0 };
  const yes = z.object({ yes: z.boolean() });
  const handler = createMcpHandler(
    () => {
      const s = new McpServer({ name: "modern-up", version: "2.0.0" });
      s.registerTool(
        "confirm",
        { inputSchema: z.object({ what: z.string() }) },
        async ({ what }, ctx) => {
          if (!acceptedContent(ctx.mcpReq.inputResponses, "ok", yes)) {
            return inputRequired({
              inputRequests: {
                ok: inputRequired.elicit({ message: "sure?", requestedSchema: yes }),
              },
              requestState: `up:${what}`,
            });
          }
          seen.runs++;
          return {
            content: [{ type: "text", text: `${what} done (${ctx.mcpReq.requestState()})` }],
          };
        },
      );
      return s;
    },
    { legacy: "reject" },
  );
  const node = toNodeHandler(handler);
  const server: Server = createServer((req, res) => {
    // Discovery and listing are the gateway's own session set-up: only calls count.
    if (req.headers["mcp-method"] === "tools/call") seen.posts++;
    void node(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, seen, server };
}

const envelope = (extra: Record<string, unknown> = {}) => ({
  "io.modelcontextprotocol/protocolVersion": V,
  "io.modelcontextprotocol/clientCapabilities": { elicitation: { form: {} } },
  "io.modelcontextprotocol/clientInfo": { name: "rel", version: "1" },
  ...extra,
});
const goodHeaders: Record<string, string> = {
  "mcp-protocol-version": V,
  "mcp-method": "tools/call",
  "mcp-name": "confirm",
};

async function send(
  gw: GatewayProcess,
  params: Record<string, unknown>,
  headers: Record<string, string | undefined> = goodHeaders,
  key: string = SECRETS.agentKey,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const h: Record<string, string> = {
    authorization: `Bearer ${key}`,
    accept: "application/json, text/event-stream",
    "content-type": "application/json",
  };
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) h[k] = v;
  const r = await fetch(gw.mcpUrl, {
    method: "POST",
    headers: h,
    body: JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/call", params }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

const call = (args: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name: "confirm",
  arguments: args,
  _meta: envelope(),
  ...extra,
});
const answers = { ok: { action: "accept", content: { yes: true } } };

describe("MCP 2026 MRTR and hostile input against two gateway processes on Redis", () => {
  let up: Awaited<ReturnType<typeof modernUpstream>>;
  const gws: GatewayProcess[] = [];

  beforeAll(async () => {
    up = await modernUpstream();
    const config = [
      "upstreams:",
      `  - { name: m, url: "${up.url}", protocol: "2026-07-28" }`,
      "grants:",
      `  agent: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.yaml }`,
      `  other: { apiKey: "\${TOOLGATE_OTHER_KEY}", policy: policy.yaml }`,
      `store: "${redisUrl}/0?prefix=${prefix}"`,
      `stateSecret: "\${TOOLGATE_STATE_SECRET}"`,
    ].join("\n");
    const policy = [
      'version: "1"',
      "default: deny",
      "tools:",
      "  confirm:",
      "    limits: [{ counter: confirms, window: hour, max: 5, scope: grant }]",
    ].join("\n");
    gws.push(
      ...(await Promise.all(
        ["modern-h-a", "modern-h-b"].map((name) =>
          startGateway({
            name,
            config,
            files: { "policy.yaml": policy },
            env: { TOOLGATE_STATE_SECRET: SECRETS.stateSecret },
          }),
        ),
      )),
    );
  });
  afterAll(async () => {
    await Promise.all(gws.map((g) => g.stop()));
    up?.server.closeAllConnections();
    up?.server.close();
  });

  const used = async () =>
    (await adminCounters(gws[0]!))
      .filter((c) => c.counter === "confirms")
      .reduce((a, c) => a + c.used, 0);

  it("a state issued by one instance completes on the other, once, counted once", async () => {
    const [a, b] = gws as [GatewayProcess, GatewayProcess];
    const first = await send(a, call({ what: "x" }));
    const result = first.body.result as Record<string, unknown>;
    expect(result.resultType).toBe("input_required");
    const token = result.requestState as string;
    expect(token.startsWith("tgs1.")).toBe(true);
    expect(await used()).toBe(1);
    const done = await send(
      b,
      call({ what: "x" }, { inputResponses: answers, requestState: token }),
    );
    expect((done.body.result as Record<string, unknown>).content).toEqual([
      { type: "text", text: "x done (up:x)" },
    ]);
    expect(await used()).toBe(1);
    const posts = up.seen.posts;
    // Replayed on either instance: refused, nothing forwarded, nothing counted.
    for (const gw of [a, b]) {
      const again = await send(
        gw,
        call({ what: "x" }, { inputResponses: answers, requestState: token }),
      );
      expect(again.body.error).toMatchObject({
        code: -32602,
        data: { reason: "invalid_request_state" },
      });
    }
    expect(up.seen.posts).toBe(posts);
    expect(await used()).toBe(1);
  });

  it("hostile 2026 requests: the right error, nothing forwarded, nothing reserved", async () => {
    const [a, b] = gws as [GatewayProcess, GatewayProcess];
    const first = await send(a, call({ what: "y" }));
    const token = (first.body.result as Record<string, unknown>).requestState as string;
    const before = await used();
    const posts = up.seen.posts;
    const runs = up.seen.runs;
    const retry = (extra: Record<string, unknown>, args = { what: "y" }) =>
      call(args, { inputResponses: answers, ...extra });
    const cases: Array<
      [string, Record<string, unknown>, Record<string, string | undefined>, number, number, string?]
    > = [
      [
        "Mcp-Name differs",
        call({ what: "y" }),
        { ...goodHeaders, "mcp-name": "other" },
        400,
        -32020,
      ],
      [
        "Mcp-Name missing",
        call({ what: "y" }),
        { ...goodHeaders, "mcp-name": undefined },
        400,
        -32020,
      ],
      [
        "Mcp-Method differs",
        call({ what: "y" }),
        { ...goodHeaders, "mcp-method": "tools/list" },
        400,
        -32020,
      ],
      [
        "Mcp-Method missing",
        call({ what: "y" }),
        { ...goodHeaders, "mcp-method": undefined },
        400,
        -32020,
      ],
      [
        "version header missing",
        call({ what: "y" }),
        { ...goodHeaders, "mcp-protocol-version": undefined },
        400,
        -32020,
      ],
      [
        "unknown version",
        {
          ...call({ what: "y" }),
          _meta: envelope({ "io.modelcontextprotocol/protocolVersion": "2031-01-01" }),
        },
        { ...goodHeaders, "mcp-protocol-version": "2031-01-01" },
        400,
        -32022,
      ],
      [
        "capabilities not an object",
        {
          ...call({ what: "y" }),
          _meta: envelope({ "io.modelcontextprotocol/clientCapabilities": [] }),
        },
        goodHeaders,
        400,
        -32602,
      ],
      [
        "clientInfo of the wrong type",
        { ...call({ what: "y" }), _meta: envelope({ "io.modelcontextprotocol/clientInfo": "me" }) },
        goodHeaders,
        400,
        -32602,
      ],
      [
        "progressToken of the wrong type",
        { ...call({ what: "y" }), _meta: envelope({ progressToken: { a: 1 } }) },
        goodHeaders,
        400,
        -32602,
      ],
      [
        "forged state",
        retry({ requestState: `${token.slice(0, -4)}AAAA` }),
        goodHeaders,
        200,
        -32602,
        "invalid_request_state",
      ],
      [
        "the upstream's bare state",
        retry({ requestState: "up:y" }),
        goodHeaders,
        200,
        -32602,
        "invalid_request_state",
      ],
      [
        "state of the wrong type",
        retry({ requestState: { s: "up:y" } }),
        goodHeaders,
        200,
        -32602,
        "invalid_request_state",
      ],
      [
        "state for other arguments",
        retry({ requestState: token }, { what: "z" }),
        goodHeaders,
        200,
        -32602,
        "invalid_request_state",
      ],
    ];
    for (const [what, params, headers, status, code, reason] of cases) {
      const r = await send(b, params, headers);
      expect([r.status, (r.body.error as { code?: number } | undefined)?.code], what).toEqual([
        status,
        code,
      ]);
      expect(r.body.id, what).toBe(5);
      if (reason) expect((r.body.error as { data?: unknown }).data, what).toEqual({ reason });
    }
    // Another grant presenting the token.
    const other = await send(b, retry({ requestState: token }), goodHeaders, SECRETS.otherKey);
    expect(other.body.error).toMatchObject({ code: -32602 });
    // The same call sent as a notification (no id), and carrying the sealed state: a
    // notification gets no answer, so it must never run.
    for (const params of [call({ what: "y" }), retry({ requestState: token })]) {
      const r = await fetch(b.mcpUrl, {
        method: "POST",
        headers: {
          ...goodHeaders,
          authorization: `Bearer ${SECRETS.agentKey}`,
          accept: "application/json, text/event-stream",
          "content-type": "application/json",
        },
        body: JSON.stringify({ jsonrpc: "2.0", method: "tools/call", params }),
      });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error?: unknown }).error).toMatchObject({ code: -32600 });
    }
    expect(up.seen.posts).toBe(posts);
    expect(up.seen.runs).toBe(runs);
    expect(await used()).toBe(before);
    // The real retry still works afterwards: nothing above spent it.
    const ok = await send(a, retry({ requestState: token }));
    expect((ok.body.result as Record<string, unknown>).content).toEqual([
      { type: "text", text: "y done (up:y)" },
    ]);
    expect(await used()).toBe(before);
  });
});
