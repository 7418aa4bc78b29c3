import { describe, expect, it } from "vitest";
import { parseMockArgs, TUNABLE_FLAGS } from "./cli.js";
import { BINANCE_US_WIRE_ERRORS as E } from "./errors.js";
import { mockTunablesSchema } from "./options.js";
import { createKey, KEY_A, rest, until, useMockLifecycle } from "./test-utils/harness.js";

const { start, open } = useMockLifecycle();
const UDS = "/api/v3/userDataStream";

async function raw(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

describe("error bodies match the exchange's", () => {
  it("spells -1000 as the exchange does", () => {
    expect(E.UNKNOWN_ERROR.msg).toBe("An unknown error occurred while processing the request.");
  });

  it("gives an injected 418 the same 'IP banned until <ts>' text as a weight ban", async () => {
    const { mock, clock } = await start({ weightLimitPerMinute: 1, banAfterEarlyRetries: 1 });
    mock.control.injectError({ status: 418, retryAfterSec: 300 });
    const injected = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(injected.status).toBe(418);
    expect(injected.body).toEqual({
      code: -1003,
      msg: `Way too much request weight used; IP banned until ${clock.now() + 300_000}. Please use WebSocket Streams for live updates to avoid bans.`,
    });
    // The weight ban: one call over the limit (429), one inside Retry-After (418).
    await clock.advance(60_000);
    await rest(mock, "POST", UDS, { apiKey: KEY_A });
    await rest(mock, "POST", UDS, { apiKey: KEY_A });
    const banned = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(banned.status).toBe(418);
    const pattern = /^Way too much request weight used; IP banned until \d{13}\. Please use/;
    expect((banned.body as { msg: string }).msg).toMatch(pattern);
    expect((injected.body as { msg: string }).msg).toMatch(pattern);
  });

  it("can answer a WAF 403 with an HTML page or an empty body instead of JSON", async () => {
    const { mock } = await start();
    mock.control.injectError({ status: 403, body: "html" });
    mock.control.injectError({ status: 403, body: "empty" });
    mock.control.injectError({ status: 403 });
    const html = await raw(`${mock.restUrl}${UDS}`, {
      method: "POST",
      headers: { "X-MBX-APIKEY": KEY_A },
    });
    expect(html.status).toBe(403);
    expect(html.type).toBe("text/html");
    expect(html.text).toMatch(/^<html>/);
    expect(() => JSON.parse(html.text)).toThrow();
    const empty = await raw(`${mock.restUrl}${UDS}`, {
      method: "POST",
      headers: { "X-MBX-APIKEY": KEY_A },
    });
    expect(empty).toMatchObject({ status: 403, text: "" });
    const json = await raw(`${mock.restUrl}${UDS}`, {
      method: "POST",
      headers: { "X-MBX-APIKEY": KEY_A },
    });
    expect(JSON.parse(json.text)).toMatchObject({ code: -1000 });
  });
});

describe("slow and hanging answers", () => {
  it("delays an answer by delayMs of the mock's clock (the real answer when no status)", async () => {
    const { mock, clock } = await start();
    mock.control.injectError({ method: "POST", delayMs: 5_000 });
    let settled = false;
    const pending = rest(mock, "POST", UDS, { apiKey: KEY_A }).then((r) => {
      settled = true;
      return r;
    });
    await until(() => expect(mock.control.state().requests).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    await clock.advance(5_000);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ listenKey: expect.any(String) });
  });

  it("never answers a hanging request, so a client timeout is what ends it", async () => {
    const { mock } = await start();
    mock.control.injectError({ method: "PUT", hang: true });
    const listenKey = await createKey(mock);
    const started = Date.now();
    await expect(
      fetch(`${mock.restUrl}${UDS}?listenKey=${listenKey}`, {
        method: "PUT",
        headers: { "X-MBX-APIKEY": KEY_A },
        signal: AbortSignal.timeout(150),
      }),
    ).rejects.toThrow(/abort|timeout/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    // Only that call hangs: the next one is answered.
    expect(
      (await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` })).status,
    ).toBe(200);
  });

  it("validates fault specs: a status, or delayMs / hang", async () => {
    const { mock } = await start();
    expect(() => mock.control.injectError({} as never)).toThrow(/delayMs \/ hang/);
    expect(() => mock.control.injectError({ status: 403, body: "xml" as never })).toThrow(/body/);
  });
});

describe("live stream requests", () => {
  it("answers SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS and properties with {result, id}", async () => {
    const { mock } = await start({ maxIncomingMessagesPerSec: 100 });
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`);
    const send = (m: unknown) => p.ws.send(typeof m === "string" ? m : JSON.stringify(m));
    send({ method: "LIST_SUBSCRIPTIONS", id: 1 });
    send({ method: "UNSUBSCRIBE", params: [listenKey], id: 2 });
    send({ method: "LIST_SUBSCRIPTIONS", id: 3 });
    send({ method: "SUBSCRIBE", params: [listenKey], id: 4 });
    send({ method: "SET_PROPERTY", params: ["combined", true], id: 5 });
    send({ method: "GET_PROPERTY", params: ["combined"], id: 6 });
    await until(() => expect(p.messages).toHaveLength(6));
    expect(p.messages).toEqual([
      { result: [listenKey], id: 1 },
      { result: null, id: 2 },
      { result: [], id: 3 },
      { result: null, id: 4 },
      { result: null, id: 5 },
      { result: true, id: 6 },
    ]);
    // Combined is now on: events arrive wrapped.
    mock.control.pushEvent({ listenKey }, { e: "x" });
    await until(() => expect(p.messages).toHaveLength(7));
    expect(p.messages[6]).toEqual({ stream: listenKey, data: expect.objectContaining({ e: "x" }) });
  });

  it("unsubscribed sockets get no events; bad requests get the documented error codes", async () => {
    const { mock } = await start({ maxIncomingMessagesPerSec: 100 });
    const listenKey = await createKey(mock);
    const p = await open(`${mock.wsUrl}/ws/${listenKey}`);
    const send = (m: unknown) => p.ws.send(typeof m === "string" ? m : JSON.stringify(m));
    send({ method: "UNSUBSCRIBE", params: [listenKey], id: 1 });
    await until(() => expect(p.messages).toHaveLength(1));
    expect(mock.control.pushEvent({ listenKey }, { e: "x" })).toBe(0);
    send("{not json");
    send({ method: "SUBSCRIBE", params: [listenKey], id: -1 });
    send({ method: "PUBLISH", id: 7 });
    send({ method: "SET_PROPERTY", params: ["colour", true], id: 8 });
    send({ method: "SET_PROPERTY", params: ["combined", "yes"], id: 9 });
    await until(() => expect(p.messages).toHaveLength(6));
    expect(p.messages.slice(1)).toEqual([
      { code: 3, msg: expect.stringMatching(/^Invalid JSON/) },
      { code: 2, msg: "Invalid request: request ID must be an unsigned integer" },
      { code: 2, msg: expect.stringMatching(/^Invalid request: unknown variant "PUBLISH"/), id: 7 },
      { code: 0, msg: "Unknown property", id: 8 },
      { code: 1, msg: "Invalid value type: expected Boolean", id: 9 },
    ]);
  });
});

describe("hostile clients", () => {
  it("closes a socket that sends an oversized frame (1009) instead of buffering it", async () => {
    const { mock } = await start();
    const p = await open(mock.wsApiUrl);
    p.ws.send("x".repeat(100 * 1024));
    await until(() => expect(p.closed?.code).toBe(1009));
    const q = await open(`${mock.wsUrl}/ws/${await createKey(mock)}`);
    q.ws.send("y".repeat(100 * 1024));
    await until(() => expect(q.closed?.code).toBe(1009));
  });
});

describe("every option is reachable at run time and from the command line", () => {
  it("has a flag for every run-time option", () => {
    const flagged = TUNABLE_FLAGS.map((f) => f.option).sort();
    expect(flagged).toEqual(Object.keys(mockTunablesSchema.shape).sort());
  });

  it("parses every flag, API keys with accounts, and faults", () => {
    const argv = TUNABLE_FLAGS.flatMap((f) => [`--${f.flag}`, f.kind === "int" ? "7" : ""]);
    const enumValue: Record<string, string> = {
      onIncomingLimit: "count",
      unknownKeyOnConnect: "silent",
      onKeyExpiry: "event-close",
    };
    TUNABLE_FLAGS.forEach((f, i) => {
      if (f.kind === "enum") argv[2 * i + 1] = enumValue[f.option]!;
    });
    const cli = parseMockArgs([
      ...argv,
      "--api-key",
      "KEY:SECRET:acct1",
      "--fault",
      '{"status":503,"times":2}',
    ]);
    for (const f of TUNABLE_FLAGS) {
      expect(cli.tunables[f.option]).toBe(f.kind === "int" ? 7 : enumValue[f.option]);
    }
    expect(cli.apiKeys).toEqual({ KEY: { secret: "SECRET", account: "acct1" } });
    expect(cli.faults).toEqual([{ status: 503, times: 2 }]);
    expect(() => parseMockArgs(["--on-key-expiry", "explode"])).toThrow(/--on-key-expiry/);
    expect(() => parseMockArgs(["--fault", "{}"])).toThrow(/--fault/);
    expect(() => parseMockArgs(["--weight-limit", "x"])).toThrow(
      /--weight-limit must be an integer/,
    );
  });

  it("changes options through the control API and over HTTP", async () => {
    const { mock, clock } = await start();
    expect(mock.control.setOptions({ onKeyExpiry: "close", keyValidityMs: 1_000 })).toMatchObject({
      onKeyExpiry: "close",
      keyValidityMs: 1_000,
    });
    const p = await open(`${mock.wsUrl}/ws/${await createKey(mock)}`);
    await clock.advance(1_000);
    await until(() => expect(p.closed?.code).toBe(1000));
    expect(p.messages).toHaveLength(0);
    const put = await fetch(`${mock.restUrl}/__mock/options`, {
      method: "PUT",
      body: JSON.stringify({ weightLimitPerMinute: 2, unknownKeyOnConnect: "close" }),
    });
    expect(put.status).toBe(200);
    expect(await (await fetch(`${mock.restUrl}/__mock/options`)).json()).toMatchObject({
      weightLimitPerMinute: 2,
      unknownKeyOnConnect: "close",
    });
    await rest(mock, "GET", "/api/v3/ping");
    await rest(mock, "GET", "/api/v3/ping");
    expect((await rest(mock, "GET", "/api/v3/ping")).status).toBe(429);
    const bad = await fetch(`${mock.restUrl}/__mock/options`, {
      method: "PUT",
      body: JSON.stringify({ pingIntervalMs: -1 }),
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toMatch(/pingIntervalMs/);
  });
});
