// Counter evasion against two real gateways sharing one Redis: an agent that rotates
// sessions, reconnects without saying goodbye, switches instances, or swaps
// `Authorization: Bearer` for `X-API-Key` is still the same grant, and a grant-scoped
// limit does not start over for it. Another grant has a counter of its own.
import { randomUUID } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type {} from "../../../packages/rate-limit-store/test/redis-global-setup.js";
import { expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
  adminCounters,
  endSession,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  startFixtureUpstream,
  startGateway,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

const MAX = 10;
const prefix = `tg-rel-evasion-${randomUUID().slice(0, 8)}:`;
const redisUrl = inject("redisUrl");

/** How a client presents its key. */
type KeyStyle = "bearer" | "bearer-lowercase" | "x-api-key";

/** Opens a session presenting `key` the given way. */
async function connectAs(mcpUrl: string, key: string, style: KeyStyle): Promise<Client> {
  const headers: Record<string, string> =
    style === "x-api-key"
      ? { "X-API-Key": key }
      : { Authorization: `${style === "bearer" ? "Bearer" : "bearer"} ${key}` };
  const client = new Client({ name: "evasion", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers } }),
  );
  return client;
}

/** One `work` call: "ok", "limited" (the grant's rate limit), or what else came back. */
async function work(client: Client, id: string): Promise<string> {
  try {
    const r = await client.callTool({ name: "work", arguments: { id } });
    const text = (r.content as Array<{ text?: string }> | undefined)?.[0]?.text ?? "";
    if (!r.isError && text === `done:${id}`) return "ok";
    recordClientText("evasion", text);
    const code = (r._meta as Record<string, { code?: unknown }> | undefined)?.["toolgate/decision"]
      ?.code;
    if (
      r.isError &&
      code === "RATE_LIMITED" &&
      text.startsWith(
        `denied by policy: rate limit "work_rate" reached: ${MAX} per hour per grant; retry in `,
      )
    )
      return "limited";
    return `unexpected: ${text}`;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    recordClientText("evasion", msg);
    return `threw: ${msg}`;
  }
}

describe("grant-scoped limits against evasion", () => {
  let up: FixtureUpstream;
  const gws: GatewayProcess[] = [];
  let redis: Redis;

  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "evasion-up" });
    const config = [
      ...fixtureConfigLines(up.url),
      `  other: { apiKey: "\${TOOLGATE_OTHER_KEY}", policy: policy.yaml }`,
      `store: "${redisUrl}/0?prefix=${prefix}"`,
      "audit: { path: audit.jsonl }",
    ].join("\n");
    const policy = [
      'version: "1"',
      "default: deny",
      "tools:",
      "  work:",
      `    limits: [{ counter: work_rate, window: hour, max: ${MAX}, scope: grant }]`,
    ].join("\n");
    gws.push(
      ...(await Promise.all(
        ["evasion-gw-a", "evasion-gw-b"].map((name) =>
          startGateway({ name, config, files: { "policy.yaml": policy } }),
        ),
      )),
    );
    redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });

  afterAll(async () => {
    const codes = await Promise.all(gws.map((g) => g.stop()));
    await up?.stop();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    expect(codes).toEqual(gws.map(() => 0));
    for (const g of gws) expectNoSecrets(g.dir);
  });

  it("keeps counting one grant across sessions, reconnects, instances and key headers", async () => {
    const [a, b] = gws as [GatewayProcess, GatewayProcess];
    const key = SECRETS.agentKey;
    const results: string[] = [];
    const run = async (client: Client, n: number, tag: string) => {
      for (let i = 0; i < n; i++) results.push(await work(client, `agent-${tag}-${i}`));
    };

    // 3 calls in a first session, ended properly; 3 in a fresh one (rotation).
    let c = await connectAs(a.mcpUrl, key, "bearer");
    await run(c, 3, "first");
    await endSession(c);
    c = await connectAs(a.mcpUrl, key, "bearer");
    await run(c, 3, "rotated");
    // Reconnect without ending the session (a crashed agent): the old one is abandoned.
    await c.close();
    c = await connectAs(a.mcpUrl, key, "bearer-lowercase");
    await run(c, 2, "reconnected");
    await endSession(c);
    // The other instance, the other header: 2 more reach the limit.
    c = await connectAs(b.mcpUrl, key, "x-api-key");
    await run(c, 2, "other-instance");
    expect(results).toEqual(Array(MAX).fill("ok"));

    // Now every way in is limited: same session, new sessions on both instances, each
    // way of presenting the key.
    results.length = 0;
    await run(c, 1, "same-session");
    await endSession(c);
    for (const gw of [a, b]) {
      for (const style of ["bearer", "bearer-lowercase", "x-api-key"] as const) {
        const s = await connectAs(gw.mcpUrl, key, style);
        await run(s, 1, `late-${style}`);
        await endSession(s);
      }
    }
    expect(results).toEqual(Array(7).fill("limited"));
  });

  it("gives another grant its own counter, exact under a burst of fresh sessions", async () => {
    const [a, b] = gws as [GatewayProcess, GatewayProcess];
    // 30 fresh sessions at once, alternating instance and key header, one call each.
    const styles: KeyStyle[] = ["bearer", "x-api-key", "bearer-lowercase"];
    const sessions = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        connectAs((i % 2 ? b : a).mcpUrl, SECRETS.otherKey, styles[i % 3] as KeyStyle),
      ),
    );
    const burst = await Promise.all(sessions.map((s, i) => work(s, `other-${i}`)));
    await Promise.all(sessions.map((s) => endSession(s)));
    expect(burst.filter((r) => r === "ok")).toHaveLength(MAX);
    expect(burst.filter((r) => r === "limited")).toHaveLength(30 - MAX);

    // The agent is still limited: the other grant's quota is not the agent's.
    const agent = await connectAs(a.mcpUrl, SECRETS.agentKey, "bearer");
    expect(await work(agent, "agent-after-other")).toBe("limited");
    await endSession(agent);

    // Upstream ran exactly the admitted calls; Redis and both instances agree on 10 each.
    const ran = Object.keys((await up.stats()).calls);
    expect(ran.filter((id) => id.startsWith("agent-"))).toHaveLength(MAX);
    expect(ran.filter((id) => id.startsWith("other-"))).toHaveLength(MAX);
    const keys = (await redis.keys(`${prefix}*:c:*`)).sort();
    expect(keys).toHaveLength(2);
    for (const k of keys) expect(Number(await redis.get(k))).toBe(MAX);
    for (const gw of gws) {
      const counters = (await adminCounters(gw)).map((x) => [x.grant, x.counter, x.used, x.max]);
      expect(counters.sort()).toEqual([
        ["agent", "work_rate", MAX, MAX],
        ["other", "work_rate", MAX, MAX],
      ]);
    }
  });
});
