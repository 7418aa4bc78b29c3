// MCP 2026-07-28 clients are stateless: any instance must serve any request. Two real
// gateway processes on one Redis, requests alternated between them (round-robin, no
// stickiness), 50 concurrent calls against a 10/minute limit: exactly 10 admitted and
// exactly 10 executed upstream. The limit is `scope: session`, which a stateless call
// counts by its grant — so the fallback is exact across instances too.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type {} from "../../../packages/rate-limit-store/test/redis-global-setup.js";
import {
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  startFixtureUpstream,
  startGateway,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

const V = "2026-07-28";
const prefix = `tg-rel-modern-${randomUUID().slice(0, 8)}:`;
const redisUrl = inject("redisUrl");

/** One stateless 2026 `tools/call` of `work`, headers and envelope as the SDK v2 client sends. */
async function call2026(mcpUrl: string, id: string): Promise<Record<string, unknown>> {
  const r = await fetch(mcpUrl, {
    method: "POST",
    headers: {
      authorization: `Bearer ${SECRETS.agentKey}`,
      accept: "application/json, text/event-stream",
      "content-type": "application/json",
      "mcp-protocol-version": V,
      "mcp-method": "tools/call",
      "mcp-name": "work",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: {
        name: "work",
        arguments: { id },
        _meta: {
          "io.modelcontextprotocol/protocolVersion": V,
          "io.modelcontextprotocol/clientCapabilities": {},
          "io.modelcontextprotocol/clientInfo": { name: "rr", version: "1" },
        },
      },
    }),
  });
  expect(r.status).toBe(200);
  const body = (await r.json()) as { id: unknown; result: Record<string, unknown> };
  expect(body.id).toBe(id);
  return body.result;
}

describe("2026 stateless calls through two gateways on Redis, round-robin", () => {
  let up: FixtureUpstream;
  const gws: GatewayProcess[] = [];

  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "modern-up" });
    const config = [
      ...fixtureConfigLines(up.url),
      `store: "${redisUrl}/0?prefix=${prefix}"`,
      "audit: { path: audit.jsonl }",
    ].join("\n");
    const policy = [
      'version: "1"',
      "default: deny",
      "tools:",
      "  work:",
      "    limits: [{ counter: create, window: minute, max: 10, scope: session }]",
    ].join("\n");
    gws.push(
      ...(await Promise.all(
        ["modern-gw-a", "modern-gw-b"].map((name) =>
          startGateway({ name, config, files: { "policy.yaml": policy } }),
        ),
      )),
    );
  });
  afterAll(async () => {
    await Promise.all(gws.map((g) => g.stop()));
    await up?.stop();
  });

  it("50 concurrent creates: exactly 10 admitted, 10 executed, the rest the policy's denial", async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call2026(gws[i % 2]!.mcpUrl, `c${i}`)),
    );
    const admitted = results.filter((r) => !r.isError);
    const denied = results.filter((r) => r.isError);
    expect(admitted).toHaveLength(10);
    expect(denied).toHaveLength(40);
    for (const r of results) expect(r.resultType).toBe("complete");
    for (const d of denied) {
      const text = (d.content as Array<{ text: string }>)[0]!.text;
      expect(text).toMatch(/^denied by policy: /);
      expect((d._meta as Record<string, { code?: string }>)["toolgate/decision"]?.code).toBe(
        "RATE_LIMITED",
      );
    }
    const executed = Object.values((await up.stats()).calls).reduce((a, b) => a + b, 0);
    expect(executed).toBe(10);
  });
});
