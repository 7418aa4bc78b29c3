// A tiny stdio MCP server for `toolgate scan -- <command>` tests.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

const server = new McpServer({ name: "stdio-fixture", version: "1.0.0" });
const noop = async () => ({ content: [{ type: "text" as const, text: "ok" }] });
server.registerTool(
  "list_files",
  { description: "lists", annotations: { readOnlyHint: true } },
  noop,
);
server.registerTool("delete_file", { description: "deletes" }, noop);
server.registerTool(
  "rename_thing",
  { description: "x", annotations: { destructiveHint: true } },
  noop,
);
server.registerTool("create_issue", { description: "creates" }, noop);
await server.connect(new StdioServerTransport());
