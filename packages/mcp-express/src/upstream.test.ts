import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { describe, expect, it } from "vitest";
import { FakeTime } from "../test/fake-time.js";
import { UpstreamLink } from "./upstream.js";

const init = {
  protocolVersion: "2025-11-25",
  capabilities: {},
  clientInfo: { name: "t", version: "1" },
};

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

describe("UpstreamLink supervision (fake time)", () => {
  it("restarts a dead upstream with exponential backoff and tells listeners", async () => {
    const time = new FakeTime();
    const serverSides: InMemoryTransport[] = [];
    let spawns = 0;
    let failNext = 0;
    const link = new UpstreamLink({
      name: "s",
      supervise: true,
      scheduler: time,
      logger: {},
      factory: async () => {
        spawns++;
        if (failNext > 0) {
          failNext--;
          throw new Error("spawn failed");
        }
        const server = new McpServer({ name: "s", version: "1" });
        const [client, srv] = InMemoryTransport.createLinkedPair();
        await server.connect(srv);
        serverSides.push(srv);
        return client;
      },
    });
    let restarted = 0;
    link.addListener({
      onUpstreamMessage: () => undefined,
      onUpstreamRestarted: () => restarted++,
    });
    await link.connect(init);
    expect(link.ok).toBe(true);

    failNext = 1;
    await serverSides[0]!.close();
    expect(link.ok).toBe(false);
    time.advance(199);
    expect(spawns).toBe(1);
    time.advance(1);
    await settle();
    expect(spawns).toBe(2); // failed attempt: next one after 400 ms
    time.advance(399);
    await settle();
    expect(spawns).toBe(2);
    time.advance(1);
    await settle();
    expect(spawns).toBe(3);
    expect(link.ok).toBe(true);
    expect(restarted).toBe(1);
    const pong = await link.request("ping", undefined);
    expect(pong.result).toEqual({});

    await link.close();
    await serverSides[1]?.close();
    time.advance(60_000);
    await settle();
    expect(spawns).toBe(3);
    expect(time.pending).toBe(0);
  });

  it("fails pending requests when the connection dies", async () => {
    const time = new FakeTime();
    let srvSide: InMemoryTransport | undefined;
    const link = new UpstreamLink({
      name: "x",
      supervise: false,
      scheduler: time,
      logger: {},
      factory: async () => {
        const [client, srv] = InMemoryTransport.createLinkedPair();
        srvSide = srv;
        // A server that answers initialize and then never answers anything else.
        srv.onmessage = (m) => {
          if ("method" in m && m.method === "initialize" && "id" in m) {
            void srv.send({
              jsonrpc: "2.0",
              id: m.id,
              result: {
                protocolVersion: "2025-11-25",
                capabilities: {},
                serverInfo: { name: "x", version: "1" },
              },
            });
          }
        };
        await srv.start();
        return client;
      },
    });
    let lost = 0;
    link.addListener({ onUpstreamMessage: () => undefined, onUpstreamLost: () => lost++ });
    await link.connect(init);
    const pending = link.request("tools/list", undefined);
    await srvSide!.close();
    await expect(pending).rejects.toMatchObject({ code: "UPSTREAM_FAILED" });
    expect(lost).toBe(1);
  });
});
