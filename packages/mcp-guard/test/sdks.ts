import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport as MemoryV1 } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer as McpServerV1 } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  McpServer as McpServerV2,
  InMemoryTransport as MemoryV2,
} from "@modelcontextprotocol/server";
import { z } from "zod";

/** A tool body: gets the parsed arguments, answers a CallToolResult (or throws). */
export type ToolBody = (args: Record<string, unknown>) => unknown;

/** The same test server and client, built with either SDK major. */
export interface Sdk {
  readonly label: string;
  /**
   * A fresh server; `tool` registers a tool taking an optional `amount` argument and
   * returns a function that changes its description (a changed definition).
   */
  server(): {
    server: { server: object };
    tool(name: string, body: ToolBody): (description: string) => void;
  };
  /** Connects a real client of the same SDK over an in-memory pair. */
  connect(server: { server: object }): Promise<TestClient>;
  /** Calls `cb` on every `notifications/tools/list_changed` the client receives. */
  onToolsChanged(client: TestClient, cb: () => void): void;
}

/** The slice of either SDK's Client the tests use. */
export interface TestClient {
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  callTool(p: { name: string; arguments?: Record<string, unknown> }): Promise<CallResult>;
  close(): Promise<void>;
}

export interface CallResult {
  isError?: boolean;
  content?: Array<{ type: string; text?: string }>;
  _meta?: Record<string, unknown>;
}

const input = z.object({ amount: z.number().optional() });

export const sdkV1: Sdk = {
  label: "SDK v1 (@modelcontextprotocol/sdk)",
  server() {
    const server = new McpServerV1({ name: "guarded-v1", version: "1.0.0" });
    return {
      server,
      tool(name, body) {
        const t = server.registerTool(
          name,
          { description: `${name} tool`, inputSchema: input.shape },
          (args) => body(args) as never,
        );
        return (description) => t.update({ description });
      },
    };
  },
  async connect(server) {
    const [a, b] = MemoryV1.createLinkedPair();
    await (server as McpServerV1).connect(b);
    const client = new ClientV1({ name: "test-client-v1", version: "1.0.0" });
    await client.connect(a);
    return client as unknown as TestClient;
  },
  onToolsChanged(client, cb) {
    (client as unknown as ClientV1).setNotificationHandler(ToolListChangedNotificationSchema, cb);
  },
};

export const sdkV2: Sdk = {
  label: "SDK v2 (@modelcontextprotocol/server)",
  server() {
    const server = new McpServerV2({ name: "guarded-v2", version: "1.0.0" });
    return {
      server,
      tool(name, body) {
        const t = server.registerTool(
          name,
          { description: `${name} tool`, inputSchema: input },
          (args) => Promise.resolve(body(args)) as never,
        );
        return (description) => t.update({ description });
      },
    };
  },
  async connect(server) {
    const [a, b] = MemoryV2.createLinkedPair();
    await (server as McpServerV2).connect(b);
    const client = new ClientV2({ name: "test-client-v2", version: "1.0.0" });
    await client.connect(a);
    return client as unknown as TestClient;
  },
  onToolsChanged(client, cb) {
    (client as unknown as ClientV2).setNotificationHandler("notifications/tools/list_changed", cb);
  },
};

/** The text of a result's first content block. */
export function text(r: CallResult): string {
  return r.content?.[0]?.text ?? "";
}

/** The decision the guard put in `_meta`, if any. */
export function decisionOf(r: CallResult): Record<string, unknown> | undefined {
  return r._meta?.["toolgate/decision"] as Record<string, unknown> | undefined;
}
