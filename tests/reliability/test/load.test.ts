// Load through two real gateway processes sharing one Redis: 10,000 `tools/call`
// requests at concurrency 100, spread over 100 sessions on both instances, against a
// grant-scoped limit that binds partway, with some calls failing upstream. Then 1,000
// sessions opened, used and closed in two equal rounds, to show nothing is left behind
// and memory does not keep growing from one round to the next.
import { randomUUID } from "node:crypto";
import { Agent, request } from "node:http";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type {} from "../../../packages/rate-limit-store/test/redis-global-setup.js";
import { expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
  adminCounters,
  connectClient,
  endSession,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  metricSum,
  startFixtureUpstream,
  startGateway,
  waitFor,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

const CALLS = 10_000;
const CONCURRENCY = 100;
const SESSIONS = 100;
const LIMIT = 7000;
/** Calls that fail upstream: every 6th of the first 6,000, settled long before the limit binds. */
const failing = (i: number): boolean => i < 6000 && i % 6 === 0;
const FAILS = Array.from({ length: CALLS }, (_, i) => i).filter(failing).length;
/** Sessions opened, used and closed per churn round (half on each gateway). */
const CHURN_ROUND = 500;
/** Growth allowed from one churn round to the next: GC is not forced, so it is generous. */
const MAX_GROWTH_BYTES = 30 * 1024 * 1024;

const prefix = `tg-rel-load-${randomUUID().slice(0, 8)}:`;
const redisUrl = inject("redisUrl");

/** What one call came back with. */
type Outcome =
  | { kind: "ok" }
  | { kind: "denied"; code: unknown }
  | { kind: "failed" }
  | { kind: "unexpected"; what: string };

/** Runs `n` jobs with at most `width` at once; resolves when all have settled. */
async function pool(n: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

/**
 * The load is sent as plain Streamable HTTP on kept-alive sockets rather than through
 * the SDK client: on two shared cores the SDK's own per-call work would otherwise be
 * most of what is measured. The sessions are opened with the SDK client (see below), so
 * the handshake is the real one; this only sends their `tools/call`s.
 */
// Kept-alive sockets race the server's idle close (Node's 5 s keepAliveTimeout): a request
// written as the server closes its socket dies with ECONNRESET before the server read it.
// Using every socket in turn (fifo) and dropping ours after 2 s idle keeps that race out
// of the figures; a retry would be no fix, since calls are not idempotent.
const agent = new Agent({
  keepAlive: true,
  maxSockets: CONCURRENCY,
  scheduling: "fifo",
  timeout: 2000,
});

interface RawResponse {
  status: number;
  sessionId: string | undefined;
  /** The JSON-RPC message of the answer (from a JSON body or the SSE stream). */
  message:
    | { id?: unknown; result?: Record<string, unknown>; error?: { message?: string } }
    | undefined;
  text: string;
}

/** One POST (or DELETE) to `/mcp` with the agent key, answered as JSON or SSE. */
function raw(
  mcpUrl: string,
  method: "POST" | "DELETE",
  sessionId: string | undefined,
  body?: unknown,
): Promise<RawResponse> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = {
    authorization: `Bearer ${SECRETS.agentKey}`,
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
  };
  if (payload !== undefined) headers["content-type"] = "application/json";
  if (sessionId) headers["mcp-session-id"] = sessionId;
  return new Promise((resolve, reject) => {
    const req = request(mcpUrl, { method, headers, agent }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
      });
      res.on("error", reject);
      res.on("end", () => {
        const json = /text\/event-stream/.test(String(res.headers["content-type"]))
          ? text
              .split("\n")
              .filter((l) => l.startsWith("data:"))
              .map((l) => l.slice(5).trim())
              .find((l) => l.startsWith("{"))
          : text;
        let message: RawResponse["message"];
        try {
          message = json ? JSON.parse(json) : undefined;
        } catch {
          message = undefined;
        }
        const sid = res.headers["mcp-session-id"];
        resolve({
          status: res.statusCode ?? 0,
          sessionId: typeof sid === "string" ? sid : undefined,
          message,
          text,
        });
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** Opens a session over plain HTTP: initialize, then the initialized notification. */
async function openRaw(mcpUrl: string): Promise<string> {
  const init = await raw(mcpUrl, "POST", undefined, {
    jsonrpc: "2.0",
    id: 0,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "reliability-load", version: "1.0.0" },
    },
  });
  if (init.status !== 200 || !init.sessionId)
    throw new Error(`initialize: ${init.status} ${init.text}`);
  const note = await raw(mcpUrl, "POST", init.sessionId, {
    jsonrpc: "2.0",
    method: "notifications/initialized",
  });
  if (note.status !== 202) throw new Error(`initialized: ${note.status} ${note.text}`);
  return init.sessionId;
}

/** Ends a session with DELETE, as a well-behaved client does. */
async function closeRaw(mcpUrl: string, sessionId: string): Promise<void> {
  const r = await raw(mcpUrl, "DELETE", sessionId);
  if (r.status !== 200 && r.status !== 204) throw new Error(`DELETE: ${r.status} ${r.text}`);
}

/** One `work` call, classified; nothing it can return or throw escapes unclassified. */
async function callWork(mcpUrl: string, sessionId: string, i: number): Promise<Outcome> {
  const id = `L-${i}`;
  const fail = failing(i);
  try {
    const r = await raw(mcpUrl, "POST", sessionId, {
      jsonrpc: "2.0",
      id: i,
      method: "tools/call",
      params: { name: "work", arguments: fail ? { id, fail } : { id } },
    });
    const m = r.message;
    // The answer must be about this request: its JSON-RPC id, and the work id inside.
    if (r.status !== 200 || m?.id !== i) {
      recordClientText("load", r.text);
      return { kind: "unexpected", what: `${id}: HTTP ${r.status} ${r.text.slice(0, 300)}` };
    }
    if (m.error) {
      const msg = m.error.message ?? "";
      recordClientText("load", msg);
      if (fail && msg.includes(`work ${id} failed upstream`)) return { kind: "failed" };
      return { kind: "unexpected", what: `${id} error: ${msg}` };
    }
    const result = m.result ?? {};
    const text = (result.content as Array<{ text?: string }> | undefined)?.[0]?.text ?? "";
    if (!result.isError && !fail && text === `done:${id}`) return { kind: "ok" };
    recordClientText("load", text);
    if (
      result.isError &&
      /^denied by policy: rate limit "work_rate" reached: 7000 per hour per grant; retry in /.test(
        text,
      )
    ) {
      const meta = result._meta as Record<string, { code?: unknown }> | undefined;
      return { kind: "denied", code: meta?.["toolgate/decision"]?.code };
    }
    return { kind: "unexpected", what: `${id}: ${JSON.stringify(m).slice(0, 300)}` };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    recordClientText("load", msg);
    return { kind: "unexpected", what: `${id} threw: ${msg}` };
  }
}

/** Heap in use and RSS of one gateway, from its `/metrics`. */
async function memory(gw: GatewayProcess): Promise<{ heap: number; rss: number }> {
  const text = await gw.metrics();
  return {
    heap: metricSum(text, "toolgate_nodejs_heap_size_used_bytes"),
    rss: metricSum(text, "toolgate_process_resident_memory_bytes"),
  };
}

/** Sessions gauge and in-flight gauge both 0 on `gw`. */
async function idle(gw: GatewayProcess): Promise<boolean> {
  const text = await gw.metrics();
  return (
    metricSum(text, "toolgate_sessions") === 0 &&
    metricSum(text, "toolgate_in_flight_requests") === 0
  );
}

describe("10,000 calls through two gateways on one Redis", () => {
  let up: FixtureUpstream;
  const gws: GatewayProcess[] = [];
  let redis: Redis;

  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "load-up" });
    const config = [
      ...fixtureConfigLines(up.url),
      // Exactness and leaks are tested here, not the fail mode: a loaded CI machine may
      // stall Redis replies past the default command timeout, which would fail a call closed.
      `store: "${redisUrl}/0?prefix=${prefix}&timeout=5000"`,
      "audit: { path: audit.jsonl }",
    ].join("\n");
    const policy = [
      'version: "1"',
      "default: deny",
      "tools:",
      "  work:",
      `    limits: [{ counter: work_rate, window: hour, max: ${LIMIT}, scope: grant }]`,
      "  echo: {}",
    ].join("\n");
    const started = await Promise.all(
      ["load-gw-a", "load-gw-b"].map((name) =>
        startGateway({ name, config, files: { "policy.yaml": policy } }),
      ),
    );
    gws.push(...started);
    redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });

  afterAll(async () => {
    agent.destroy();
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

  it("answers every call exactly once and counts exactly the admitted successes", async () => {
    const [a, b] = gws as [GatewayProcess, GatewayProcess];
    // Sessions opened by the SDK client (the real handshake); their calls go out raw.
    const sessions = await Promise.all(
      Array.from({ length: SESSIONS }, async (_, s) => {
        const { mcpUrl } = s % 2 ? b : a;
        const client = await connectClient(mcpUrl);
        const transport = client.transport as { sessionId?: string } | undefined;
        return { client, mcpUrl, sessionId: transport?.sessionId as string };
      }),
    );
    expect(sessions.every((x) => typeof x.sessionId === "string")).toBe(true);
    // One upstream session per gateway session: the upstream sees all 100.
    expect((await up.stats()).sessions).toBe(SESSIONS);

    const settled = new Array<number>(CALLS).fill(0);
    const outcomes = new Array<Outcome | undefined>(CALLS);
    const t0 = performance.now();
    await pool(CALLS, CONCURRENCY, async (i) => {
      // Neighbouring calls go to different sessions, so each session (and each gateway)
      // has several calls in flight at once; the shift every 100 calls sends failing
      // calls (even ids) to both gateways.
      const session = sessions[(i * 37 + Math.floor(i / 100)) % SESSIONS] as (typeof sessions)[0];
      outcomes[i] = await callWork(session.mcpUrl, session.sessionId, i);
      settled[i] = (settled[i] ?? 0) + 1;
    });
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(
      `load: ${CALLS} calls at concurrency ${CONCURRENCY} over ${SESSIONS} sessions on 2 gateways: ` +
        `${seconds.toFixed(1)} s, ${Math.round(CALLS / seconds)} calls/s\n`,
    );

    // Every call settled once, with an answer about its own id.
    expect(settled.every((n) => n === 1)).toBe(true);
    const unexpected = outcomes.flatMap((o) => (o?.kind === "unexpected" ? [o.what] : []));
    expect(unexpected.slice(0, 5)).toEqual([]);
    const ids = (kind: Outcome["kind"]) =>
      outcomes.flatMap((o, i) => (o?.kind === kind ? [`L-${i}`] : []));
    const ok = ids("ok");
    const denied = ids("denied");
    const failed = ids("failed");
    // Failed calls cost no quota, so the limit is reached by successes alone:
    // admitted = min(limit, successes attempted).
    expect(failed.length).toBe(FAILS);
    expect(ok.length).toBe(Math.min(LIMIT, CALLS - FAILS));
    expect(denied.length).toBe(CALLS - FAILS - ok.length);
    expect(new Set(outcomes.map((o) => (o?.kind === "denied" ? o.code : "-")))).toEqual(
      new Set(["-", "RATE_LIMITED"]),
    );

    // Upstream: every admitted success ran exactly once; no denied or failed id ran.
    const ran = (await up.stats()).calls;
    expect(Object.keys(ran).length).toBe(ok.length);
    expect(ok.every((id) => ran[id] === 1)).toBe(true);
    expect(denied.some((id) => id in ran)).toBe(false);
    expect(failed.some((id) => id in ran)).toBe(false);

    // The shared counter equals the admitted successes, in Redis and as both instances
    // report it. Commits are sent after the answer, so wait for the last to land.
    const counterKeys = await redis.keys(`${prefix}*:c:*`);
    expect(counterKeys).toHaveLength(1);
    await waitFor(
      "the Redis counter to settle",
      async () => Number(await redis.get(counterKeys[0] as string)) === ok.length,
      5000,
    );
    for (const g of gws) {
      const work = (await adminCounters(g)).find((c) => c.counter === "work_rate");
      expect(work).toMatchObject({ grant: "agent", used: ok.length, max: LIMIT });
    }
    // Each instance rolled back its own share of the failures; together, all of them.
    const upstreamErrors = await Promise.all(
      gws.map(async (g) => metricSum(await g.metrics(), "toolgate_upstream_errors_total")),
    );
    expect(upstreamErrors.every((n) => n > 0)).toBe(true);
    expect(upstreamErrors.reduce((x, y) => x + y, 0)).toBe(FAILS);

    await Promise.all(sessions.map((x) => endSession(x.client)));
    for (const g of gws) await waitFor(`${g.dir} to be idle`, () => idle(g), 10_000);
    await waitFor("upstream sessions to close", async () => (await up.stats()).sessions === 0);
  });

  it("leaves no session behind after 1,000 opened and closed, and memory stays flat", async () => {
    const round = async (r: number) => {
      const t0 = performance.now();
      await pool(CHURN_ROUND, 50, async (i) => {
        const gw = gws[i % 2] as GatewayProcess;
        const sid = await openRaw(gw.mcpUrl);
        const res = await raw(gw.mcpUrl, "POST", sid, {
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "echo", arguments: { text: `c${r}-${i}` } },
        });
        expect(res.message?.result?.content).toEqual([{ type: "text", text: `c${r}-${i}` }]);
        await closeRaw(gw.mcpUrl, sid);
      });
      for (const g of gws) await waitFor("the gateway to be idle", () => idle(g), 10_000);
      await waitFor("upstream sessions to close", async () => (await up.stats()).sessions === 0);
      const seconds = (performance.now() - t0) / 1000;
      const mem = await Promise.all(gws.map(memory));
      process.stdout.write(
        `sessions round ${r}: ${CHURN_ROUND} opened, used and closed in ${seconds.toFixed(1)} s; ` +
          mem.map((m, g) => `gw${g} heap ${mb(m.heap)} MB rss ${mb(m.rss)} MB`).join(", ") +
          "\n",
      );
      return mem;
    };
    const first = await round(1);
    const second = await round(2);
    for (const [g, m] of second.entries()) {
      const before = first[g] as { heap: number; rss: number };
      expect(m.heap).toBeGreaterThan(0);
      expect(m.heap - before.heap).toBeLessThan(MAX_GROWTH_BYTES);
      expect(m.rss - before.rss).toBeLessThan(MAX_GROWTH_BYTES);
    }
  });
});

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
