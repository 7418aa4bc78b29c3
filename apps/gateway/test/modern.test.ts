/**
 * The SDK v2 client (MCP 2026-07-28, stateless) through the gateway app to the builtin
 * Binance.US tools (the in-process server over the mock exchange): the same defaults as
 * a 2025 client gets — 10 creates a minute, keepalive, default deny.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binanceBuiltin } from "../src/builtins.js";
import { loadGatewayConfig } from "../src/config.js";
import { type RunningGateway, startGateway } from "../src/gateway.js";
import { memoryLogger, textOf } from "./helpers/gateway.js";

const KEY = "modern-demo-key-0123456789";

describe("SDK v2 client to the builtin Binance.US tools", () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    const cwd = mkdtempSync(join(tmpdir(), "toolgate-modern-"));
    const loaded = loadGatewayConfig({ cwd, env: { TOOLGATE_API_KEY: KEY } });
    gw = await startGateway({
      loaded,
      env: {},
      logger: memoryLogger().logger,
      builtins: binanceBuiltin,
      listen: { host: "127.0.0.1", port: 0 },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("negotiates 2026, admits 10 creates a minute, keeps alive, denies the rest", async () => {
    const client = new ModernClient(
      { name: "modern", version: "1.0.0" },
      { versionNegotiation: { mode: "auto" } },
    );
    await client.connect(
      new ModernTransport(new URL(gw.mcpUrl), {
        requestInit: { headers: { authorization: `Bearer ${KEY}` } },
      }),
    );
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      expect(names).toEqual(["binance_us_create_listen_key", "binance_us_keepalive_listen_key"]);
      let listenKey = "";
      for (let i = 1; i <= 10; i++) {
        const r = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
        expect(r.isError, textOf(r)).toBeFalsy();
        listenKey = (r.structuredContent as { listenKey: string }).listenKey;
      }
      expect(listenKey).toMatch(/^[A-Za-z0-9]{60,}$/);
      const eleventh = await client.callTool({
        name: "binance_us_create_listen_key",
        arguments: {},
      });
      expect(eleventh.isError).toBe(true);
      expect(textOf(eleventh)).toMatch(/retry in \d+s/);
      const decision = eleventh._meta?.["toolgate/decision"] as { retryAfterMs?: number };
      expect(decision.retryAfterMs).toBeGreaterThan(0);
      expect(decision.retryAfterMs).toBeLessThanOrEqual(60_000);
      const keepalive = await client.callTool({
        name: "binance_us_keepalive_listen_key",
        arguments: { listenKey },
      });
      expect(keepalive.isError, textOf(keepalive)).toBeFalsy();
      const other = await client.callTool({
        name: "binance_us_close_listen_key",
        arguments: { listenKey },
      });
      expect(other.isError).toBe(true);
      expect(textOf(other)).toMatch(/denied/i);
    } finally {
      await client.close();
    }
  }, 20_000);
});
