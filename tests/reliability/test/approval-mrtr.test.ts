// Held approvals for MCP 2026-07-28 clients through MRTR across two real `toolgate serve`
// processes on one Redis, with no stickiness: the first round lands on A and is answered
// `input_required` with a sealed state naming the approval; the approval is decided
// through B's admin API; the retry lands on B and runs exactly once. Replays on either
// instance, racing retries of one state, a state rebound to other arguments or another
// grant, and a forged approval id never run; four eyes needs two distinct approvers; the
// limit counts a held-then-approved call once.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { expectNoSecrets } from "../src/artifacts.js";
import {
  adminCounters,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  startFixtureUpstream,
  startGateway,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

const redisUrl = inject("redisUrl");
const V = "2026-07-28";

interface Rpc {
  result?: {
    resultType?: string;
    requestState?: string;
    isError?: boolean;
    content?: Array<{ text?: string }>;
    _meta?: { "toolgate/approval"?: { id: string; message: string } };
  };
  error?: { code: number; message: string };
}

describe("held approvals through MRTR across two gateway processes on Redis", () => {
  let up: FixtureUpstream;
  let a: GatewayProcess;
  let b: GatewayProcess;

  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "mrtr-approvals-up" });
    const prefix = `tg-mrtr-apr-${process.pid}-${Date.now()}:`;
    const config = [
      ...fixtureConfigLines(up.url),
      `  other: { apiKey: "\${TOOLGATE_OTHER_KEY}", policy: policy.yaml }`,
      `store: "${redisUrl}/0?prefix=${prefix}"`,
      `stateSecret: "\${TOOLGATE_STATE_SECRET}"`,
      "approvals:",
      "  elicitation: false",
      "  approvers:",
      `    ana: { token: "\${APPROVER_ANA}", roles: [risk] }`,
      `    ben: { token: "\${APPROVER_BEN}", roles: [risk] }`,
      "audit: { path: audit.jsonl }",
    ].join("\n");
    const files = {
      "policy.yaml": [
        'version: "1"',
        "default: deny",
        "tools:",
        "  work:",
        "    action: require_approval",
        "    approval:",
        '      - { when: [{ path: args.id, op: regex, value: "^big" }], approvers: 2, from: [risk] }',
        "      - { expires: 30m }",
        "    limits: [{ counter: works, window: day, max: 50, scope: grant }]",
        "",
      ].join("\n"),
    };
    const env = {
      APPROVER_ANA: SECRETS.approverAna,
      APPROVER_BEN: SECRETS.approverBen,
      TOOLGATE_STATE_SECRET: SECRETS.stateSecret,
    };
    a = await startGateway({ name: "mrtr-apr-a", config, files, env });
    b = await startGateway({ name: "mrtr-apr-b", config, files, env, dir: a.dir });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await up?.stop();
    if (a) expectNoSecrets(a.dir);
  });

  /** One stateless 2026 `tools/call` of `work` on `gw`. */
  async function work(
    gw: GatewayProcess,
    id: string,
    requestState?: string,
    key: string = SECRETS.agentKey,
  ): Promise<Rpc> {
    const params: Record<string, unknown> = {
      name: "work",
      arguments: { id },
      _meta: {
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { name: "rel", version: "1" },
      },
    };
    if (requestState !== undefined) params.requestState = requestState;
    const r = await fetch(gw.mcpUrl, {
      method: "POST",
      headers: {
        authorization: `Bearer ${key}`,
        accept: "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": V,
        "mcp-method": "tools/call",
        "mcp-name": "work",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params }),
    });
    expect(r.status).toBe(200);
    return (await r.json()) as Rpc;
  }
  const decide = async (gw: GatewayProcess, token: string, id: string, how: string) =>
    (
      await fetch(`${gw.url}/admin/api/approvals/${id}/${how}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: "{}",
      })
    ).status;
  const ran = async (id: string) => (await up.stats()).calls[id] ?? 0;
  const approvalId = (r: Rpc) => r.result?._meta?.["toolgate/approval"]?.id as string;
  const used = async () =>
    (await adminCounters(a)).find((c) => c.grant === "agent" && c.counter === "works")?.used ?? 0;

  it("held on A, approved on B, the retry on B runs once; replays on either instance are refused", async () => {
    const first = await work(a, "m1");
    expect(first.result?.resultType).toBe("input_required");
    expect(first.result?._meta?.["toolgate/approval"]?.message).toMatch(
      /held for approval as \S+, 1 more approval needed, expires at \d{4}-/,
    );
    const state = first.result?.requestState as string;
    expect(await decide(b, SECRETS.approverAna, approvalId(first), "approve")).toBe(200);
    const done = await work(b, "m1", state);
    expect(done.result?.resultType).toBe("complete");
    expect(done.result?.content?.[0]?.text).toBe("done:m1");
    expect(await ran("m1")).toBe(1);
    for (const gw of [a, b]) expect((await work(gw, "m1", state)).error?.code).toBe(-32602);
    expect(await ran("m1")).toBe(1);
    // Held rounds gave their unit back: the one run is the one unit.
    expect(await used()).toBe(1);
  });

  it("a pending state is refreshed on the other instance; racing retries of one approved call run once", async () => {
    const first = await work(a, "m2");
    const pending = await work(b, "m2", first.result?.requestState);
    expect(pending.result?.resultType).toBe("input_required");
    expect(approvalId(pending)).toBe(approvalId(first));
    expect(await decide(a, SECRETS.approverBen, approvalId(first), "approve")).toBe(200);
    const fresh = pending.result?.requestState as string;
    // The same state sent ten times at once to both instances: one spends it and runs.
    const racers = await Promise.all(
      Array.from({ length: 10 }, (_, n) => work(n % 2 === 0 ? a : b, "m2", fresh)),
    );
    expect(racers.filter((r) => r.result?.content?.[0]?.text === "done:m2")).toHaveLength(1);
    expect(racers.filter((r) => r.error?.code === -32602)).toHaveLength(9);
    expect(await ran("m2")).toBe(1);
    expect(await used()).toBe(2);
  });

  it("rebound or forged states are refused on the other instance; four eyes needs two approvers", async () => {
    const before = await used();
    const mine = await work(a, "m3");
    const theirs = await work(a, "m4");
    expect(await decide(b, SECRETS.approverAna, approvalId(theirs), "approve")).toBe(200);
    const state = mine.result?.requestState as string;
    const [body, sig] = state.slice("tgs1.".length).split(".") as [string, string];
    const p = JSON.parse(Buffer.from(body, "base64url").toString()) as { d: { a: string } };
    p.d.a = approvalId(theirs);
    const forged = `tgs1.${Buffer.from(JSON.stringify(p)).toString("base64url")}.${sig}`;
    expect((await work(b, "m3", forged)).error?.code).toBe(-32602);
    expect((await work(b, "m4", state)).error?.code).toBe(-32602);
    expect((await work(b, "m3", state, SECRETS.otherKey)).error?.code).toBe(-32602);
    expect(await ran("m3")).toBe(0);
    expect(await ran("m4")).toBe(0);
    expect(await used()).toBe(before);

    const big = await work(b, "big-m");
    const bigId = approvalId(big);
    expect(big.result?._meta?.["toolgate/approval"]?.message).toContain("2 more approvals needed");
    expect(await decide(a, SECRETS.approverAna, bigId, "approve")).toBe(200);
    const half = await work(a, "big-m", big.result?.requestState);
    expect(half.result?.resultType).toBe("input_required");
    expect(half.result?._meta?.["toolgate/approval"]?.message).toContain("1 more approval needed");
    expect(await decide(b, SECRETS.approverBen, bigId, "approve")).toBe(200);
    const done = await work(b, "big-m", half.result?.requestState);
    expect(done.result?.content?.[0]?.text).toBe("done:big-m");
    expect(await ran("big-m")).toBe(1);
    expect(await used()).toBe(before + 1);
  });
});
