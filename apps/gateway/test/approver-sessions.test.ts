import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type ApproverSessionStore,
  createApproverSessions,
  createRedisApproverSessions,
  csrfMatches,
} from "../src/approver-sessions.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";

const REDIS_URL = inject("redisUrl");
const ANA = "ana-approver-token-0123456789";

describe.each([
  ["memory", (now: () => number) => createApproverSessions({ ttlMs: 60_000, now })],
  [
    "redis",
    (now: () => number) =>
      createRedisApproverSessions({
        url: REDIS_URL,
        keyPrefix: `tg-sess-${process.pid}-${Math.random().toString(36).slice(2)}:`,
        ttlMs: 60_000,
        now,
      }),
  ],
] as const)("approver sessions (%s)", (_name, make) => {
  it("expire, sign out, and bind their CSRF token", async () => {
    let clock = 1_000_000;
    const sessions: ApproverSessionStore = make(() => clock);
    const { id, session } = await sessions.create("ana");
    expect(await sessions.get(id)).toEqual(session);
    expect(await sessions.get(`${id}x`)).toBeUndefined();
    expect(csrfMatches(session, session.csrf)).toBe(true);
    expect(csrfMatches(session, "")).toBe(false);
    expect(csrfMatches(session, `${session.csrf}x`)).toBe(false);
    clock += 60_000;
    expect(await sessions.get(id)).toBeUndefined();
    const second = await sessions.create("ana");
    await sessions.delete(second.id);
    expect(await sessions.get(second.id)).toBeUndefined();
    await sessions.close?.();
  });
});

describe("a page session on Redis works through every instance", () => {
  const gws: TestGateway[] = [];
  beforeAll(async () => {
    const prefix = `tg-sess-gw-${process.pid}-${Date.now()}:`;
    const policy = { version: "1", tools: { transfer_funds: { action: "require_approval" } } };
    for (let i = 0; i < 2; i++)
      gws.push(
        await startTestGateway({
          config: `upstreams: []
grants: { desk: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.json } }
store: "${REDIS_URL}/0?prefix=${prefix}"
approvals: { approvers: { ana: { token: "${ANA}" } } }
`,
          files: { "policy.json": JSON.stringify(policy) },
          extraUpstreams: [{ name: "bank", server: fakeUpstream() }],
        }),
      );
  }, 30_000);
  afterAll(async () => {
    await Promise.all(gws.map((g) => g.close()));
  });

  it("signs in on A, approves on B with the cookie and CSRF token; signing out on B ends it on A", async () => {
    const [a, b] = gws as [TestGateway, TestGateway];
    const signIn = await fetch(`${a.gw.url}/admin/api/session`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ credential: ANA }),
    });
    const { csrf } = (await signIn.json()) as { csrf: string };
    const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const client = await a.connect();
    const held = client.callTool({
      name: "transfer_funds",
      arguments: { amount: 1, apiSecret: "x" },
    });
    let id = "";
    for (let i = 0; i < 400 && !id; i++) {
      id = (await b.gw.approvals.listPending())[0]?.id ?? "";
      if (!id) await new Promise((r) => setTimeout(r, 10));
    }
    const approve = (headers: Record<string, string>) =>
      fetch(`${b.gw.url}/admin/api/approvals/${id}/approve`, {
        method: "POST",
        headers: { cookie, ...headers },
      });
    expect((await approve({})).status).toBe(403);
    expect((await approve({ "X-CSRF-Token": csrf })).status).toBe(200);
    expect((await held).isError).toBeFalsy();
    const out = await fetch(`${b.gw.url}/admin/api/session`, {
      method: "DELETE",
      headers: { cookie, "X-CSRF-Token": csrf },
    });
    expect(out.status).toBe(204);
    const after = await fetch(`${a.gw.url}/admin/api/session`, { headers: { cookie } });
    expect(after.status).toBe(401);
  }, 30_000);
});
