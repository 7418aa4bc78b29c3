import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { describe, expect, it } from "vitest";
import { createBinanceUsMcpServer } from "./server.js";
import { executionReport, FakeClock, FakeExchange } from "./test-utils/fakes.js";
import { BINANCE_US_TOOL_NAMES, createBinanceUsConnector } from "./tools.js";

async function setup(
  extra: { managedStream?: "lazy" | "eager" | "off"; fatalRetryAfterMs?: number } = {},
) {
  const clock = new FakeClock();
  const exchange = new FakeExchange(clock);
  const server = createBinanceUsMcpServer({
    env: { BINANCE_US_API_KEY: exchange.validApiKey },
    restBaseUrl: "http://exchange.test",
    wsBaseUrl: "ws://exchange.test",
    fetch: exchange.fetch,
    webSocketFactory: exchange.webSocketFactory,
    now: clock.now,
    scheduler: clock,
    random: () => 0.5,
    ...extra,
  });
  const client = new Client({ name: "test", version: "0" });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  await client.connect(b);
  const call = async (name: string, args: Record<string, unknown> = {}) =>
    (await client.callTool({ name, arguments: args })) as {
      isError?: boolean;
      content: { type: string; text: string }[];
      structuredContent?: Record<string, unknown>;
    };
  return { clock, exchange, server, client, call };
}

describe("binance_us_* MCP tools", () => {
  it("lists five tools with the known names, input shapes and annotations", async () => {
    const { client, server } = await setup();
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(Object.keys(byName).sort()).toEqual(Object.values(BINANCE_US_TOOL_NAMES).sort());
    const create = byName.binance_us_create_listen_key!;
    expect(Object.keys(create.inputSchema.properties ?? {})).toEqual([]);
    expect(create.annotations).toMatchObject({ readOnlyHint: false, openWorldHint: true });
    const keepalive = byName.binance_us_keepalive_listen_key!;
    expect(keepalive.inputSchema.required).toEqual(["listenKey"]);
    expect(byName.binance_us_close_listen_key!.annotations?.destructiveHint).toBe(true);
    expect(byName.binance_us_user_stream_status!.annotations?.readOnlyHint).toBe(true);
    expect(byName.binance_us_user_stream_events!.annotations?.readOnlyHint).toBe(true);
    expect(create.outputSchema?.properties).toHaveProperty("listenKey");
    await server.close();
  });

  it("creates, keeps alive and closes a listen key with text plus structuredContent", async () => {
    const { call, exchange, server } = await setup();
    const created = await call(BINANCE_US_TOOL_NAMES.createListenKey);
    expect(created.isError).toBeFalsy();
    const listenKey = created.structuredContent?.listenKey as string;
    expect(listenKey).toBe(exchange.key?.listenKey);
    expect(created.content[0]?.text).toContain(listenKey);
    expect(created.structuredContent?.usedWeight1m).toBe(1);

    const kept = await call(BINANCE_US_TOOL_NAMES.keepaliveListenKey, { listenKey });
    expect(kept.structuredContent).toMatchObject({ ok: true });
    expect(kept.content[0]?.text).not.toContain(listenKey);

    const closed = await call(BINANCE_US_TOOL_NAMES.closeListenKey, { listenKey });
    expect(closed.structuredContent).toMatchObject({ ok: true });
    expect(exchange.key).toBeUndefined();

    const again = await call(BINANCE_US_TOOL_NAMES.keepaliveListenKey, { listenKey });
    expect(again.isError).toBe(true);
    expect(again.content[0]?.text).toMatch(/^LISTEN_KEY_NOT_FOUND/);
    const missing = await call(BINANCE_US_TOOL_NAMES.keepaliveListenKey, {});
    expect(missing.isError).toBe(true);
    await server.close();
  });

  it("reports rate limits with the wait and never leaks the API key", async () => {
    const { call, exchange, server } = await setup();
    exchange.failures.push({ status: 429, headers: { "retry-after": "12" } });
    const res = await call(BINANCE_US_TOOL_NAMES.createListenKey);
    expect(res.isError).toBe(true);
    expect(res.content[0]?.text).toMatch(/RATE_LIMITED.*Retry after 12 s/);
    expect(JSON.stringify(res)).not.toContain(exchange.validApiKey);
    await server.close();
  });

  it("manages a stream for agents: status and events since a cursor", async () => {
    const { call, clock, exchange, server } = await setup();
    const first = await call(BINANCE_US_TOOL_NAMES.userStreamStatus);
    expect(first.structuredContent).toMatchObject({ enabled: true, connected: false });
    await clock.advance(20);
    const status = await call(BINANCE_US_TOOL_NAMES.userStreamStatus);
    expect(status.structuredContent).toMatchObject({ connected: true, reconnects: 0 });
    expect(status.structuredContent?.nextKeepaliveAt).toBeGreaterThan(clock.now());
    expect(JSON.stringify(status)).not.toContain(exchange.key!.listenKey);

    for (let i = 1; i <= 3; i++) exchange.push(executionReport({ i }));
    const page1 = await call(BINANCE_US_TOOL_NAMES.userStreamEvents, { limit: 2 });
    const events1 = page1.structuredContent?.events as {
      cursor: number;
      type: string;
      data: { i: number };
    }[];
    expect(events1.map((e) => e.data.i)).toEqual([1, 2]);
    expect(events1[0]?.type).toBe("executionReport");
    const page2 = await call(BINANCE_US_TOOL_NAMES.userStreamEvents, {
      cursor: page1.structuredContent?.nextCursor,
    });
    expect((page2.structuredContent?.events as unknown[]).length).toBe(1);
    expect(page2.structuredContent).toMatchObject({
      nextCursor: 3,
      dropped: false,
      connected: true,
    });
    await server.close();
    expect(clock.pending()).toBe(0);
    expect(exchange.openSockets()).toHaveLength(0);
  });

  it("says what to fix after a fatal error and retries on a status call after the cool-down", async () => {
    const { call, clock, exchange, server } = await setup({ fatalRetryAfterMs: 60_000 });
    exchange.failures.push({
      method: "POST",
      status: 401,
      body: { code: -2015, msg: "Invalid API-key, IP, or permissions for action." },
    });
    await call(BINANCE_US_TOOL_NAMES.userStreamStatus);
    await clock.advance(20);
    const failed = await call(BINANCE_US_TOOL_NAMES.userStreamStatus);
    expect(failed.structuredContent).toMatchObject({
      state: "failed",
      lastError: { code: "API_KEY_REJECTED" },
      retryAt: clock.now() - 20 + 60_000,
    });
    expect(failed.content[0]?.text).toMatch(/^Stopped by a fatal error: API_KEY_REJECTED/);
    expect(failed.content[0]?.text).toMatch(/whitelist/);
    expect(failed.content[0]?.text).toMatch(/in 60 s\) retries once/);
    const events = await call(BINANCE_US_TOOL_NAMES.userStreamEvents);
    expect(events.content[0]?.text).toMatch(/stopped by API_KEY_REJECTED/);
    // Before the cool-down nothing is sent: the stream stays failed.
    const posts = () => exchange.calls.filter((c) => c.method === "POST").length;
    const before = posts();
    await clock.advance(30_000);
    await call(BINANCE_US_TOOL_NAMES.userStreamEvents);
    expect(posts()).toBe(before);
    // The IP was whitelisted meanwhile (no failure scripted): a later call restarts it.
    await clock.advance(30_000);
    const retrying = await call(BINANCE_US_TOOL_NAMES.userStreamStatus);
    expect(retrying.content[0]?.text).toMatch(/Retrying after the earlier fatal error/);
    await clock.advance(20);
    expect(posts()).toBe(before + 1);
    const ok = await call(BINANCE_US_TOOL_NAMES.userStreamStatus);
    expect(ok.structuredContent).toMatchObject({ state: "connected", connected: true });
    expect(ok.structuredContent?.retryAt).toBeUndefined();
    await server.close();
    expect(clock.pending()).toBe(0);
  });

  it("masks the listen key inside listenKeyExpired events handed to agents", async () => {
    const { call, clock, exchange, server } = await setup();
    await call(BINANCE_US_TOOL_NAMES.userStreamStatus);
    await clock.advance(20);
    const key = exchange.key!.listenKey;
    exchange.push({ e: "listenKeyExpired", E: String(clock.now()), listenKey: key });
    const page = await call(BINANCE_US_TOOL_NAMES.userStreamEvents);
    const [ev] = page.structuredContent?.events as { type: string; data: { listenKey: string } }[];
    expect(ev?.type).toBe("listenKeyExpired");
    expect(ev?.data.listenKey).toBe(`${key.slice(0, 4)}…`);
    expect(JSON.stringify(page)).not.toContain(key);
    await server.close();
  });

  it("reports a disabled managed stream instead of opening one", async () => {
    const { call, exchange, server } = await setup({ managedStream: "off" });
    const res = await call(BINANCE_US_TOOL_NAMES.userStreamStatus);
    expect(res.structuredContent).toMatchObject({ enabled: false, state: "disabled" });
    expect(exchange.sockets).toHaveLength(0);
    await server.close();
  });

  it("requires an API key from options or the environment", () => {
    expect(() => createBinanceUsConnector({ env: {} })).toThrow(/BINANCE_US_API_KEY/);
  });
});
