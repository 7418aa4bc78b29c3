// Redis killed and restarted while three gateway processes are under load, one per
// failure mode: `fail=closed`, `fail=open`, and `fail=open` with the in-memory insurance
// limiter. Each mode must hold while Redis is gone, no process may crash or leave an
// unhandled rejection in its output, the metrics must count the activations, and once
// Redis is back the calls must be decided by Redis again without restarting anything.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RedisServerProcess,
  startRedisServer,
} from "../../../packages/rate-limit-store/test/redis-server.js";
import { expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
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

type Mode = "closed" | "open" | "insurance";
const MODES: readonly Mode[] = ["closed", "open", "insurance"];
const QUERY: Record<Mode, string> = {
  closed: "fail=closed",
  open: "fail=open",
  insurance: "fail=open&insurance=true",
};
/** The `echo` limit, small enough for the insurance limiter to reach while Redis is down. */
const ECHO_MAX = 25;
/** Concurrent callers per gateway during the load. */
const WIDTH = 8;

const POLICY = [
  'version: "1"',
  "default: deny",
  "tools:",
  "  work:",
  "    limits: [{ counter: work_rate, window: hour, max: 1000000, scope: grant }]",
  "  echo:",
  `    limits: [{ counter: echo_rate, window: hour, max: ${ECHO_MAX}, scope: grant }]`,
].join("\n");

/** What one call came back with. */
type Kind = "ok" | "unavailable" | "limited" | "unexpected";
interface Outcome {
  id: string;
  kind: Kind;
  detail?: string;
}

/** One tool call, classified; nothing it can return or throw escapes unclassified. */
async function call(
  client: Client,
  tool: "work" | "echo",
  id: string,
  source: string,
): Promise<Outcome> {
  const args = tool === "work" ? { id } : { text: `done:${id}` };
  try {
    const r = await client.callTool({ name: tool, arguments: args });
    const text = (r.content as Array<{ text?: string }> | undefined)?.[0]?.text ?? "";
    if (!r.isError && text === `done:${id}`) return { id, kind: "ok" };
    recordClientText(source, text);
    const code = (r._meta as Record<string, { code?: unknown }> | undefined)?.["toolgate/decision"]
      ?.code;
    if (
      r.isError &&
      code === "STORE_UNAVAILABLE" &&
      // Nothing about the store's internals (address, driver error) reaches the agent.
      /^denied by policy: limit store unavailable; retry in \d+s$/.test(text)
    )
      return { id, kind: "unavailable" };
    if (r.isError && code === "RATE_LIMITED" && text.includes(`"${tool}_rate" reached`))
      return { id, kind: "limited" };
    return { id, kind: "unexpected", detail: `${id}: ${JSON.stringify(r).slice(0, 300)}` };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    recordClientText(source, msg);
    return { id, kind: "unexpected", detail: `${id} threw: ${msg}` };
  }
}

/** Callers that keep calling `work` on their sessions until stopped. */
function startLoad(mode: Mode, clients: Client[]) {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const done = Promise.all(
    Array.from({ length: WIDTH }, async (_, w) => {
      for (let n = 0; !stopped; n++) {
        const client = clients[(w + n) % clients.length] as Client;
        outcomes.push(await call(client, "work", `${mode}-${w}-${n}`, `redis-fault-${mode}`));
      }
    }),
  );
  return {
    outcomes,
    count: (kind: Kind) => outcomes.filter((o) => o.kind === kind).length,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

describe("Redis killed and restarted under load", () => {
  let redis: RedisServerProcess;
  let up: FixtureUpstream;
  const gws = new Map<Mode, GatewayProcess>();
  const prefixes = new Map<Mode, string>();

  beforeAll(async () => {
    redis = await startRedisServer();
    up = await startFixtureUpstream({ name: "redis-fault-up" });
    await Promise.all(
      MODES.map(async (mode) => {
        const prefix = `tg-rel-fault-${mode}:`;
        prefixes.set(mode, prefix);
        const gw = await startGateway({
          name: `redis-fault-${mode}`,
          config: [
            ...fixtureConfigLines(up.url),
            `store: "${redis.url}/0?prefix=${prefix}&${QUERY[mode]}"`,
            "audit: { path: audit.jsonl }",
          ].join("\n"),
          files: { "policy.yaml": POLICY },
        });
        gws.set(mode, gw);
      }),
    );
  });

  afterAll(async () => {
    const codes = await Promise.all([...gws.values()].map((g) => g.stop()));
    await up?.stop();
    await redis?.kill();
    expect(codes).toEqual([...gws.values()].map(() => 0));
    for (const g of gws.values()) expectNoSecrets(g.dir);
  });

  it("holds each failure mode, never crashes, and is decided by Redis again after the restart", async () => {
    const gw = (mode: Mode) => gws.get(mode) as GatewayProcess;
    const sessions = new Map<Mode, Client[]>();
    for (const mode of MODES) {
      sessions.set(mode, await Promise.all([0, 1, 2, 3].map(() => connectClient(gw(mode).mcpUrl))));
    }
    const loads = new Map(MODES.map((m) => [m, startLoad(m, sessions.get(m) as Client[])]));
    const load = (mode: Mode) => loads.get(mode) as ReturnType<typeof startLoad>;
    const activations = async (mode: Mode, failMode: "fail_closed" | "fail_open") =>
      metricSum(
        await gw(mode).metrics(),
        "toolgate_store_failure_mode_activations_total",
        `mode="${failMode}"`,
      );

    // Healthy first: every mode admits through Redis.
    await waitFor("calls admitted on every gateway", () =>
      MODES.every((m) => load(m).count("ok") >= 30),
    );

    await redis.kill();
    const okAtKill = load("closed").count("ok");
    // Closed: denied with the store's reason. Open (both): still admitted, and counted as
    // fail-open decisions in the metrics.
    await waitFor("fail-closed denials", () => load("closed").count("unavailable") >= 20);
    await waitFor("fail-open decisions on both open gateways", async () => {
      return (
        (await activations("open", "fail_open")) >= 20 &&
        (await activations("insurance", "fail_open")) >= 20
      );
    });
    // Readiness tells a load balancer what is going on; liveness stays up; and the probes
    // and scrapes answer promptly rather than waiting on the store's reconnect attempts
    // (they once took longer with every scrape, past 5 s). The bound is generous: a
    // loaded box is slow, but not seconds-per-request slow (15 answers in well under 15 s).
    const t0 = Date.now();
    for (const m of MODES) {
      expect((await fetch(`${gw(m).url}/readyz`)).status).toBe(503);
      expect((await fetch(`${gw(m).url}/healthz`)).status).toBe(200);
      for (let i = 0; i < 3; i++) expect(await gw(m).metric("toolgate_sessions")).toBe(4);
    }
    expect(Date.now() - t0).toBeLessThan(15_000);
    // The insurance limiter still enforces limits per instance while Redis is gone; plain
    // fail-open admits everything.
    const echoes = async (mode: Mode, n: number, tag: string) => {
      const client = (sessions.get(mode) as Client[])[0] as Client;
      const out: Outcome[] = [];
      for (let i = 0; i < n; i++)
        out.push(await call(client, "echo", `${tag}-${i}`, `redis-fault-${mode}`));
      return out;
    };
    const insured = await echoes("insurance", ECHO_MAX + 10, "ins");
    expect(insured.filter((o) => o.kind === "ok")).toHaveLength(ECHO_MAX);
    expect(insured.filter((o) => o.kind === "limited")).toHaveLength(10);
    const open = await echoes("open", ECHO_MAX + 10, "open");
    expect(open.filter((o) => o.kind === "ok")).toHaveLength(ECHO_MAX + 10);

    await redis.start();
    // The closed gateway admits again once its store has reconnected by itself.
    const unavailableAtRestart = load("closed").count("unavailable");
    await waitFor(
      "the fail-closed gateway to admit again",
      () =>
        load("closed")
          .outcomes.slice(okAtKill + unavailableAtRestart)
          .filter((o) => o.kind === "ok").length >= 20,
      15_000,
    );
    await Promise.all(MODES.map((m) => load(m).stop()));
    process.stdout.write(
      `redis fault: ${MODES.map((m) => `${m} ${load(m).count("ok")} admitted, ${load(m).count("unavailable")} store-unavailable`).join("; ")}\n`,
    );

    for (const mode of MODES) {
      const { outcomes } = load(mode);
      const unexpected = outcomes.flatMap((o) => (o.kind === "unexpected" ? [o.detail] : []));
      expect(unexpected.slice(0, 5), mode).toEqual([]);
      if (mode !== "closed") expect(load(mode).count("ok"), mode).toBe(outcomes.length);
    }
    // Every fail-closed denial was counted, and nothing denied ran upstream; every
    // admitted call ran exactly once.
    const closed = load("closed");
    expect(await activations("closed", "fail_closed")).toBe(closed.count("unavailable"));
    const ran = (await up.stats()).calls;
    for (const mode of MODES) {
      for (const o of load(mode).outcomes) {
        expect(ran[o.id] ?? 0, o.id).toBe(o.kind === "ok" ? 1 : 0);
      }
    }

    // Decided by Redis again: each call now lands in the restarted Redis's counter, and
    // no failure mode is activated any more.
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    try {
      const counter = async (mode: Mode, name: string) => {
        const keys = await client.keys(`${prefixes.get(mode)}*:c:${name}|*`);
        return keys[0] ? Number(await client.get(keys[0])) : 0;
      };
      await waitFor("every gateway ready again", async () => {
        for (const m of MODES)
          if ((await fetch(`${gw(m).url}/readyz`)).status !== 200) return false;
        return true;
      });
      for (const mode of MODES) {
        const mark = {
          closed: await activations(mode, "fail_closed"),
          open: await activations(mode, "fail_open"),
        };
        const before = await counter(mode, "work_rate");
        const c = (sessions.get(mode) as Client[])[1] as Client;
        for (let i = 0; i < 5; i++) {
          expect((await call(c, "work", `${mode}-after-${i}`, `redis-fault-${mode}`)).kind).toBe(
            "ok",
          );
        }
        expect(await counter(mode, "work_rate"), mode).toBe(before + 5);
        expect(await activations(mode, "fail_closed")).toBe(mark.closed);
        expect(await activations(mode, "fail_open")).toBe(mark.open);
      }
      // The insurance limiter spent its whole echo allowance while Redis was down; the
      // calls now pass because Redis, which has not seen any echo yet, decides them.
      const after = await echoes("insurance", 3, "ins-after");
      expect(after.map((o) => o.kind)).toEqual(["ok", "ok", "ok"]);
      expect(await counter("insurance", "echo_rate")).toBe(3);
    } finally {
      client.disconnect();
    }

    for (const mode of MODES) {
      await Promise.all((sessions.get(mode) as Client[]).map((c) => endSession(c)));
      expect(gw(mode).child.exitCode, mode).toBeNull();
      expect(gw(mode).output()).not.toMatch(/unhandled|uncaught/i);
    }
  });
});
