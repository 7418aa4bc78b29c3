import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { compilePolicy, type PolicyDocument, PolicyHolder } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type RunningGateway, startGateway, until } from "./harness.js";

/** One server per session; the test keeps them to send a sentinel notification. */
const servers: McpServer[] = [];
function toolServer(): McpServer {
  const s = new McpServer(
    { name: "tools", version: "1.0.0" },
    { capabilities: { resources: { listChanged: true } } },
  );
  for (const name of ["alpha", "beta", "gamma"]) {
    s.registerTool(name, { description: name }, async () => ({
      content: [{ type: "text", text: name }],
    }));
  }
  servers.push(s);
  return s;
}

const allowAll: PolicyDocument = { version: "1", default: "allow" };

/**
 * A client that counts tools/list_changed events. `settle()` makes the upstream send a
 * resources/list_changed on the same standalone stream and waits for it: everything the
 * gateway sent before has then arrived (one SSE stream keeps order).
 */
async function counting(url: string, key: string) {
  const before = servers.length;
  const { client } = await connect(url, key);
  const server = servers[before];
  if (!server) throw new Error("no upstream server for the session");
  const seen = { tools: 0, sentinels: 0 };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    seen.tools++;
  });
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
    seen.sentinels++;
  });
  const settle = async (): Promise<void> => {
    const want = seen.sentinels + 1;
    server.sendResourceListChanged();
    await until(() => seen.sentinels >= want);
  };
  return { client, seen, settle };
}

describe("tools/list_changed after policy reloads", () => {
  const holderA = new PolicyHolder(compilePolicy(allowAll));
  const holderB = new PolicyHolder(compilePolicy(allowAll));
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [{ name: "tools", server: toolServer }],
      apiKeys: { "key-a": "a", "key-b": "b" },
      policy: (grant) => (grant === "a" ? holderA : grant === "b" ? holderB : undefined),
    });
  });
  afterAll(async () => gw?.stop());

  it("one reload seen by the holder subscription and an explicit notify sends one event", async () => {
    holderA.reload(allowAll);
    const { client, seen, settle } = await counting(gw.url, "key-a");
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["alpha", "beta", "gamma"]);
    expect(holderA.reload({ ...allowAll, hide: ["beta"] }).ok).toBe(true);
    await gw.gw.notifyToolsChanged("a");
    await settle();
    expect(seen.tools).toBe(1);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["alpha", "gamma"]);

    // A reload that changes nothing the client may see: no event from either path.
    expect(
      holderA.reload({ ...allowAll, hide: ["beta", "no_such_tool"], tools: { alpha: {} } }).ok,
    ).toBe(true);
    await gw.gw.notifyToolsChanged("a");
    await settle();
    expect(seen.tools).toBe(1);

    // Hiding another tool is a change again, announced once without the client re-listing
    // in between, and the reverse is one more.
    holderA.reload({ ...allowAll, hide: ["beta", "gamma"] });
    await gw.gw.notifyToolsChanged("a");
    await settle();
    expect(seen.tools).toBe(2);
    holderA.reload({ ...allowAll, hide: ["beta"] });
    await gw.gw.notifyToolsChanged("a");
    await settle();
    expect(seen.tools).toBe(3);
    await client.close();
  });

  it("a client that never listed tools is told once, judged against the previous policy", async () => {
    holderA.reload(allowAll);
    const { client, seen, settle } = await counting(gw.url, "key-a");
    holderA.reload({ ...allowAll, tools: { alpha: { reason: "no visible change" } } });
    await gw.gw.notifyToolsChanged("a");
    await settle();
    expect(seen.tools).toBe(0);
    holderA.reload({ ...allowAll, hide: ["alpha"] });
    await gw.gw.notifyToolsChanged("a");
    await settle();
    expect(seen.tools).toBe(1);
    await client.close();
  });

  it("a reload of one grant's policy leaves other grants' sessions alone", async () => {
    holderA.reload(allowAll);
    const { client: a, seen: seenA, settle: settleA } = await counting(gw.url, "key-a");
    const { client: b, seen: seenB, settle: settleB } = await counting(gw.url, "key-b");
    await a.listTools();
    await b.listTools();
    holderA.reload({ ...allowAll, hide: ["gamma"] });
    await gw.gw.notifyToolsChanged();
    await settleA();
    await settleB();
    expect(seenA.tools).toBe(1);
    expect(seenB.tools).toBe(0);
    await Promise.all([a.close(), b.close()]);
  });

  it("force sends even when nothing visible changed", async () => {
    const { client, seen, settle } = await counting(gw.url, "key-b");
    await client.listTools();
    await gw.gw.notifyToolsChanged("b", { force: true });
    await settle();
    expect(seen.tools).toBe(1);
    await gw.gw.notifyToolsChanged("b");
    await settle();
    expect(seen.tools).toBe(1);
    await client.close();
  });
});
