import { describe, expect, it } from "vitest";
import { KEY_A, KEY_B, type Probe, until, useMockLifecycle } from "./test-utils/harness.js";

// Test-only view of wire JSON: any nested field may be read without a cast.
// biome-ignore lint/suspicious/noExplicitAny: wire frames are checked by the assertions
type Json = Record<string, any>;

const { start, open } = useMockLifecycle();

async function rpc(p: Probe, frame: unknown): Promise<Json> {
  const before = p.messages.length;
  p.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  await until(() => expect(p.messages.length).toBeGreaterThan(before));
  return p.messages[before] as Json;
}

describe("WebSocket API (ws-api/v3)", () => {
  it("serves userDataStream.start/ping/stop with the API key and echoes ids, with rateLimits", async () => {
    const { mock } = await start();
    const p = await open(mock.wsApiUrl);
    const started = await rpc(p, {
      id: "a1",
      method: "userDataStream.start",
      params: { apiKey: KEY_A },
    });
    expect(started).toMatchObject({
      id: "a1",
      status: 200,
      result: { listenKey: expect.any(String) },
    });
    expect(started.rateLimits).toEqual([
      {
        rateLimitType: "REQUEST_WEIGHT",
        interval: "MINUTE",
        intervalNum: 1,
        limit: 1200,
        count: 2,
      },
    ]);
    const { listenKey } = started.result;
    // Same account, same key (get-or-extend), shared with REST.
    const again = await rpc(p, {
      id: 2,
      method: "v3/userDataStream.start",
      params: { apiKey: KEY_A },
    });
    expect(again.result.listenKey).toBe(listenKey);
    expect(
      await rpc(p, { id: 3, method: "userDataStream.ping", params: { apiKey: KEY_A, listenKey } }),
    ).toMatchObject({
      id: 3,
      status: 200,
      result: {},
    });
    const other = await rpc(p, {
      id: 4,
      method: "userDataStream.ping",
      params: { apiKey: KEY_B, listenKey },
    });
    expect(other).toMatchObject({
      id: 4,
      status: 400,
      error: { code: -1125, msg: "This listenKey does not exist." },
    });
    const stream = await open(`${mock.wsUrl}/ws/${listenKey}`);
    expect(
      await rpc(p, { id: 5, method: "userDataStream.stop", params: { apiKey: KEY_A, listenKey } }),
    ).toMatchObject({ status: 200 });
    await until(() => expect(stream.closed?.code).toBe(1000));
    expect(mock.control.state().requests.map((r) => r.transport)).toEqual(Array(5).fill("ws-api"));
  });

  it("serves ping and time, hides rateLimits on request, and rejects bad frames with codes", async () => {
    const { mock, clock } = await start();
    const p = await open(mock.wsApiUrl);
    expect(await rpc(p, { id: 1, method: "ping" })).toMatchObject({
      id: 1,
      status: 200,
      result: {},
    });
    expect(await rpc(p, { id: 2, method: "time", params: { returnRateLimits: false } })).toEqual({
      id: 2,
      status: 200,
      result: { serverTime: clock.now() },
    });
    expect(await rpc(p, "{oops")).toMatchObject({ id: null, status: 400, error: { code: -1135 } });
    expect(await rpc(p, { id: 3, method: "order.place" })).toMatchObject({
      id: 3,
      status: 400,
      error: { code: -1020 },
    });
    expect(await rpc(p, { id: 4, method: "userDataStream.start" })).toMatchObject({
      id: 4,
      status: 401,
      error: { code: -2014 },
    });
    expect(
      await rpc(p, { id: 5, method: "userDataStream.ping", params: { apiKey: KEY_A } }),
    ).toMatchObject({
      status: 400,
      error: { code: -1102 },
    });
  });

  it("applies the same faults: 429/418 with retryAfter as a timestamp, 5xx, WAF, slow and hanging answers", async () => {
    const { mock, clock } = await start();
    const p = await open(mock.wsApiUrl);
    mock.control.injectError({ method: "POST", status: 429, retryAfterSec: 30 });
    mock.control.injectError({ method: "POST", status: 418, retryAfterSec: 120 });
    mock.control.injectError({ method: "POST", status: 503 });
    mock.control.injectError({ method: "POST", status: 403, transport: "ws-api" });
    const start1 = { method: "userDataStream.start", params: { apiKey: KEY_A } };
    const limited = await rpc(p, { id: 1, ...start1 });
    expect(limited).toMatchObject({
      status: 429,
      error: { code: -1003, data: { serverTime: clock.now(), retryAfter: clock.now() + 30_000 } },
    });
    const banned = await rpc(p, { id: 2, ...start1 });
    expect(banned.error.msg).toBe(
      `Way too much request weight used; IP banned until ${clock.now() + 120_000}. Please use WebSocket Streams for live updates to avoid bans.`,
    );
    expect(banned.error.data.retryAfter).toBe(clock.now() + 120_000);
    expect((await rpc(p, { id: 3, ...start1 })).status).toBe(503);
    expect((await rpc(p, { id: 4, ...start1 })).status).toBe(403);
    // A REST-only fault does not touch the WebSocket API.
    mock.control.injectError({ method: "POST", status: 503, transport: "rest" });
    expect((await rpc(p, { id: 5, ...start1 })).status).toBe(200);
    mock.control.clearErrors();

    mock.control.injectError({ method: "GET", path: "/api/v3/time", delayMs: 2_000 });
    p.ws.send(JSON.stringify({ id: 6, method: "time" }));
    await until(() => expect(mock.control.state().requests.at(-1)?.path).toBe("/api/v3/time"));
    const n = p.messages.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(p.messages).toHaveLength(n);
    await clock.advance(2_000);
    await until(() => expect(p.messages).toHaveLength(n + 1));
    mock.control.injectError({ method: "GET", hang: true });
    p.ws.send(JSON.stringify({ id: 7, method: "ping" }));
    expect(await rpc(p, { id: 8, method: "ping" })).toMatchObject({ id: 8, status: 200 });
    expect(p.messages.some((m) => (m as { id: number }).id === 7)).toBe(false);
  });

  it("pings, cuts at max age and obeys the pong deadline like the stream sockets", async () => {
    const { mock, clock } = await start({
      pingIntervalMs: 1_000,
      pongTimeoutMs: 5_000,
      connectionMaxAgeMs: 60_000,
    });
    const p = await open(mock.wsApiUrl, { autoPong: false });
    await clock.advance(1_000);
    await until(() => expect(p.pings).toBe(1));
    await clock.advance(5_000);
    await until(() => expect(p.closed?.code).toBe(1008));
    const q = await open(mock.wsApiUrl);
    await clock.advance(60_000);
    await until(() => expect(q.closed?.code).toBe(1000));
    expect(mock.control.state().closedSockets.map((c) => [c.kind, c.reason])).toEqual([
      ["ws-api", "pong timeout"],
      ["ws-api", "connection max age reached"],
    ]);
  });
});
