import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";

/** A small in-process MCP server with tools named like the real ones, plus a risky one. */
export function fakeUpstream(calls: string[] = []): () => McpServer {
  return () => {
    const server = new McpServer({ name: "fake", version: "1.0.0" });
    server.registerTool(
      "binance_us_create_listen_key",
      { description: "create", inputSchema: {} },
      async () => {
        calls.push("create");
        const listenKey = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1";
        return {
          content: [{ type: "text", text: JSON.stringify({ listenKey }) }],
          structuredContent: { listenKey },
        };
      },
    );
    server.registerTool(
      "binance_us_keepalive_listen_key",
      { description: "keepalive", inputSchema: { listenKey: z.string() } },
      async ({ listenKey }) => {
        calls.push(`keepalive:${listenKey.length}`);
        return { content: [{ type: "text", text: "{}" }] };
      },
    );
    server.registerTool(
      "binance_us_close_listen_key",
      { description: "close", inputSchema: { listenKey: z.string() } },
      async () => {
        calls.push("close");
        return { content: [{ type: "text", text: "{}" }], structuredContent: { closed: true } };
      },
    );
    server.registerTool(
      "transfer_funds",
      { description: "moves money", inputSchema: { amount: z.number(), apiSecret: z.string() } },
      async ({ amount }) => {
        calls.push(`transfer:${amount}`);
        return { content: [{ type: "text", text: `moved ${amount}` }] };
      },
    );
    server.registerTool("get_time", { description: "time", inputSchema: {} }, async () => ({
      content: [{ type: "text", text: "now" }],
    }));
    return server;
  };
}
