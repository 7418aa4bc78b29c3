// The attacks of a hostile agent against the real `toolgate serve` process: approving its
// own held call through elicitation, slipping request methods past the policy as
// notifications, holding quota with a hung upstream and an aborted call, reading the
// approvals page blind, guessing credentials, flooding sessions. Each is a promise the
// gateway makes; each broke once.
import { request } from "node:http";
import { join } from "node:path";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
  adminCounters,
  connectClient,
  endSession,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  readJsonLines,
  startFixtureUpstream,
  startGateway,
  waitFor,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

/**
 * Every MCP request method (2025-11-25), of either side. Written out here rather than
 * imported from mcp-express on purpose: an independent list catches a method dropped
 * from the gateway's own set.
 */
const REQUEST_METHODS = [
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "completion/complete",
  "logging/setLevel",
  "tasks/get",
  "tasks/result",
  "tasks/list",
  "tasks/cancel",
  "sampling/createMessage",
  "elicitation/create",
  "roots/list",
];

interface AuditLine {
  tool: string;
  code: string;
  outcome?: string;
  approver?: string;
  argumentsDigest: string;
}

interface Pending {
  id: string;
  tool: string;
  arguments: Record<string, unknown>;
  masked?: string[];
  argumentsDigest: string;
}

/** A POST to the MCP endpoint with the headers a Streamable HTTP client sends. */
function mcpPost(
  gw: GatewayProcess,
  body: unknown,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(gw.mcpUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** An initialize from a raw client; resolves with the response. */
function initialize(gw: GatewayProcess, key: string, localAddress?: string) {
  return rawPost(
    gw,
    {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "attacker", version: "1" },
      },
    },
    { authorization: `Bearer ${key}` },
    localAddress,
  );
}

/** A POST from a chosen loopback source address (another "client machine"). */
function rawPost(
  gw: GatewayProcess,
  body: unknown,
  headers: Record<string, string>,
  localAddress = "127.0.0.1",
): Promise<{ status: number; headers: Record<string, string | undefined>; body: string }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      gw.mcpUrl,
      {
        method: "POST",
        localAddress,
        agent: false,
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "content-length": Buffer.byteLength(data),
          ...headers,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (c) => {
          text += String(c);
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: {
              "retry-after": res.headers["retry-after"],
              "mcp-session-id": res.headers["mcp-session-id"] as string | undefined,
            },
            body: text,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

describe("attacker against the real gateway process", () => {
  let up: FixtureUpstream;
  let gw: GatewayProcess;
  const admin = { authorization: `Bearer ${SECRETS.adminToken}` };
  const audit = () => readJsonLines<AuditLine>(join(gw.dir, "audit.jsonl"));
  const pending = async (): Promise<Pending[]> => {
    const r = await fetch(`${gw.url}/admin/api/approvals`, { headers: admin });
    return ((await r.json()) as { pending: Pending[] }).pending;
  };
  const resolveApproval = async (id: string, how: "approve" | "reject") => {
    const r = await fetch(`${gw.url}/admin/api/approvals/${id}/${how}`, {
      method: "POST",
      headers: admin,
    });
    expect(r.status).toBe(200);
  };

  beforeAll(async () => {
    up = await startFixtureUpstream({ name: "attacker-up" });
    const [head, , ...rest] = fixtureConfigLines(up.url);
    gw = await startGateway({
      name: "attacker-gw",
      config: [
        head,
        // A hung upstream call is cancelled and rolled back after 3 s.
        `  - { name: fx, url: "${up.url}", timeoutMs: 3000 }`,
        ...rest,
        `  other: { apiKey: "\${TOOLGATE_OTHER_KEY}", policy: policy.yaml }`,
        // Elicitation stays on (the default): it must not be a way to approve.
        "approvals: { timeoutMs: 30000, secretArguments: [args.wallet.seed] }",
        "maxSessionsPerGrant: 5",
        "audit: { path: audit.jsonl }",
      ].join("\n"),
      files: {
        "policy.yaml": [
          'version: "1"',
          "default: deny",
          "tools:",
          "  work: { action: require_approval, reason: moving money needs a person }",
          "  echo: { action: allow }",
          "  hang:",
          "    limits: [{ counter: hang_rate, window: hour, max: 1 }]",
          "",
        ].join("\n"),
      },
    });
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    await up?.stop();
    expectNoSecrets(gw.dir);
  });

  it("self-approval: an agent answering every elicitation with approve cannot run its held call", async () => {
    const agent = await connectClient(gw.mcpUrl, SECRETS.agentKey, { elicitation: {} });
    const asked: string[] = [];
    agent.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push(JSON.stringify(req.params));
      return { action: "accept", content: { approve: true, withdraw: false } };
    });
    const started = Date.now();
    const call = agent.callTool({
      name: "work",
      arguments: { id: "self-approved", amount: 999999, to: "attacker" },
    });
    const [held] = await waitFor("the call to be held", async () => {
      const p = await pending();
      return p.length > 0 && asked.length > 0 ? p : undefined;
    });
    // The elicitation only offered a withdrawal; the "approval" it got changed nothing.
    expect(asked[0]).toContain("withdraw");
    await new Promise((r) => setTimeout(r, 500));
    expect((await pending()).map((p) => p.id)).toEqual([held?.id]);
    expect((await up.stats()).calls["self-approved"]).toBeUndefined();
    await resolveApproval(held?.id as string, "reject");
    const r = await call;
    recordClientText("attacker", JSON.stringify(r));
    expect(r.isError).toBe(true);
    expect(Date.now() - started).toBeGreaterThan(500);
    expect((await up.stats()).calls["self-approved"]).toBeUndefined();
    const line = await waitFor("the audit line", () =>
      audit().find((a) => a.tool === "work" && a.outcome === "approval_rejected"),
    );
    expect(line.approver).toBe("admin");
    await endSession(agent);
  });

  it("approvers see the full arguments; only named secrets are masked, and marked", async () => {
    const agent = await connectClient(gw.mcpUrl, SECRETS.agentKey);
    const args = {
      id: "masked",
      tokenAddress: "0xATTACKER",
      recipient_public_key: "02ffee",
      signature_override: { r: "0x01", s: "0x02" },
      wallet: { seed: "correct horse battery staple", label: "hot" },
      header: "Bearer abcdefghijklmnopqrstuvwxyz",
    };
    const call = agent.callTool({ name: "work", arguments: args });
    const [held] = await waitFor("the call to be held", async () => {
      const p = await pending();
      return p.length > 0 ? p : undefined;
    });
    expect(held?.arguments).toEqual({
      ...args,
      wallet: { seed: "••••••(masked: secret by policy)", label: "hot" },
      header: "••••••(masked: looks like a bearer token)",
    });
    expect(held?.masked).toEqual(["args.wallet.seed", "args.header"]);
    expect(held?.argumentsDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    await resolveApproval(held?.id as string, "approve");
    const r = await call;
    expect(r.isError).toBeFalsy();
    // The upstream got exactly what the approver saw, secrets included.
    expect((await up.stats()).calls.masked).toBe(1);
    await endSession(agent);
  });

  it("notification bypass: no request method reaches the upstream without an id", async () => {
    const init = await initialize(gw, SECRETS.agentKey);
    const sid = init.headers["mcp-session-id"] as string;
    const h = { authorization: `Bearer ${SECRETS.agentKey}`, "mcp-session-id": sid };
    await (await mcpPost(gw, { jsonrpc: "2.0", method: "notifications/initialized" }, h)).text();
    for (const method of REQUEST_METHODS) {
      const params =
        method === "tools/call"
          ? { name: "echo", arguments: { text: "bypass" } }
          : method === "resources/read"
            ? { uri: "file:///etc/passwd" }
            : {};
      const r = await mcpPost(gw, { jsonrpc: "2.0", method, params }, h);
      const body = (await r.json()) as { error: { code: number; message: string } };
      recordClientText("attacker", JSON.stringify(body));
      expect(r.status, method).toBe(400);
      expect(body.error.code, method).toBe(-32600);
      // The held tool too: a notification must not skip the approval.
      if (method === "tools/call") {
        const w = await mcpPost(
          gw,
          { jsonrpc: "2.0", method, params: { name: "work", arguments: { id: "bypass" } } },
          h,
        );
        expect(w.status).toBe(400);
        await w.text();
      }
    }
    // Every attempt is audited as refused; nothing ran upstream.
    const refused = await waitFor("the refusals in the audit log", () => {
      const lines = audit().filter((a) => a.code === "REFUSED");
      return lines.length >= REQUEST_METHODS.length + 1 ? lines : undefined;
    });
    expect(new Set(refused.map((a) => a.tool))).toEqual(new Set(REQUEST_METHODS));
    expect((await up.stats()).calls.bypass).toBeUndefined();
  });

  it("hung upstream: a client abort cancels and rolls back; the timeout does too, naming the upstream", async () => {
    const init = await initialize(gw, SECRETS.agentKey);
    const sid = init.headers["mcp-session-id"] as string;
    const h = { authorization: `Bearer ${SECRETS.agentKey}`, "mcp-session-id": sid };
    await (await mcpPost(gw, { jsonrpc: "2.0", method: "notifications/initialized" }, h)).text();
    // The client gives up after 500 ms by closing the connection.
    const ac = new AbortController();
    const aborted = mcpPost(
      gw,
      {
        jsonrpc: "2.0",
        id: 9,
        method: "tools/call",
        params: { name: "hang", arguments: { id: "h1" } },
      },
      h,
      ac.signal,
    ).catch((e: unknown) => e);
    await waitFor("the upstream to get the call", async () =>
      (await up.stats()).hung.includes("h1"),
    );
    setTimeout(() => ac.abort(), 500);
    await aborted;
    await waitFor("the upstream to be told", async () =>
      (await up.stats()).cancelled.includes("h1"),
    );
    await waitFor("the cancelled audit line", () =>
      audit().find((a) => a.tool === "hang" && a.outcome === "cancelled"),
    );
    const used = async () =>
      (await adminCounters(gw)).find((c) => c.grant === "agent" && c.counter === "hang_rate")?.used;
    expect(await used()).toBe(0);

    // No abort: the gateway's own timeout (3 s) cancels it, rolls back, says who hung.
    const agent = await connectClient(gw.mcpUrl, SECRETS.agentKey);
    const started = Date.now();
    const err = await agent.callTool({ name: "hang", arguments: { id: "h2" } }).then(
      () => undefined,
      (e: Error) => e,
    );
    recordClientText("attacker", String(err?.message));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err?.message).toContain("upstream fx did not answer tools/call within 3 s");
    await waitFor("the upstream to be told", async () =>
      (await up.stats()).cancelled.includes("h2"),
    );
    expect(audit().find((a) => a.tool === "hang" && a.outcome === "upstream_timeout")).toBeTruthy();
    expect(await used()).toBe(0);
    await endSession(agent);
  }, 30_000);

  it("session flood: a grant keeps at most maxSessionsPerGrant sessions, the oldest idle ones go", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await initialize(gw, SECRETS.otherKey);
      expect(r.status).toBe(200);
      ids.push(r.headers["mcp-session-id"] as string);
    }
    const sessions = await gw.metric("toolgate_sessions");
    expect(sessions).toBeLessThanOrEqual(5 + 2);
    // The first ones were closed to make room; the newest still works.
    const ping = (sid: string) =>
      mcpPost(
        gw,
        { jsonrpc: "2.0", id: 2, method: "ping" },
        {
          authorization: `Bearer ${SECRETS.otherKey}`,
          "mcp-session-id": sid,
        },
      ).then(async (r) => {
        await r.text();
        return r.status;
      });
    expect(await ping(ids[0] as string)).toBe(404);
    expect(await ping(ids.at(-1) as string)).toBe(200);
  });

  it("brute force: failed keys from one address get 429 with a growing Retry-After; other addresses get in", async () => {
    const statuses: number[] = [];
    const waits: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await initialize(gw, `guess-${i}-${"x".repeat(20)}`, "127.0.0.2");
      statuses.push(r.status);
      if (r.status === 429) waits.push(Number(r.headers["retry-after"]));
    }
    // The free attempts, then throttled.
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(20);
    expect(waits.every((w) => w >= 1 && w <= 60)).toBe(true);
    // A blocked address is not even checked: the right key gets 429 there too...
    expect((await initialize(gw, SECRETS.agentKey, "127.0.0.2")).status).toBe(429);
    // ...while the real user at another address is not locked out.
    expect((await initialize(gw, SECRETS.agentKey, "127.0.0.1")).status).toBe(200);
    // The admin API shares the throttle.
    const adminGuess = await new Promise<number>((resolve, reject) => {
      request(
        `${gw.url}/admin/api/approvals`,
        { localAddress: "127.0.0.2", agent: false, headers: { authorization: "Bearer nope" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on("error", reject)
        .end();
    });
    expect(adminGuess).toBe(429);
  });
});
