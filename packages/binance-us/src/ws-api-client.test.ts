import { afterEach, describe, expect, it } from "vitest";
import { BinanceUsError } from "./errors.js";
import { createMockClock, type MockClock } from "./mock/clock.js";
import { type BinanceUsMock, startBinanceUsMock } from "./mock/server.js";
import { BinanceUsWsApiClient, type WsApiClientOptions } from "./ws-api-client.js";

const KEY = "W".repeat(64);
const open: { mock: BinanceUsMock; client: BinanceUsWsApiClient }[] = [];
afterEach(async () => {
  for (const { mock, client } of open.splice(0)) {
    client.close();
    await mock.close();
  }
});

async function setup(
  options: Partial<WsApiClientOptions> = {},
): Promise<{ mock: BinanceUsMock; clock: MockClock; client: BinanceUsWsApiClient }> {
  const clock = createMockClock();
  const mock = await startBinanceUsMock({ clock });
  const client = new BinanceUsWsApiClient({
    apiKey: KEY,
    wsApiUrl: mock.wsApiUrl,
    now: clock.now,
    scheduler: clock,
    random: () => 0.5,
    requestTimeoutMs: 2_000,
    ...options,
  });
  open.push({ mock, client });
  return { mock, clock, client };
}

async function failure(p: Promise<unknown>): Promise<BinanceUsError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BinanceUsError) return e;
    throw e;
  }
  throw new Error("expected a failure");
}

const wsApiRequests = (mock: BinanceUsMock) =>
  mock.control.state().requests.filter((r) => r.transport === "ws-api");

describe("BinanceUsWsApiClient", () => {
  it("manages the listen key over one connection, with the exchange's weight", async () => {
    const { mock, client } = await setup();
    const created = await client.createListenKey();
    expect(created.data.listenKey).toBe(mock.control.state().keys[0]!.listenKey);
    expect(created.usedWeight1m).toBe(2); // connecting costs 1, the request 1
    await client.keepaliveListenKey(created.data.listenKey);
    expect((await client.time()).data.serverTime).toBe(mock.clock.now());
    await client.ping();
    await client.closeListenKey(created.data.listenKey);
    expect(mock.control.state().keys).toHaveLength(0);
    expect(client.status()).toMatchObject({
      connected: true,
      connects: 1,
      reconnects: 0,
      pendingRequests: 0,
    });
    expect(mock.control.state().sockets.filter((s) => s.kind === "ws-api")).toHaveLength(1);
    expect(wsApiRequests(mock).map((r) => r.method)).toEqual([
      "POST",
      "PUT",
      "GET",
      "GET",
      "DELETE",
    ]);
  });

  it("maps errors to the REST client's typed errors and refuses to send inside retryAfter", async () => {
    const { mock, clock, client } = await setup();
    const { data } = await client.createListenKey();
    mock.control.expireKey(data.listenKey);
    const gone = await failure(client.keepaliveListenKey(data.listenKey));
    expect(gone).toMatchObject({
      code: "LISTEN_KEY_NOT_FOUND",
      data: { binanceCode: -1125, status: 400 },
    });
    mock.control.injectError({ status: 503 });
    expect((await failure(client.createListenKey())).code).toBe("SERVER_ERROR_OUTCOME_UNKNOWN");
    mock.control.injectError({ status: 403 });
    expect((await failure(client.createListenKey())).code).toBe("WAF_BLOCKED");
    mock.control.injectError({ status: 429, retryAfterSec: 30 });
    const limited = await failure(client.createListenKey());
    expect(limited).toMatchObject({ code: "RATE_LIMITED", retryAfterMs: 30_000 });
    const sentBefore = wsApiRequests(mock).length;
    const refused = await failure(client.createListenKey());
    expect(refused.code).toBe("RATE_LIMITED");
    expect(refused.message).toContain("not sent");
    expect(wsApiRequests(mock)).toHaveLength(sentBefore);
    await clock.advance(30_000);
    mock.control.injectError({ status: 418, retryAfterSec: 120 });
    expect(await failure(client.createListenKey())).toMatchObject({
      code: "IP_BANNED",
      retryAfterMs: 120_000,
    });
    await clock.advance(120_000);
    mock.control.revokeApiKey(KEY);
    const fatal = await failure(client.createListenKey());
    expect(fatal).toMatchObject({ code: "API_KEY_REJECTED", fatal: true });
    for (const e of [gone, limited, fatal]) expect(JSON.stringify(e.toJSON())).not.toContain(KEY);
  });

  it("times out a request the exchange never answers, and keeps the connection", async () => {
    const { mock, client } = await setup({ requestTimeoutMs: 100 });
    await client.ping();
    mock.control.injectError({ method: "PUT", hang: true });
    const t0 = Date.now();
    const timeout = await failure(client.keepaliveListenKey("x".repeat(64)));
    expect(timeout.code).toBe("TIMEOUT");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(client.status()).toMatchObject({ connected: true, pendingRequests: 0 });
    await client.ping();
  });

  it("fails in-flight requests when the connection drops and reconnects on the next one", async () => {
    const { mock, client } = await setup();
    await client.ping();
    mock.control.injectError({ method: "GET", hang: true });
    const inflight = failure(client.ping());
    await new Promise((r) => setTimeout(r, 20));
    expect(mock.control.dropSockets()).toBe(1);
    const lost = await inflight;
    expect(lost.code).toBe("NETWORK_ERROR");
    expect(lost.message).toContain("outcome is unknown");
    await client.ping();
    expect(client.status()).toMatchObject({ connected: true, connects: 2, reconnects: 1 });
  });

  it("terminates a silent connection after deadAfterMs and reconnects in the background", async () => {
    const { mock, clock, client } = await setup({
      watchdog: { pingIntervalMs: 1_000, deadAfterMs: 3_000 },
    });
    await client.ping();
    mock.control.silenceSockets();
    for (let i = 0; i < 4 && client.status().connected; i++) {
      await clock.advance(1_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(client.status().connected).toBe(false);
    expect(client.status().lastDisconnect?.reason).toContain("watchdog");
    const next = client.status().nextConnectAt!;
    expect(next).toBeGreaterThanOrEqual(clock.now());
    await clock.advance(next - clock.now());
    await new Promise((r) => setTimeout(r, 50));
    expect(client.status()).toMatchObject({ connected: true, connects: 2 });
  });

  it("close() ends the connection, fails pending requests and leaves no timer", async () => {
    const { mock, clock, client } = await setup();
    await client.ping();
    mock.control.injectError({ method: "GET", hang: true });
    const pending = failure(client.ping());
    await new Promise((r) => setTimeout(r, 20));
    client.close();
    expect((await pending).code).toBe("CLOSED");
    expect((await failure(client.ping())).code).toBe("CLOSED");
    await new Promise((r) => setTimeout(r, 20));
    expect(mock.control.state().sockets).toHaveLength(0);
    expect(clock.pending()).toBe(mock.control.state().keys.length);
  });

  it("validates its options with the path and the fix", () => {
    expect(() => new BinanceUsWsApiClient({ apiKey: "" })).toThrow(/apiKey must not be empty/);
    expect(() => new BinanceUsWsApiClient({ apiKey: KEY, wsApiUrl: "nope" })).toThrow(/wsApiUrl/);
  });
});
