// Approval replay against the real gateway process, through its admin API: an approval
// lets exactly one call through, the one it was created for. It cannot be approved twice
// or after its call finished, it does not cover other arguments, another grant, or the
// same arguments later; a rejection fails the call with the approver's reason.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
  connectClient,
  endSession,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  startFixtureUpstream,
  startGateway,
  waitFor,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

interface Approval {
  id: string;
  grant: string;
  tool: string;
  arguments: Record<string, unknown>;
  status: string;
}

interface Outcome {
  ok: boolean;
  text: string;
}

describe("approval replay", () => {
  let up: FixtureUpstream;
  let gw: GatewayProcess;
  let agent: Client;
  let other: Client;

  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "approvals-up" });
    gw = await startGateway({
      name: "approvals-gw",
      config: [
        ...fixtureConfigLines(up.url),
        `  other: { apiKey: "\${TOOLGATE_OTHER_KEY}", policy: policy.yaml }`,
        "approvals: { timeoutMs: 30000, elicitation: false }",
        "audit: { path: audit.jsonl }",
      ].join("\n"),
      files: {
        "policy.yaml": [
          'version: "1"',
          "default: deny",
          "tools:",
          "  work: { action: require_approval, reason: work needs a person }",
          "",
        ].join("\n"),
      },
    });
    agent = await connectClient(gw.mcpUrl, SECRETS.agentKey);
    other = await connectClient(gw.mcpUrl, SECRETS.otherKey);
  });
  afterAll(async () => {
    if (agent) await endSession(agent);
    if (other) await endSession(other);
    await gw?.stop();
    await up?.stop();
    expectNoSecrets(gw.dir);
  });

  const api = async (method: "GET" | "POST", path: string, body?: unknown) => {
    const r = await fetch(`${gw.url}/admin/api/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${SECRETS.adminToken}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await r.json()) as Record<string, unknown>;
    if (r.status >= 400) recordClientText(`approvals ${method} ${path}`, JSON.stringify(json));
    return { status: r.status, json };
  };
  const pending = async () => ((await api("GET", "approvals")).json.pending ?? []) as Approval[];
  /** Waits until a call of `grant` with work id `id` is held, and returns its approval. */
  const heldFor = (grant: string, id: string, skip: ReadonlySet<string> = new Set()) =>
    waitFor(`a held call of ${grant} for ${id}`, async () =>
      (await pending()).find((a) => a.grant === grant && a.arguments.id === id && !skip.has(a.id)),
    );
  const resolve = (id: string, how: "approve" | "reject", reason?: string) =>
    api("POST", `approvals/${id}/${how}`, reason === undefined ? undefined : { reason });
  const call = async (client: Client, id: string): Promise<Outcome> => {
    const r = await client.callTool({ name: "work", arguments: { id } });
    const text = (r.content as Array<{ text?: string }>).map((c) => c.text ?? "").join("");
    if (r.isError) recordClientText(`approvals work ${id}`, text);
    return { ok: !r.isError, text };
  };
  /** True while `p` has not settled (checked after the gateway had time to act). */
  const stillWaiting = async (p: Promise<unknown>) => {
    const probe = Symbol("waiting");
    return (await Promise.race([p, new Promise((r) => setTimeout(() => r(probe), 300))])) === probe;
  };

  it("lets one call through per approval; approving again or after the call is refused", async () => {
    const first = call(agent, "a1");
    const a = await heldFor("agent", "a1");
    expect(a).toMatchObject({ tool: "work", status: "pending" });
    expect((await resolve(a.id, "approve")).status).toBe(200);
    expect(await first).toEqual({ ok: true, text: "done:a1" });

    // The call is done: neither approving nor rejecting it again changes anything.
    const twice = await resolve(a.id, "approve");
    expect(twice.status).toBe(409);
    expect(twice.json).toMatchObject({ error: "already_resolved" });
    expect((await resolve(a.id, "reject", "too late")).status).toBe(409);
    expect((await resolve("no-such-approval", "approve")).status).toBe(404);
    expect((await up.stats()).calls).toEqual({ a1: 1 });
  });

  it("does not cover other arguments, another grant, or the same arguments later", async () => {
    const used = new Set<string>();
    const firstCall = call(agent, "b1");
    const b1 = await heldFor("agent", "b1");
    used.add(b1.id);
    // Other arguments from the same grant, and the same arguments from another grant,
    // are held on their own while b1 waits.
    const differentArgs = call(agent, "b2");
    const otherGrant = call(other, "b1");
    const b2 = await heldFor("agent", "b2");
    const ob1 = await heldFor("other", "b1");
    expect(new Set([b1.id, b2.id, ob1.id]).size).toBe(3);

    expect((await resolve(b1.id, "approve")).status).toBe(200);
    expect(await firstCall).toEqual({ ok: true, text: "done:b1" });
    // Approving b1 released only b1.
    expect(await stillWaiting(differentArgs)).toBe(true);
    expect(await stillWaiting(otherGrant)).toBe(true);
    expect((await pending()).map((p) => p.id).sort()).toEqual([b2.id, ob1.id].sort());

    // The same arguments again, later: a fresh hold; the spent approval does not cover it.
    const again = call(agent, "b1");
    const b1again = await heldFor("agent", "b1", used);
    expect(b1again.id).not.toBe(b1.id);
    expect((await resolve(b1.id, "approve")).status).toBe(409);
    expect(await stillWaiting(again)).toBe(true);

    // Rejections fail their calls with the approver's reason; nothing of them ran.
    expect((await resolve(b2.id, "reject", "b2 is not wanted")).status).toBe(200);
    expect((await resolve(ob1.id, "reject", "other grant may not")).status).toBe(200);
    expect((await resolve(b1again.id, "reject")).status).toBe(200);
    const [r2, ro, ra] = await Promise.all([differentArgs, otherGrant, again]);
    expect(r2.ok).toBe(false);
    expect(r2.text).toMatch(/approval rejected: b2 is not wanted/);
    expect(ro.ok).toBe(false);
    expect(ro.text).toMatch(/approval rejected: other grant may not/);
    expect(ra.ok).toBe(false);
    expect(ra.text).toMatch(/approval rejected/);
    // A rejected approval cannot be turned into an approval afterwards.
    expect((await resolve(b2.id, "approve")).status).toBe(409);

    expect((await up.stats()).calls).toEqual({ a1: 1, b1: 1 });
    expect(await pending()).toEqual([]);
    expect(await gw.metric("toolgate_approvals_total", 'outcome="rejected"')).toBe(3);
    expect(await gw.metric("toolgate_approvals_total", 'outcome="approved"')).toBe(2);
    expect(await gw.metric("toolgate_in_flight_requests")).toBe(0);
  });
});
