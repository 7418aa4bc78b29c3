import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { baseUpstreamShape, type UpstreamTransport } from "./common.js";

/**
 * An in-process `McpServer`. Prefer a factory: it gets one server per client session,
 * with full semantics. A single instance is shared by all sessions, and an `McpServer`
 * has one connection, so: its notifications (list changes, resource updates, logging)
 * reach every session; its server-to-client requests (sampling, elicitation, roots) go
 * to the session that sent it a request last, which under concurrent sessions may not
 * be the one whose tool call caused them; `logging/setLevel` and subscriptions are
 * shared. Use a single instance only for servers that never ask the client anything.
 *
 * @example
 * { name: "app", server: () => buildMyMcpServer() } // one server per session
 */
export const inProcessUpstreamSchema = z.object({
  kind: z.literal("in-process"),
  ...baseUpstreamShape,
  server: z.custom<McpServer | (() => McpServer | Promise<McpServer>)>(
    (v) => typeof v === "function" || (typeof v === "object" && v !== null && "connect" in v),
    { message: "pass an McpServer or a function returning one" },
  ),
});

/** Servers in this process, linked in memory (the app's builtins are these too). */
export const inProcessTransport: UpstreamTransport<z.output<typeof inProcessUpstreamSchema>> = {
  kind: "in-process",
  schema: inProcessUpstreamSchema,
  marker: "server",
  // An in-process server does not restart on its own.
  supervise: () => false,
  shared: (config) => typeof config.server !== "function",
  factory(config) {
    const server = config.server;
    return async () => {
      const instance: McpServer = typeof server === "function" ? await server() : server;
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      await instance.connect(serverSide);
      return clientSide;
    };
  },
};
