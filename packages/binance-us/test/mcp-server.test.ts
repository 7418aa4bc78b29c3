import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterEach, describe, expect, it } from "vitest";
import { startBinanceUsHttpServer } from "../src/http.js";
import { type BinanceUsMock, startBinanceUsMock } from "../src/mock/server.js";
import { BINANCE_US_TOOL_NAMES, createBinanceUsConnector } from "../src/tools.js";

// The runnable MCP server over both transports, with the mock exchange as upstream.

const API_KEY = "Mq7".repeat(21) + "Z";
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startMock(): Promise<BinanceUsMock> {
  const mock = await startBinanceUsMock({ apiKeys: { [API_KEY]: {} } });
  cleanups.push(() => mock.close());
  return mock;
}

type ToolResult = {
  isError?: boolean;
  content: { type: string; text: string }[];
  structuredContent?: Record<string, unknown>;
};

describe("Binance.US MCP server", () => {
  it("serves the tools over Streamable HTTP with one managed stream shared by sessions", async () => {
    const mock = await startMock();
    const connector = createBinanceUsConnector({
      apiKey: API_KEY,
      restBaseUrl: mock.restUrl,
      wsBaseUrl: mock.wsUrl,
    });
    const http = await startBinanceUsHttpServer(connector, { port: 0 });
    cleanups.push(async () => {
      await http.close();
      await connector.close();
    });
    const clients: Client[] = [];
    for (let k = 0; k < 2; k++) {
      const client = new Client({ name: `agent-${k}`, version: "0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
      clients.push(client);
    }
    const [a, b] = clients as [Client, Client];
    const { tools } = await a.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(Object.values(BINANCE_US_TOOL_NAMES).sort());

    const created = (await a.callTool({
      name: BINANCE_US_TOOL_NAMES.createListenKey,
    })) as ToolResult;
    const listenKey = created.structuredContent?.listenKey as string;
    expect(mock.control.state().keys.map((k) => k.listenKey)).toContain(listenKey);
    expect(JSON.stringify(created)).not.toContain(API_KEY);

    await a.callTool({ name: BINANCE_US_TOOL_NAMES.userStreamStatus });
    await expect
      .poll(async () => {
        const s = (await b.callTool({
          name: BINANCE_US_TOOL_NAMES.userStreamStatus,
        })) as ToolResult;
        return s.structuredContent?.connected;
      })
      .toBe(true);
    expect(mock.control.state().sockets).toHaveLength(1); // shared, not one per session
    mock.control.pushEvent({ apiKey: API_KEY }, mock.control.build.balanceUpdate());
    await expect
      .poll(async () => {
        const page = (await b.callTool({
          name: BINANCE_US_TOOL_NAMES.userStreamEvents,
          arguments: { cursor: 0 },
        })) as ToolResult;
        return (page.structuredContent?.events as { type: string }[]).map((e) => e.type);
      })
      .toEqual(["balanceUpdate"]);
    for (const c of clients) await c.close();
  });

  it("refuses a non-loopback Host header when bound to loopback", async () => {
    const mock = await startMock();
    const connector = createBinanceUsConnector({ apiKey: API_KEY, restBaseUrl: mock.restUrl });
    const http = await startBinanceUsHttpServer(connector, { port: 0 });
    cleanups.push(() => http.close());
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: http.port,
          path: "/mcp",
          method: "POST",
          headers: { host: "evil.example:80", "content-type": "application/json" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end("{}");
    });
    expect(status).toBe(403);
  });

  it.each([
    "rest",
    "ws-api",
  ] as const)("runs as a stdio process with keys from the environment (listen keys over %s)", async (via) => {
    const mock = await startMock();
    const bin = fileURLToPath(new URL("../src/bin/mcp-server.ts", import.meta.url));
    const stderr: string[] = [];
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [
        "--import",
        "tsx",
        bin,
        "--stdio",
        "--rest-url",
        mock.restUrl,
        "--ws-url",
        mock.wsUrl,
        "--log-level",
        "debug",
        "--listen-key-transport",
        via,
        "--ws-api-url",
        mock.wsApiUrl,
      ],
      env: { ...(process.env as Record<string, string>), BINANCE_US_API_KEY: API_KEY },
      stderr: "pipe",
    });
    transport.stderr?.on("data", (d: Buffer) => stderr.push(d.toString("utf8")));
    const client = new Client({ name: "stdio-test", version: "0" });
    await client.connect(transport);
    cleanups.push(() => client.close());
    const created = (await client.callTool({
      name: BINANCE_US_TOOL_NAMES.createListenKey,
    })) as ToolResult;
    expect(created.isError).toBeFalsy();
    const listenKey = created.structuredContent?.listenKey as string;
    const kept = (await client.callTool({
      name: BINANCE_US_TOOL_NAMES.keepaliveListenKey,
      arguments: { listenKey },
    })) as ToolResult;
    expect(kept.structuredContent).toMatchObject({ ok: true });
    // The calls went over the chosen API, and the status says which.
    const keyCalls = mock.control
      .state()
      .requests.filter((q) => q.path === "/api/v3/userDataStream");
    expect(keyCalls.map((q) => q.transport ?? "rest")).toEqual([via, via]);
    const status = (await client.callTool({
      name: BINANCE_US_TOOL_NAMES.userStreamStatus,
    })) as ToolResult;
    expect(status.structuredContent).toMatchObject({ listenKeyTransport: via });
    await client.close();
    expect(stderr.join("")).not.toContain(API_KEY);
  }, 20_000);
});
