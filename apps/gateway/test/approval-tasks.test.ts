import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { startTestGateway, type TestGateway, textOf } from "./helpers/gateway.js";

const ANA = "ana-approver-token-0123456789";
const BEN = "ben-approver-token-0123456789";

const policy = {
  version: "1",
  default: "deny",
  tools: {
    transfer_funds: { action: "require_approval", approval: { approvers: 2 } },
  },
};

type StreamMessage = { type: string; task?: { taskId: string }; result?: unknown; error?: Error };

describe("held calls as MCP tasks (SDK client task support)", () => {
  let t: TestGateway;
  let client: Client;
  const calls: string[] = [];

  beforeAll(async () => {
    t = await startTestGateway({
      config: `upstreams: []
grants:
  desk: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.json }
approvals:
  timeoutMs: 5000
  retryExpiresMs: 7200000
  approvers:
    ana: { token: "${ANA}" }
    ben: { token: "${BEN}" }
`,
      files: { "policy.json": JSON.stringify(policy) },
      extraUpstreams: [{ name: "bank", server: fakeUpstream(calls) }],
    });
    client = await t.connect();
  }, 30_000);
  afterAll(async () => {
    await t?.close();
  });

  /** Runs a task-augmented call in the background, collecting what the stream yields. */
  function startTask(amount: number) {
    const seen: StreamMessage[] = [];
    const done = (async () => {
      for await (const m of client.experimental.tasks.callToolStream(
        { name: "transfer_funds", arguments: { amount, apiSecret: "x" } },
        CallToolResultSchema,
        { task: { ttl: 600_000 } },
      ))
        seen.push(m as StreamMessage);
    })();
    return { seen, done };
  }
  const decide = (token: string, id: string, how: string, reason?: string) =>
    fetch(`${t.gw.url}/admin/api/approvals/${id}/${how}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(reason ? { reason } : {}),
    });
  async function taskIdOf(seen: StreamMessage[]): Promise<string> {
    for (let i = 0; i < 400; i++) {
      const id = seen.find((m) => m.type === "taskCreated")?.task?.taskId;
      if (id) return id;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("no task created");
  }
  async function heldApproval(amount: number) {
    for (let i = 0; i < 400; i++) {
      const p = (await t.gw.approvals.listPending()).find((a) => a.arguments.amount === amount);
      if (p) return p;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no held call for ${amount}`);
  }

  it("announces tasks; a held call becomes a task that completes (upstream runs) after both approvals", async () => {
    expect(client.getServerCapabilities()?.tasks).toMatchObject({
      requests: { tools: { call: {} } },
      cancel: {},
    });
    const run = startTask(700);
    const held = await heldApproval(700);
    // A task is not bound by the client's request timeout: it may wait as long as the
    // approval may (retryExpiresMs here), not approvals.timeoutMs.
    expect(held.expiresAt - held.createdAt).toBe(7_200_000);
    const taskId = await taskIdOf(run.seen);
    const status = await client.experimental.tasks.getTask(taskId);
    expect(status).toMatchObject({ status: "working" });

    expect((await decide(ANA, held.id, "approve")).status).toBe(200);
    expect((await client.experimental.tasks.getTask(taskId)).status).toBe("working");
    expect(calls).not.toContain("transfer:700");
    expect((await decide(BEN, held.id, "approve")).status).toBe(200);
    await run.done;
    const result = run.seen.find((m) => m.type === "result")?.result;
    expect(textOf(result)).toBe("moved 700");
    expect(calls).toContain("transfer:700");
    expect((await client.experimental.tasks.getTask(taskId)).status).toBe("completed");
  }, 30_000);

  it("fails the task with the rejection reason; tasks/cancel withdraws a held call", async () => {
    const run = startTask(800);
    const held = await heldApproval(800);
    expect((await decide(BEN, held.id, "reject", "limit exceeded today")).status).toBe(200);
    await run.done;
    const taskId = run.seen.find((m) => m.type === "taskCreated")?.task?.taskId as string;
    expect(run.seen.at(-1)?.type).toBe("error");
    const task = await client.experimental.tasks.getTask(taskId);
    expect(task).toMatchObject({ status: "failed" });
    expect(task.statusMessage).toContain("limit exceeded today");
    const payload = await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    expect(payload.isError).toBe(true);
    expect(textOf(payload)).toContain("limit exceeded today");
    expect(calls).not.toContain("transfer:800");

    const run2 = startTask(900);
    const held2 = await heldApproval(900);
    const id2 = await taskIdOf(run2.seen);
    const cancelled = await client.experimental.tasks.cancelTask(id2);
    expect(cancelled.status).toBe("cancelled");
    await run2.done;
    for (let i = 0; i < 200 && (await t.gw.approvals.get(held2.id))?.status === "pending"; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(await t.gw.approvals.get(held2.id)).toMatchObject({
      status: "rejected",
      resolvedBy: "caller:cancelled",
    });
    // A late approval cannot revive it.
    expect((await decide(ANA, held2.id, "approve")).status).toBe(409);
    expect(calls).not.toContain("transfer:900");
    // Unknown task ids are refused.
    await expect(client.experimental.tasks.getTask("no-such-task")).rejects.toThrow(/unknown task/);
  }, 30_000);
});
