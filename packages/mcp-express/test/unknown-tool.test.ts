import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { compilePolicy, type PolicyDocument } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApprovalRequest, DecisionEvent } from "../src/index.js";
import { FakeTime } from "./fake-time.js";
import { connect, type RunningGateway, startGateway } from "./harness.js";

function oneTool(): McpServer {
  const s = new McpServer({ name: "one", version: "1.0.0" });
  s.registerTool("alpha", { description: "alpha" }, async () => ({
    content: [{ type: "text", text: "alpha ran" }],
  }));
  return s;
}

/** Every grant gets its own policy, one counter shared by all its calls (1 per minute). */
const policies: Record<string, PolicyDocument> = {
  deny: { version: "1", default: "deny", tools: { alpha: {} } },
  allow: {
    version: "1",
    default: "allow",
    all_tools: { limits: [{ counter: "calls", window: "minute", max: 1, scope: "grant" }] },
  },
  held: {
    version: "1",
    default: "allow",
    tools: { "x_*": { action: "require_approval", reason: "x tools need a human" } },
    all_tools: { limits: [{ counter: "calls", window: "minute", max: 1, scope: "grant" }] },
  },
};

describe("tools/call of a tool no upstream offers", () => {
  const time = new FakeTime();
  const events: DecisionEvent[] = [];
  const asked: ApprovalRequest[] = [];
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [{ name: "one", server: oneTool }],
      apiKeys: { "k-deny": "deny", "k-allow": "allow", "k-held": "held" },
      policy: (grant) => {
        const doc = policies[grant];
        return doc ? compilePolicy(doc) : undefined;
      },
      onDecision: (e) => events.push(e),
      approve: async (req) => {
        asked.push(req);
        return "approved";
      },
      now: time.clock,
      scheduler: time,
    });
  });
  afterAll(async () => gw?.stop());

  it("under default deny: the normal denial result, audited as denied", async () => {
    const { client } = await connect(gw.url, "k-deny");
    events.length = 0;
    const r = await client.callTool({ name: "no_such_tool", arguments: { q: "secret-value" } });
    expect(r.isError).toBe(true);
    expect((r.content as Array<{ text: string }>)[0]?.text).toMatch(/^denied by policy: /);
    expect(r._meta?.["toolgate/decision"]).toMatchObject({ effect: "deny" });
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e).toMatchObject({ tool: "no_such_tool", grant: "deny", outcome: "denied" });
    expect(e.upstream).toBeUndefined();
    expect(e.argumentKeys).toEqual(["q"]);
    expect(JSON.stringify(e)).not.toContain("secret-value");
    await client.close();
  });

  it("under default allow: -32602 as before, audited as unknown_tool, no quota used", async () => {
    const { client } = await connect(gw.url, "k-allow");
    events.length = 0;
    await expect(client.callTool({ name: "no_such_tool", arguments: {} })).rejects.toMatchObject({
      code: -32602,
      message: expect.stringContaining("Tool no_such_tool not found"),
    });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      tool: "no_such_tool",
      outcome: "unknown_tool",
      decision: { effect: "allow" },
    });
    expect(events[0]?.upstream).toBeUndefined();
    // The one call per minute is still there: the unknown tool was rolled back.
    const ok = await client.callTool({ name: "alpha", arguments: {} });
    expect(ok.content).toEqual([{ type: "text", text: "alpha ran" }]);
    const limited = await client.callTool({ name: "alpha", arguments: {} });
    expect(limited.isError).toBe(true);
    expect(events.map((x) => x.outcome)).toEqual(["unknown_tool", "forwarded", "denied"]);
    await client.close();
  });

  it("an unknown tool the policy would hold is not sent for approval and costs nothing", async () => {
    const { client } = await connect(gw.url, "k-held");
    events.length = 0;
    await expect(client.callTool({ name: "x_missing", arguments: {} })).rejects.toMatchObject({
      code: -32602,
    });
    expect(asked).toHaveLength(0);
    expect(events).toMatchObject([
      { tool: "x_missing", outcome: "unknown_tool", decision: { effect: "require_approval" } },
    ]);
    expect((await client.callTool({ name: "alpha", arguments: {} })).isError).toBeFalsy();
    await client.close();
  });
});
