import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { compilePolicy } from "@toolgate/policy-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, initBody, post, type RunningGateway, startGateway, until } from "./harness.js";

const INIT = initBody("browser");

function tiny(): McpServer {
  const s = new McpServer({ name: "tiny", version: "1.0.0" });
  s.registerTool("hello", {}, async () => ({ content: [{ type: "text", text: "hi" }] }));
  return s;
}

describe("browser clients (CORS for allowed origins)", () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [{ name: "tiny", server: tiny }],
      apiKeys: { k: "g" },
      policy: compilePolicy({ version: "1", default: "allow" }),
      // Written the way people do (capitals, trailing slash): it must still match the
      // serialized origin a browser sends.
      allowedOrigins: ["https://App.Example/"],
    });
  });
  afterAll(async () => gw?.stop());

  it("answers the preflight without credentials and exposes the MCP headers", async () => {
    const pre = await fetch(gw.url, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, mcp-protocol-version",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    const allowHeaders = pre.headers.get("access-control-allow-headers") ?? "";
    for (const h of ["authorization", "content-type", "mcp-session-id", "mcp-protocol-version"]) {
      expect(allowHeaders).toContain(h);
    }
    const init = await post(gw.url, INIT, { origin: "https://app.example", "x-api-key": "k" });
    expect(init.status).toBe(200);
    expect(init.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const exposed = init.headers.get("access-control-expose-headers") ?? "";
    expect(exposed).toContain("mcp-session-id");
    expect(exposed).toContain("mcp-protocol-version");
    expect(init.headers.get("mcp-session-id")).toBeTruthy();
    await init.text();
    // Errors a browser must be able to read carry the CORS headers too.
    const unauth = await post(gw.url, INIT, { origin: "https://app.example" });
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get("access-control-allow-origin")).toBe("https://app.example");
    await unauth.text();
  });

  it("refuses other origins, preflight included, and adds no CORS headers", async () => {
    const pre = await fetch(gw.url, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(pre.status).toBe(403);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    await pre.text();
    // Non-browser clients (no Origin) are unaffected and get no CORS headers.
    const plain = await post(gw.url, INIT, { "x-api-key": "k" });
    expect(plain.status).toBe(200);
    expect(plain.headers.get("access-control-allow-origin")).toBeNull();
    await plain.text();
  });
});

describe("tools/list across upstream pages and upstream list changes", () => {
  let gw: RunningGateway;
  const pageCalls: Array<string | undefined> = [];
  function paged(): McpServer {
    const s = new McpServer({ name: "paged", version: "1.0.0" }, { capabilities: { tools: {} } });
    s.server.setRequestHandler(ListToolsRequestSchema, async (req) => {
      const cursor = req.params?.cursor;
      pageCalls.push(cursor);
      const tool = (name: string) => ({ name, inputSchema: { type: "object" as const } });
      if (cursor === undefined)
        return { tools: [tool("p_one"), tool("p_secret")], nextCursor: "2" };
      if (cursor === "2") return { tools: [tool("p_two")], nextCursor: "3" };
      return { tools: [tool("p_three")] };
    });
    s.server.setRequestHandler(CallToolRequestSchema, async (req) => ({
      content: [{ type: "text", text: `called ${req.params.name}` }],
    }));
    return s;
  }
  function growing(): McpServer {
    const s = new McpServer({ name: "grow", version: "1.0.0" });
    s.registerTool("add_hidden", {}, async () => {
      s.registerTool("g_secret_extra", {}, async () => ({
        content: [{ type: "text", text: "x" }],
      }));
      return { content: [{ type: "text", text: "added hidden" }] };
    });
    s.registerTool("add_visible", {}, async () => {
      s.registerTool("g_new", {}, async () => ({ content: [{ type: "text", text: "new" }] }));
      return { content: [{ type: "text", text: "added visible" }] };
    });
    return s;
  }
  beforeAll(async () => {
    gw = await startGateway({
      upstreams: [
        { name: "paged", server: paged as unknown as () => McpServer },
        { name: "grow", server: growing },
      ],
      apiKeys: { k: "g" },
      policy: compilePolicy({ version: "1", default: "allow", hide: ["*secret*"] }),
    });
  });
  afterAll(async () => gw?.stop());

  it("follows every upstream nextCursor and pages the merged, filtered list with its own cursor", async () => {
    const { client } = await connect(gw.url, "k");
    pageCalls.length = 0;
    // An upstream paged (2 per page): the gateway pages its merged list the same way.
    const names: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.listTools(cursor === undefined ? undefined : { cursor });
      expect(page.tools.length).toBeLessThanOrEqual(2);
      names.push(...page.tools.map((t) => t.name));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 10);
    expect(names.sort()).toEqual(["add_hidden", "add_visible", "p_one", "p_three", "p_two"]);
    expect(pages).toBe(3);
    // Every upstream page was fetched once, for the first page of the gateway's.
    expect(pageCalls).toEqual([undefined, "2", "3"]);
    // An upstream's own cursor (or any other) is not the gateway's: invalid params.
    await expect(client.listTools({ cursor: "2" })).rejects.toMatchObject({ code: -32602 });
    await expect(client.listPrompts({ cursor: "x" })).rejects.toMatchObject({ code: -32602 });
    // A tool from a later page is routed like any other.
    const r = await client.callTool({ name: "p_three", arguments: {} });
    expect(r.content).toEqual([{ type: "text", text: "called p_three" }]);
    await client.close();
  });

  it("re-lists on an upstream list_changed and tells the client only about visible changes", async () => {
    const { client } = await connect(gw.url, "k");
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    await client.listTools();
    // The upstream adds a tool the policy hides, then one the client may see.
    await client.callTool({ name: "add_hidden", arguments: {} });
    await client.callTool({ name: "add_visible", arguments: {} });
    await until(() => changed > 0);
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? undefined : { cursor });
      names.push(...page.tools.map((t) => t.name));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(names).toContain("g_new");
    expect(names).not.toContain("g_secret_extra");
    // One event for the visible change; none for the hidden one (checks run in order).
    await client.ping();
    expect(changed).toBe(1);
    await client.close();
  });
});
