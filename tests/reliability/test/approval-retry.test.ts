// Retry-mode approvals across two real `toolgate serve` processes on one Redis: a held
// call is answered at once with its approval id; it is approved through the admin API of
// the other instance; an identical call, on either instance, consumes the approval
// exactly once. Replays, changed arguments, another grant and racing retries never run;
// a rejection reaches the agent once; four eyes needs two distinct approvers.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
  connectClient,
  endSession,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  startFixtureUpstream,
  startGateway,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

const redisUrl = inject("redisUrl");

interface Answer {
  ok: boolean;
  text: string;
  approvalId?: string;
}

describe("retry-mode approvals across two gateway processes on Redis", () => {
  let up: FixtureUpstream;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let onA: Client;
  let onB: Client;
  let otherOnA: Client;

  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "retry-up" });
    const prefix = `tg-retry-${process.pid}-${Date.now()}:`;
    const config = [
      ...fixtureConfigLines(up.url),
      `  other: { apiKey: "\${TOOLGATE_OTHER_KEY}", policy: policy.yaml }`,
      `store: "${redisUrl}/0?prefix=${prefix}"`,
      "approvals:",
      "  mode: retry",
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
        "",
      ].join("\n"),
    };
    const env = { APPROVER_ANA: SECRETS.approverAna, APPROVER_BEN: SECRETS.approverBen };
    a = await startGateway({ name: "retry-a", config, files, env });
    b = await startGateway({ name: "retry-b", config, files, env, dir: a.dir });
    onA = await connectClient(a.mcpUrl, SECRETS.agentKey);
    onB = await connectClient(b.mcpUrl, SECRETS.agentKey);
    otherOnA = await connectClient(a.mcpUrl, SECRETS.otherKey);
  });
  afterAll(async () => {
    for (const c of [onA, onB, otherOnA]) if (c) await endSession(c);
    await a?.stop();
    await b?.stop();
    await up?.stop();
    expectNoSecrets(a.dir);
  });

  const call = async (client: Client, id: string): Promise<Answer> => {
    const r = await client.callTool({ name: "work", arguments: { id } });
    const text = (r.content as Array<{ text?: string }>).map((c) => c.text ?? "").join("");
    if (r.isError) recordClientText(`retry work ${id}`, text);
    const meta = r._meta as { "toolgate/approval"?: { id: string } } | undefined;
    return { ok: !r.isError, text, approvalId: meta?.["toolgate/approval"]?.id };
  };
  const decide = async (
    gw: GatewayProcess,
    token: string,
    id: string,
    how: string,
    reason?: string,
  ) => {
    const r = await fetch(`${gw.url}/admin/api/approvals/${id}/${how}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(reason === undefined ? {} : { reason }),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  const ran = async (id: string) => (await up.stats()).calls[id] ?? 0;

  it("held on A, approved on B, consumed by the identical call on B, exactly once", async () => {
    const first = await call(onA, "r1");
    expect(first.ok).toBe(false);
    expect(first.text).toMatch(/did not run: it is held for approval as \S+\. Call work again/);
    expect(first.text).toMatch(/expires at \d{4}-\d\d-\d\dT/);
    const id = first.approvalId as string;
    expect(first.text).toContain(id);

    // Asking again before the decision: the same approval, still waiting.
    const early = await call(onB, "r1");
    expect(early).toMatchObject({ ok: false, approvalId: id });
    expect(early.text).toContain("still waiting");

    expect((await decide(b, SECRETS.approverAna, id, "approve")).status).toBe(200);
    expect(await call(onB, "r1")).toMatchObject({ ok: true, text: "done:r1" });
    expect(await ran("r1")).toBe(1);

    // Replay on either instance: the approval is spent; a new one is asked for.
    const replay = await call(onA, "r1");
    expect(replay.ok).toBe(false);
    expect(replay.approvalId).not.toBe(id);
    expect(await ran("r1")).toBe(1);
  });

  it("covers neither changed arguments nor another grant; racing retries run once", async () => {
    const held = await call(onA, "r2");
    expect(
      (await decide(a, SECRETS.approverBen, held.approvalId as string, "approve")).status,
    ).toBe(200);
    const changed = await call(onA, "r2x");
    expect(changed.ok).toBe(false);
    expect(changed.approvalId).not.toBe(held.approvalId);
    const otherGrant = await call(otherOnA, "r2");
    expect(otherGrant.ok).toBe(false);
    expect(otherGrant.approvalId).not.toBe(held.approvalId);
    expect(await ran("r2")).toBe(0);

    // Ten identical retries at once, over both instances: one runs.
    const racers = await Promise.all(
      Array.from({ length: 10 }, (_, n) => call(n % 2 === 0 ? onA : onB, "r2")),
    );
    expect(racers.filter((r) => r.ok)).toHaveLength(1);
    expect(await ran("r2")).toBe(1);
  });

  it("a rejection reaches the agent once, with the reason; four eyes needs two distinct approvers", async () => {
    const held = await call(onA, "r3");
    const id = held.approvalId as string;
    expect((await decide(b, SECRETS.approverAna, id, "reject", "not today")).status).toBe(200);
    const told = await call(onB, "r3");
    expect(told.ok).toBe(false);
    expect(told.text).toMatch(/rejected: .*not today/);
    // After that, the same call asks anew.
    const anew = await call(onA, "r3");
    expect(anew.approvalId).not.toBe(id);
    expect(await ran("r3")).toBe(0);

    const big = await call(onA, "big-1");
    const bigId = big.approvalId as string;
    expect((await decide(a, SECRETS.approverAna, bigId, "approve")).status).toBe(200);
    // The same approver twice does not make two.
    const again = await decide(b, SECRETS.approverAna, bigId, "approve");
    expect(again).toMatchObject({ status: 409, json: { error: "already_decided" } });
    const half = await call(onB, "big-1");
    expect(half.ok).toBe(false);
    expect(half.text).toContain("1 of 2 approvals so far");
    expect((await decide(b, SECRETS.approverBen, bigId, "approve")).status).toBe(200);
    expect(await call(onA, "big-1")).toMatchObject({ ok: true, text: "done:big-1" });
    expect(await ran("big-1")).toBe(1);
  });
});
