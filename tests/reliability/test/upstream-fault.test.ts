// An upstream MCP server that crashes and comes back, over HTTP and over stdio, behind the
// real gateway process. While it is down a client must get a quick error that says the
// upstream is unavailable (not a hang, not a policy denial), the failed calls must cost no
// quota, the gauges must not keep stuck sessions or requests, /readyz must say which
// upstream is down, and once it is back the same client session works again by itself.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactSubdir, expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
  connectClient,
  endSession,
  type FixtureUpstream,
  fixtureConfigLines,
  fixtureStdioCommand,
  type GatewayProcess,
  startFixtureUpstream,
  startGateway,
  waitFor,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

const POLICY = [
  'version: "1"',
  "default: deny",
  "tools:",
  "  work:",
  "    limits: [{ counter: work_rate, window: hour, max: 1000, scope: grant }]",
  "",
].join("\n");

/** What one `work` call came back with: a result text, or the error a client sees. */
interface Outcome {
  ok: boolean;
  text: string;
  ms: number;
}

async function work(
  client: Client,
  id: string,
  extra: Record<string, unknown> = {},
): Promise<Outcome> {
  const started = Date.now();
  try {
    const r = await client.callTool({ name: "work", arguments: { id, ...extra } }, undefined, {
      timeout: 20_000,
    });
    const text = (r.content as Array<{ text?: string }>).map((c) => c.text ?? "").join("");
    if (r.isError) recordClientText(`upstream-fault work ${id}`, text);
    return { ok: !r.isError, text, ms: Date.now() - started };
  } catch (e) {
    const text = (e as Error).message;
    recordClientText(`upstream-fault work ${id}`, text);
    return { ok: false, text, ms: Date.now() - started };
  }
}

async function admin<T>(gw: GatewayProcess, path: string): Promise<T> {
  const r = await fetch(`${gw.url}/admin/api/${path}`, {
    headers: { authorization: `Bearer ${SECRETS.adminToken}` },
  });
  expect(r.status).toBe(200);
  return (await r.json()) as T;
}

/** Units of `work_rate` the agent grant has used (committed and reserved). */
async function used(gw: GatewayProcess): Promise<number> {
  const { counters } = await admin<{ counters: Array<{ counter: string; used: number }> }>(
    gw,
    "counters",
  );
  return counters.find((c) => c.counter === "work_rate")?.used ?? 0;
}

async function readyz(gw: GatewayProcess): Promise<{
  status: number;
  body: { upstreams: Array<{ name: string; ok: boolean; detail?: string }> };
}> {
  const r = await fetch(`${gw.url}/readyz`);
  return { status: r.status, body: (await r.json()) as never };
}

/** A down upstream's error: says so, names it, and is no policy decision. */
function expectUnavailable(o: Outcome, upstream: string): void {
  expect(o.ok).toBe(false);
  expect(o.text).toMatch(new RegExp(`upstream ${upstream}\\b`));
  expect(o.text).not.toMatch(/denied by policy|rate limit/);
  // Quick: a refused connection or a dead child is known at once, no timeout involved.
  expect(o.ms).toBeLessThan(10_000);
}

/**
 * Retries a call on the SAME client until the gateway has reconnected upstream. Every
 * attempt that fails meanwhile must still say which upstream is unavailable, quickly.
 */
async function worksAgain(client: Client, id: string, upstream: string): Promise<Outcome> {
  let n = 0;
  const failed: Outcome[] = [];
  const o = await waitFor(
    `work ${id} to succeed again`,
    async () => {
      const r = await work(client, `${id}-${n++}`);
      if (!r.ok) failed.push(r);
      return r.ok ? r : undefined;
    },
    20_000,
    200,
  );
  for (const f of failed) expectUnavailable(f, upstream);
  return o;
}

async function expectIdle(gw: GatewayProcess, sessions: number): Promise<void> {
  await waitFor(
    "no request in flight",
    async () => (await gw.metric("toolgate_in_flight_requests")) === 0,
    10_000,
  );
  expect(await gw.metric("toolgate_sessions")).toBe(sessions);
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) expectNoSecrets(d);
});

describe("an HTTP upstream killed and restarted", () => {
  let up: FixtureUpstream;
  let gw: GatewayProcess;
  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "fault-http-up", token: SECRETS.upstreamToken });
    gw = await startGateway({
      name: "fault-http-gw",
      config: [
        ...fixtureConfigLines(up.url, { upstreamToken: true }),
        "audit: { path: audit.jsonl }",
      ].join("\n"),
      files: { "policy.yaml": POLICY },
    });
    dirs.push(gw.dir);
  });
  afterAll(async () => {
    await gw?.stop();
    await up?.stop();
  });

  it("fails calls quickly and clearly while down, rolls them back, and the same session recovers", async () => {
    const client = await connectClient(gw.mcpUrl);
    expect((await work(client, "before")).text).toBe("done:before");
    expect(await used(gw)).toBe(1);

    await up.kill();
    const down = [await work(client, "down-1"), await work(client, "down-2")];
    for (const o of down) expectUnavailable(o, "fx");
    // Failed calls cost nothing, and the gateway says where the failures came from.
    expect(await used(gw)).toBe(1);
    expect(
      await gw.metric("toolgate_upstream_errors_total", 'upstream="fx"'),
    ).toBeGreaterThanOrEqual(2);
    const r = await readyz(gw);
    expect(r.status).toBe(503);
    expect(r.body.upstreams).toEqual([expect.objectContaining({ name: "fx", ok: false })]);
    await expectIdle(gw, 1);

    await up.restart();
    const again = await worksAgain(client, "after", "fx");
    expect(again.text).toMatch(/^done:after-\d+$/);
    // Exactly the calls that succeeded were counted: before + the one that worked again
    // (any attempt made while the gateway reconnected failed and was rolled back).
    expect(await used(gw)).toBe(2);
    expect(Object.values((await up.stats()).calls).reduce((a, b) => a + b, 0)).toBe(1);
    await waitFor("/readyz to be ready again", async () => (await readyz(gw)).status === 200);
    await expectIdle(gw, 1);
    await endSession(client);
    await expectIdle(gw, 0);
  });

  it("fails calls in flight when the upstream dies under them, and recovers", async () => {
    const clients = await Promise.all([0, 1, 2].map(() => connectClient(gw.mcpUrl)));
    const base = await used(gw);
    const pending = clients.flatMap((c, i) =>
      [0, 1].map((j) => work(c, `slow-${i}-${j}`, { delayMs: 15_000 })),
    );
    await waitFor(
      "six calls in flight",
      async () => (await gw.metric("toolgate_in_flight_requests")) === 6,
    );
    await up.kill();
    const outcomes = await Promise.all(pending);
    for (const o of outcomes) expectUnavailable(o, "fx");
    expect(await used(gw)).toBe(base);
    await expectIdle(gw, 3);

    await up.restart();
    for (const [i, c] of clients.entries()) await worksAgain(c, `back-${i}`, "fx");
    expect(await used(gw)).toBe(base + 3);
    for (const c of clients) await endSession(c);
    await expectIdle(gw, 0);
  });
});

describe("a stdio upstream whose process is killed", () => {
  let gw: GatewayProcess;
  let pidsFile: string;
  let callsFile: string;
  const pids = () => readFileSync(pidsFile, "utf8").split("\n").filter(Boolean).map(Number);
  const ranCalls = () => readFileSync(callsFile, "utf8").split("\n").filter(Boolean);

  beforeAll(async () => {
    const dir = artifactSubdir("fault-stdio-gw");
    dirs.push(dir);
    pidsFile = join(dir, "fixture-pids.txt");
    callsFile = join(dir, "fixture-calls.txt");
    writeFileSync(pidsFile, "");
    writeFileSync(callsFile, "");
    const { command, args } = fixtureStdioCommand();
    gw = await startGateway({
      name: "fault-stdio-gw",
      dir,
      config: [
        "upstreams:",
        `  - name: sx`,
        `    command: ${JSON.stringify(command)}`,
        `    args: ${JSON.stringify(args)}`,
        `    env: { FIXTURE_PIDS_FILE: "\${FIXTURE_PIDS_FILE}", FIXTURE_CALLS_FILE: "\${FIXTURE_CALLS_FILE}" }`,
        "grants:",
        `  agent: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.yaml }`,
        "audit: { path: audit.jsonl }",
      ].join("\n"),
      files: { "policy.yaml": POLICY },
      env: { FIXTURE_PIDS_FILE: pidsFile, FIXTURE_CALLS_FILE: callsFile },
    });
  });
  afterAll(async () => {
    await gw?.stop();
    // The gateway closes its children on SIGTERM; make sure no fixture outlives the file.
    for (const pid of pids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });

  /** Kills the fixture child the session is talking to (the last one started). */
  const killChild = async (): Promise<number> => {
    const pid = await waitFor("a live fixture child", () => {
      const last = pids().at(-1);
      if (last === undefined) return undefined;
      try {
        process.kill(last, 0);
        return last;
      } catch {
        return undefined;
      }
    });
    process.kill(pid, "SIGKILL");
    return pid;
  };

  it("fails calls in flight and while restarting, rolls them back, and the same session recovers", async () => {
    const client = await connectClient(gw.mcpUrl);
    expect((await work(client, "s-before")).text).toBe("done:s-before");
    const base = await used(gw);

    const inflight = [
      work(client, "s-slow-1", { delayMs: 15_000 }),
      work(client, "s-slow-2", { delayMs: 15_000 }),
    ];
    await waitFor(
      "two calls in flight",
      async () => (await gw.metric("toolgate_in_flight_requests")) === 2,
    );
    const killed = await killChild();
    for (const o of await Promise.all(inflight)) expectUnavailable(o, "sx");
    expect(await used(gw)).toBe(base);
    await expectIdle(gw, 1);

    // The gateway restarts the child by itself; the same session works again.
    const again = await worksAgain(client, "s-after", "sx");
    expect(again.text).toMatch(/^done:s-after-\d+$/);
    expect(pids().at(-1)).not.toBe(killed);
    expect(await used(gw)).toBe(base + 1);
    // Each admitted call ran exactly once upstream; the killed ones never completed.
    const ran = ranCalls();
    expect(ran.filter((c) => c.startsWith("s-slow"))).toEqual([]);
    expect(ran.filter((c) => c === again.text.slice("done:".length))).toHaveLength(1);
    await waitFor("/readyz to be ready again", async () => (await readyz(gw)).status === 200);
    await endSession(client);
    await expectIdle(gw, 0);
  });
});
