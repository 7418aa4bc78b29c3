import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binanceBuiltin } from "../src/builtins.js";
import { loadGatewayConfig } from "../src/config.js";
import { type RunningGateway, startGateway } from "../src/gateway.js";
import { memoryLogger, TSX_IMPORT, textOf } from "./helpers/gateway.js";

const KEY = "e2e-demo-key-0123456789";

async function connect(mcpUrl: string, key: string) {
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

/** The behaviour the README promises for `pnpm start`'s defaults. */
async function exerciseDefaults(mcpUrl: string, key: string) {
  const client = await connect(mcpUrl, key);
  try {
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(["binance_us_create_listen_key", "binance_us_keepalive_listen_key"]);
    let listenKey = "";
    for (let i = 1; i <= 10; i++) {
      const r = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
      expect(r.isError, textOf(r)).toBeFalsy();
      listenKey = (r.structuredContent as { listenKey: string }).listenKey;
    }
    expect(listenKey).toMatch(/^[A-Za-z0-9]{60,}$/);
    const eleventh = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    expect(eleventh.isError).toBe(true);
    expect(textOf(eleventh)).toMatch(/retry in \d+s/);
    const meta = eleventh._meta as Record<string, { retryAfterMs?: number }> | undefined;
    const retry = Object.values(meta ?? {}).find((v) => typeof v?.retryAfterMs === "number");
    expect(retry?.retryAfterMs).toBeGreaterThan(0);
    expect(retry?.retryAfterMs).toBeLessThanOrEqual(60_000);

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
    expect(textOf(other)).toMatch(/denied|not allowed/i);
  } finally {
    await client.close();
  }
  await expect(connect(mcpUrl, "wrong-key-0123456789")).rejects.toThrow(/401|nauthorized/i);
  const raw = await fetch(mcpUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: "{}",
  });
  expect(raw.status).toBe(401);
}

describe("default configuration, in-process", () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    const cwd = mkdtempSync(join(tmpdir(), "toolgate-defaults-"));
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

  it("admits 10 creates a minute, keeps alive, denies the rest, 401s a wrong key", async () => {
    await exerciseDefaults(gw.mcpUrl, KEY);
  }, 20_000);
});

describe("`pnpm start` as a child process", () => {
  it("prints a banner whose example works, enforces the defaults, exits 0 on SIGTERM", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "toolgate-start-"));
    const bin = new URL("../src/bin.ts", import.meta.url).pathname;
    const child = spawn(process.execPath, [...TSX_IMPORT, bin, "serve"], {
      cwd,
      env: {
        ...process.env,
        PORT: "0",
        TOOLGATE_API_KEY: "",
        TOOLGATE_ADMIN_TOKEN: "",
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += String(d);
    });
    child.stderr.on("data", (d) => {
      err += String(d);
    });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    try {
      for (let i = 0; i < 300 && !/Try it[^\n]*\n.*\n.*\n/.test(out); i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(out, err).toContain("Try it");
      const mcpUrl = /MCP endpoint\s+(\S+)/.exec(out)?.[1] as string;
      const key = /API key\s+(\S+)/.exec(out)?.[1] as string;
      expect(mcpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
      expect(key).toMatch(/^tg_/);
      expect(out).toMatch(/Approvals\s+http:\/\/127\.0\.0\.1:\d+\/admin\?token=/);

      // Run the printed snippet exactly, with sh: it must list the tools.
      const snippet = /Try it[^\n]*\n((?: {2}\S.*\n)+)/.exec(out)?.[1];
      expect(snippet).toContain("tools/list");
      if (spawnSync("curl", ["--version"]).status === 0) {
        const listed = execFileSync("sh", ["-c", (snippet as string).replace(/^ {2}/gm, "")], {
          encoding: "utf8",
          timeout: 10_000,
        });
        const tools = JSON.parse(listed).result.tools.map((t: { name: string }) => t.name);
        expect(tools.sort()).toEqual([
          "binance_us_create_listen_key",
          "binance_us_keepalive_listen_key",
        ]);
      } else {
        console.warn("curl is not installed: the banner's snippet was not run");
      }

      await exerciseDefaults(mcpUrl, key);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 30_000);
});
