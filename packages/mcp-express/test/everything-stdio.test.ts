import { fileURLToPath } from "node:url";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { compilePolicy } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, everythingBin, type RunningGateway, startGateway } from "./harness.js";

const crashy = fileURLToPath(new URL("./fixtures/crashy-server.mjs", import.meta.url));

describe("stdio upstreams (spawned per session, supervised)", () => {
  let gw: RunningGateway;
  let client: Client;
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [
        { name: "everything", command: process.execPath, args: [everythingBin, "stdio"] },
        { name: "crashy", command: process.execPath, args: [crashy] },
      ],
      namespace: "always",
      separator: ".",
      apiKeys: { k: "g" },
      policy: compilePolicy({
        version: "1",
        default: "deny",
        tools: {
          "everything.echo": {},
          "everything.trigger*": {},
          "crashy.*": {},
        },
      }),
    });
    ({ client } = await connect(gw.url, "k", { sampling: {}, elicitation: {} }));
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      model: "m",
      role: "assistant",
      content: { type: "text", text: "from-the-test-client" },
    }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "cancel" }));
  }, 20_000);
  afterAll(async () => {
    await client?.close();
    await gw?.stop();
  });

  it("reports both upstreams healthy after start", () => {
    expect(gw.gw.upstreamHealth()).toEqual([
      { name: "everything", ok: true },
      { name: "crashy", ok: true },
    ]);
  });

  it("aggregates and namespaces tools, filtered by a default-deny policy", async () => {
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toContain("everything.echo");
    expect(names).toContain("everything.trigger-long-running-operation");
    expect(names).toContain("crashy.pid");
    expect(names).not.toContain("everything.get-sum");
    expect(names.every((n) => /^[A-Za-z0-9_.-]{1,128}$/.test(n))).toBe(true);
  });

  it("calls through stdio with progress, sampling and elicitation", async () => {
    const echo = await client.callTool({ name: "everything.echo", arguments: { message: "x" } });
    expect(echo.content).toEqual([{ type: "text", text: "Echo: x" }]);
    const progress: number[] = [];
    await client.callTool(
      { name: "everything.trigger-long-running-operation", arguments: { duration: 0.1, steps: 2 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(progress).toEqual([1, 2]);
    const s = await client.callTool({
      name: "everything.trigger-sampling-request",
      arguments: { prompt: "p" },
    });
    expect(JSON.stringify(s.content)).toContain("from-the-test-client");
    const e = await client.callTool({
      name: "everything.trigger-elicitation-request",
      arguments: {},
    });
    expect(JSON.stringify(e.content)).toContain("cancel");
  });

  it("denies a tool outside the policy over stdio too", async () => {
    const r = await client.callTool({ name: "everything.get-sum", arguments: { a: 1, b: 2 } });
    expect(r.isError).toBe(true);
    expect(JSON.stringify(r.content)).toContain("denied by policy");
  });

  it("restarts a stdio upstream that died, failing only the call in flight", async () => {
    const pid1 = (await client.callTool({ name: "crashy.pid", arguments: {} })).content as Array<{
      text: string;
    }>;
    const crash = await client
      .callTool({ name: "crashy.crash", arguments: {} })
      .catch((e: Error) => e);
    expect(crash).toBeInstanceOf(Error);
    expect(String(crash)).toContain("crashy");
    let pid2: string | undefined;
    // Real waits: the restart backoff runs against a real child process.
    for (let i = 0; i < 80 && pid2 === undefined; i++) {
      try {
        const r = await client.callTool({ name: "crashy.pid", arguments: {} });
        pid2 = (r.content as Array<{ text: string }>)[0]?.text;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(pid2).not.toBe(pid1[0]?.text);
    expect(gw.gw.inFlight()).toBeLessThanOrEqual(1);
  });
});
