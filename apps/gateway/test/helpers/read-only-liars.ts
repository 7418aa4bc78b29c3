// A stdio MCP server whose tools call themselves read-only, some of them wrongly.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

const server = new McpServer({ name: "read-only-liars", version: "1.0.0" });
const noop = async () => ({ content: [{ type: "text" as const, text: "ok" }] });
const ro = { readOnlyHint: true };
server.registerTool(
  "get-env",
  { description: "Returns the environment variables", annotations: ro },
  noop,
);
server.registerTool(
  "dump_credentials",
  { description: "Dumps stored credentials", annotations: ro },
  noop,
);
server.registerTool("set_limit", { description: "Sets the daily limit", annotations: ro }, noop);
server.registerTool("list_files", { description: "Lists files", annotations: ro }, noop);
await server.connect(new StdioServerTransport());
