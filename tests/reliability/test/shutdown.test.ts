// SIGTERM while a gateway on the Redis store has calls in flight: the calls that fit in
// the grace period finish, the ones that cannot fail cleanly instead of hanging, new
// calls and sessions are refused, the process exits 0 soon after the grace period, and
// Redis is left holding exactly the calls that completed upstream (nothing reserved).
import { randomUUID } from "node:crypto";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type {} from "../../../packages/rate-limit-store/test/redis-global-setup.js";
import { expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
  connectClient,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  startFixtureUpstream,
  startGateway,
  waitFor,
} from "../src/processes.js";

const GRACE_MS = 3000;
/** Calls that cannot finish within the grace period (the upstream takes this long). */
const LONG_MS = 30_000;
const LONG_CALLS = 4;
/** Callers with short calls (100–600 ms upstream) in flight when the signal comes. */
const WIDTH = 30;
/** Time allowed after the grace period to close upstreams, Redis and the audit file. */
const CLOSE_MS = 4000;

const prefix = `tg-rel-shutdown-${randomUUID().slice(0, 8)}:`;
const redisUrl = inject("redisUrl");

type Kind = "ok" | "refused" | "cut" | "unexpected";
interface Outcome {
  id: string;
  kind: Kind;
  afterSignal: boolean;
  detail: string;
}

describe("SIGTERM under load", () => {
  let up: FixtureUpstream;
  let gw: GatewayProcess;
  let redis: Redis;

  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "shutdown-up" });
    gw = await startGateway({
      name: "shutdown-gw",
      config: [
        ...fixtureConfigLines(up.url),
        `store: "${redisUrl}/0?prefix=${prefix}"`,
        "audit: { path: audit.jsonl }",
        `shutdownGraceMs: ${GRACE_MS}`,
      ].join("\n"),
      files: {
        "policy.yaml": [
          'version: "1"',
          "default: deny",
          "tools:",
          "  work:",
          "    limits: [{ counter: work_rate, window: hour, max: 1000000, scope: grant }]",
        ].join("\n"),
      },
    });
    redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });

  afterAll(async () => {
    await gw?.stop();
    await up?.stop();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    expectNoSecrets(gw.dir);
  });

  it("finishes or cleanly fails in-flight calls, refuses new ones, exits 0, leaves nothing reserved", async () => {
    const clients = await Promise.all(Array.from({ length: 10 }, () => connectClient(gw.mcpUrl)));
    let signalledAt = 0;
    const outcomes: Outcome[] = [];
    const callOnce = async (client: Client, id: string, delayMs: number) => {
      try {
        const r = await client.callTool({ name: "work", arguments: { id, delayMs } });
        const text = (r.content as Array<{ text?: string }> | undefined)?.[0]?.text ?? "";
        const afterSignal = signalledAt > 0;
        if (!r.isError && text === `done:${id}`) return { id, kind: "ok", afterSignal, detail: "" };
        recordClientText("shutdown", text);
        return { id, kind: "unexpected", afterSignal, detail: JSON.stringify(r).slice(0, 300) };
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        recordClientText("shutdown", msg);
        const afterSignal = signalledAt > 0;
        // Refused: the gateway answers 503 shutting_down on a kept-alive connection, or
        // no longer accepts connections at all.
        if (/shutting[_ ]down|ECONNREFUSED|fetch failed/.test(msg) && afterSignal)
          return { id, kind: "refused", afterSignal, detail: msg };
        return { id, kind: "cut", afterSignal, detail: msg };
      }
    };
    // A few calls that cannot finish in the grace period, sent first.
    const long = Array.from({ length: LONG_CALLS }, (_, i) =>
      callOnce(clients[i] as Client, `long-${i}`, LONG_MS),
    );
    // Short calls, in a loop, until the callers are refused.
    let started = 0;
    const loops = Array.from({ length: WIDTH }, async (_, w) => {
      for (let n = 0; ; n++) {
        const id = `s-${w}-${n}`;
        started++;
        const o = await callOnce(
          clients[(w + n) % clients.length] as Client,
          id,
          100 + ((w * 7 + n * 13) % 500),
        );
        outcomes.push(o as Outcome);
        if (o.kind !== "ok") return;
      }
    });
    await waitFor("short calls to complete", () => outcomes.length >= 100, 20_000);

    signalledAt = Date.now();
    const inFlightAtSignal = started - outcomes.length;
    gw.child.kill("SIGTERM");
    // A new session is refused at once.
    const refusedSession = await connectClient(gw.mcpUrl).then(
      () => "connected",
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    recordClientText("shutdown", refusedSession);
    expect(refusedSession).toMatch(/shutting[_ ]down|ECONNREFUSED|fetch failed/);

    const code = await gw.exited;
    const exitMs = Date.now() - signalledAt;
    // Every caller settles on its own, without a timeout of ours: nothing hangs.
    const longOutcomes = (await Promise.all(long)) as Outcome[];
    await Promise.all(loops);
    // Right away, before the long calls' upstream work could finish on its own.
    const ran = (await up.stats()).calls;
    process.stdout.write(
      `shutdown: ${inFlightAtSignal} short calls in flight at SIGTERM, exit ${code} after ${exitMs} ms ` +
        `(grace ${GRACE_MS} ms); ${outcomes.filter((o) => o.kind === "ok").length} ok, ` +
        `${outcomes.filter((o) => o.kind === "refused").length} refused, ` +
        `${[...outcomes, ...longOutcomes].filter((o) => o.kind === "cut").length} cut\n`,
    );

    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(GRACE_MS + CLOSE_MS);
    expect([...outcomes, ...longOutcomes].filter((o) => o.kind === "unexpected")).toEqual([]);
    // The short calls in flight at the signal finished: every caller ended with a refusal
    // of a call it sent after the signal, never with a cut one.
    expect(outcomes.filter((o) => o.kind === "cut").map((o) => o.detail)).toEqual([]);
    expect(outcomes.filter((o) => o.kind === "refused")).toHaveLength(WIDTH);
    expect(outcomes.filter((o) => o.kind === "ok" && o.afterSignal).length).toBeGreaterThan(0);
    // The long ones could not finish in time: they failed, with an error, not a hang.
    expect(longOutcomes.map((o) => o.kind)).toEqual(Array(LONG_CALLS).fill("cut"));
    for (const o of longOutcomes) expect(o.detail).toMatch(/session closed by the gateway/);

    // Every completed call ran once upstream, and Redis holds exactly the calls that
    // completed there: the cut ones were rolled back, nothing is left reserved.
    const ok = outcomes.filter((o) => o.kind === "ok");
    expect(ok.every((o) => ran[o.id] === 1)).toBe(true);
    expect(longOutcomes.some((o) => o.id in ran)).toBe(false);
    const keys = await redis.keys(`${prefix}*:c:*`);
    expect(keys).toHaveLength(1);
    expect(Number(await redis.get(keys[0] as string))).toBe(Object.keys(ran).length);
    expect(gw.output()).not.toMatch(/unhandled|uncaught/i);
  });
});
