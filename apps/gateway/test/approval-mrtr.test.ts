/**
 * Held approvals for MCP 2026-07-28 clients through MRTR, end to end: the SDK v2 client
 * (stateless) through the gateway app with its approvers. A held `tools/call` is answered
 * `input_required` with a gateway-sealed `requestState` naming the approval; the client's
 * own multi-round-trip driver retries with it; approvals through the admin API between
 * rounds release the call exactly once; rejection and expiry deny with a reason; forged,
 * replayed and rebound states are refused with -32602, forwarding and reserving nothing.
 */
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
  SdkError,
} from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { API_KEY, startTestGateway, type TestGateway, textOf } from "./helpers/gateway.js";

const V = "2026-07-28";
const ANA = "ana-approver-token-0123456789";
const BEN = "ben-approver-token-0123456789";
const OTHER_KEY = "other-api-key-0123456789abc";

const policy = {
  version: "1",
  default: "deny",
  tools: {
    transfer_funds: {
      action: "require_approval",
      approval: [
        { when: [{ path: "args.amount", op: "gt", value: 1000 }], approvers: 2 },
        { expires: "30m" },
      ],
      limits: [{ counter: "transfers", window: "day", max: 3, scope: "grant" }],
    },
  },
};

interface Rpc {
  status: number;
  body: {
    result?: Record<string, unknown> & {
      resultType?: string;
      requestState?: string;
      _meta?: Record<string, unknown>;
    };
    error?: { code: number; message: string };
  };
}

describe("held approvals for 2026 clients through MRTR", () => {
  let t: TestGateway;
  const calls: string[] = [];
  let skew = 0;

  beforeAll(async () => {
    t = await startTestGateway({
      config: `upstreams: []
grants:
  desk: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.json }
  other: { apiKey: "${OTHER_KEY}", policy: policy.json }
stateSecret: "mrtr-approval-state-secret-0123456789abcdef"
approvals:
  elicitation: false
  approvers:
    ana: { token: "${ANA}" }
    ben: { token: "${BEN}" }
`,
      files: { "policy.json": JSON.stringify(policy) },
      extraUpstreams: [{ name: "bank", server: fakeUpstream(calls) }],
      now: () => Date.now() + skew,
    });
  }, 30_000);
  afterAll(async () => {
    await t?.close();
  });

  const ran = (amount: number) => calls.filter((c) => c === `transfer:${amount}`).length;
  const decide = async (token: string, id: string, how: string, reason?: string) =>
    (
      await fetch(`${t.gw.url}/admin/api/approvals/${id}/${how}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(reason ? { reason } : {}),
      })
    ).status;
  async function modernClient(maxRounds: number): Promise<ModernClient> {
    const client = new ModernClient(
      { name: "mrtr-approvals", version: "1.0.0" },
      { versionNegotiation: { mode: "auto" }, inputRequired: { maxRounds } },
    );
    await client.connect(
      new ModernTransport(new URL(t.gw.mcpUrl), {
        requestInit: { headers: { authorization: `Bearer ${API_KEY}` } },
      }),
    );
    expect(client.getNegotiatedProtocolVersion()).toBe(V);
    return client;
  }
  /** One raw 2026 `tools/call` POST (the hostile cases need exact control of the body). */
  async function post(params: Record<string, unknown>, key = API_KEY): Promise<Rpc> {
    const r = await fetch(t.gw.mcpUrl, {
      method: "POST",
      headers: {
        authorization: `Bearer ${key}`,
        accept: "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": V,
        "mcp-method": "tools/call",
        "mcp-name": String(params.name),
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 7,
        method: "tools/call",
        params: {
          ...params,
          _meta: {
            "io.modelcontextprotocol/protocolVersion": V,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
          },
        },
      }),
    });
    return { status: r.status, body: (await r.json()) as Rpc["body"] };
  }
  const transfer = (amount: number, extra: Record<string, unknown> = {}, key?: string) =>
    post({ name: "transfer_funds", arguments: { amount, apiSecret: "s" }, ...extra }, key);
  const approvalOf = (r: Rpc) =>
    r.body.result?._meta?.["toolgate/approval"] as
      | { id: string; status: string; expiresAt: string; message: string }
      | undefined;
  async function pendingFor(amount: number) {
    for (let i = 0; i < 500; i++) {
      const p = (await t.gw.approvals.listPending()).find((a) => a.arguments.amount === amount);
      if (p) return p;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no held call for ${amount}`);
  }

  it("the SDK v2 client's own driver retries until two approvers approved; the call runs once", async () => {
    const client = await modernClient(400);
    try {
      let rounds = 0;
      const call = client.callTool(
        { name: "transfer_funds", arguments: { amount: 5000, apiSecret: "s" } },
        {
          onprogress: (p) => {
            rounds = Math.max(rounds, p.progress);
          },
        },
      );
      const held = await pendingFor(5000);
      expect(held.rule?.approvers).toBe(2);
      expect(await decide(ANA, held.id, "approve")).toBe(200);
      // One of two: the client keeps coming back (two more rounds), the call does not run.
      const seen = rounds;
      while (rounds < seen + 2) await new Promise((r) => setTimeout(r, 20));
      expect(ran(5000)).toBe(0);
      expect(await decide(BEN, held.id, "approve")).toBe(200);
      const result = await call;
      expect(result.isError, textOf(result)).toBeFalsy();
      expect(textOf(result)).toBe("moved 5000");
      expect(ran(5000)).toBe(1);
      expect((await t.gw.approvals.get(held.id))?.consumedAt).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  }, 60_000);

  it("answers input_required with a sealed state and a readable status; past its rounds the client gets the state back", async () => {
    const client = await modernClient(1);
    try {
      const err = await client
        .callTool({ name: "transfer_funds", arguments: { amount: 10, apiSecret: "s" } })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(SdkError);
      const last = (err as SdkError).data as { lastResult?: { requestState?: string } };
      expect(last.lastResult?.requestState).toMatch(/^tgs1\./);
    } finally {
      await client.close();
    }
    const first = await transfer(11);
    expect(first.status).toBe(200);
    expect(first.body.result?.resultType).toBe("input_required");
    expect(first.body.result?.requestState).toMatch(/^tgs1\./);
    const a = approvalOf(first)!;
    expect(a.id).toMatch(/^\S{8,}$/);
    expect(a.message).toMatch(
      new RegExp(`held for approval as ${a.id}, 1 more approval needed, expires at \\d{4}-`),
    );
    expect(ran(11)).toBe(0);
  });

  it("pending gives a fresh state; approved runs once; the spent state and a replay are refused", async () => {
    const first = await transfer(20);
    const id = approvalOf(first)!.id;
    const again = await transfer(20, { requestState: first.body.result?.requestState });
    expect(again.body.result?.resultType).toBe("input_required");
    expect(approvalOf(again)?.id).toBe(id);
    expect(approvalOf(again)?.message).toContain("still waiting");
    const fresh = again.body.result?.requestState as string;
    expect(fresh).not.toBe(first.body.result?.requestState);
    // The first state was spent by that round.
    const replayed = await transfer(20, { requestState: first.body.result?.requestState });
    expect(replayed.body.error?.code).toBe(-32602);

    expect(await decide(ANA, id, "approve")).toBe(200);
    const done = await transfer(20, { requestState: fresh });
    expect(done.body.result?.resultType).toBe("complete");
    expect(textOf(done.body.result)).toBe("moved 20");
    expect(ran(20)).toBe(1);
    const replay = await transfer(20, { requestState: fresh });
    expect(replay.body.error?.code).toBe(-32602);
    expect(ran(20)).toBe(1);
  });

  it("a rejection ends it with the approver's reason", async () => {
    const first = await transfer(30);
    const id = approvalOf(first)!.id;
    expect(await decide(BEN, id, "reject", "not this week")).toBe(200);
    const r = await transfer(30, { requestState: first.body.result?.requestState });
    expect(r.body.result?.isError).toBe(true);
    expect(textOf(r.body.result)).toContain("not this week");
    expect(ran(30)).toBe(0);
  });

  it("forged, rebound (other arguments, grant, tool) and another call's approval: -32602, nothing runs", async () => {
    const mine = await transfer(40);
    const theirs = await transfer(41);
    const state = mine.body.result?.requestState as string;
    // Approving the other call does not release this one.
    expect(await decide(ANA, approvalOf(theirs)!.id, "approve")).toBe(200);
    const [body, sig] = state.slice("tgs1.".length).split(".") as [string, string];
    const payload = JSON.parse(Buffer.from(body, "base64url").toString()) as { d: { a: string } };
    payload.d.a = approvalOf(theirs)!.id;
    const forged = `tgs1.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${sig}`;
    const before = calls.length;
    for (const r of [
      await transfer(40, { requestState: forged }),
      await transfer(41, { requestState: state }),
      await transfer(40, { requestState: state }, OTHER_KEY),
      await post({ name: "get_time", arguments: {}, requestState: state }),
    ]) {
      expect(r.body.error?.code, JSON.stringify(r.body)).toBe(-32602);
    }
    expect(calls.length).toBe(before);
    // The genuine state still works after all that: nothing was spent by the refusals.
    const still = await transfer(40, { requestState: state });
    expect(still.body.result?.resultType).toBe("input_required");
  });

  it("expired: a denial with the reason while the state lives, -32602 after", async () => {
    const first = await transfer(50);
    const state = first.body.result?.requestState as string;
    const id = approvalOf(first)!.id;
    skew += 31 * 60_000;
    const late = await transfer(50, { requestState: state });
    expect(late.body.result?.isError).toBe(true);
    expect(textOf(late.body.result)).toMatch(new RegExp(`${id} expired at .* without approval`));
    const again = await transfer(51);
    skew += 40 * 60_000;
    const gone = await transfer(51, { requestState: again.body.result?.requestState });
    expect(gone.body.error?.code).toBe(-32602);
    expect(ran(50) + ran(51)).toBe(0);
  });

  it("counts exactly: held rounds give their unit back, a held-then-approved call counts once", async () => {
    // Limit 3 a day: 5000 and 20 ran (2 units); every held and pending round was rolled back.
    const first = await transfer(60);
    expect(first.body.result?.resultType).toBe("input_required");
    expect(await decide(ANA, approvalOf(first)!.id, "approve")).toBe(200);
    const done = await transfer(60, { requestState: first.body.result?.requestState });
    expect(textOf(done.body.result)).toBe("moved 60");
    const fourth = await transfer(61);
    expect(fourth.body.result?.isError).toBe(true);
    expect(textOf(fourth.body.result)).toMatch(/rate limit .*transfers/);
  });
});
