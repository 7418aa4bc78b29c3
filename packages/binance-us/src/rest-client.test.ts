import { createHmac } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BinanceUsError } from "./errors.js";
import { BinanceUsRestClient } from "./rest-client.js";
import { FakeClock, FakeExchange } from "./test-utils/fakes.js";

const SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

function setup(apiKey?: string) {
  const clock = new FakeClock();
  const exchange = new FakeExchange(clock);
  const rest = new BinanceUsRestClient({
    apiKey: apiKey ?? exchange.validApiKey,
    apiSecret: SECRET,
    restBaseUrl: "http://exchange.test",
    fetch: exchange.fetch,
    now: clock.now,
  });
  return { clock, exchange, rest };
}

async function caught(p: Promise<unknown>): Promise<BinanceUsError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BinanceUsError);
    return e as BinanceUsError;
  }
  throw new Error("expected a rejection");
}

describe("BinanceUsRestClient", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("times out a hung request, and a finished request leaves no timer running", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { rest } = setup();
    await rest.createListenKey();
    expect(vi.getTimerCount()).toBe(0);
    const hung = new BinanceUsRestClient({
      apiKey: "k".repeat(64),
      requestTimeoutMs: 5_000,
      fetch: (_url, init) =>
        new Promise((_resolve, reject) => {
          init.signal?.addEventListener("abort", () => reject(new Error("aborted")));
        }),
    });
    const pending = caught(hung.createListenKey());
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(5_000);
    const err = await pending;
    expect(err.code).toBe("TIMEOUT");
    expect(err.message).toMatch(/outcome is unknown/);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("creates unsigned with the API key header and reads the used weight", async () => {
    const { exchange, rest } = setup();
    const res = await rest.createListenKey();
    expect(res.data.listenKey).toHaveLength(64);
    expect(res.usedWeight1m).toBe(1);
    const call = exchange.calls[0]!;
    expect(call.method).toBe("POST");
    expect(call.url).toBe("http://exchange.test/api/v3/userDataStream");
    expect(call.headers["X-MBX-APIKEY"]).toBe(exchange.validApiKey);
    expect(call.url).not.toMatch(/signature|timestamp/);
  });

  it("sends listenKey as a form body for PUT and DELETE, and -1125 afterwards", async () => {
    const { exchange, rest } = setup();
    const { data } = await rest.createListenKey();
    await rest.keepaliveListenKey(data.listenKey);
    const put = exchange.calls[1]!;
    expect(put.method).toBe("PUT");
    expect(put.headers["Content-Type"]).toBe("application/x-www-form-urlencoded");
    expect(put.body).toBe(`listenKey=${data.listenKey}`);
    expect(put.url).not.toContain(data.listenKey);
    await rest.closeListenKey(data.listenKey);
    const err = await caught(rest.keepaliveListenKey(data.listenKey));
    expect(err.code).toBe("LISTEN_KEY_NOT_FOUND");
    expect(err.data.binanceCode).toBe(-1125);
    expect(err.data.status).toBe(400);
  });

  it("maps -1102, -2014 and -2015 and never echoes the key", async () => {
    const { rest } = setup();
    expect((await caught(rest.keepaliveListenKey(""))).code).toBe("MANDATORY_PARAM_MISSING");
    const badFormat = setup("short-key");
    const e1 = await caught(badFormat.rest.createListenKey());
    expect(e1.code).toBe("API_KEY_FORMAT_INVALID");
    expect(e1.fatal).toBe(true);
    const wrong = "A".repeat(64);
    const e2 = await caught(setup(wrong).rest.createListenKey());
    expect(e2.code).toBe("API_KEY_REJECTED");
    expect(e2.fatal).toBe(true);
    expect(`${e2.message} ${JSON.stringify(e2)}`).not.toContain(wrong);
  });

  it("obeys Retry-After: 429 blocks further calls locally until it passes", async () => {
    const { exchange, rest, clock } = setup();
    exchange.failures.push({
      status: 429,
      body: { code: -1003, msg: "Too much request weight used" },
      headers: { "retry-after": "7" },
    });
    const e = await caught(rest.createListenKey());
    expect(e.code).toBe("RATE_LIMITED");
    expect(e.retryAfterMs).toBe(7_000);
    expect(e.transient).toBe(true);
    const callsBefore = exchange.calls.length;
    await clock.advance(6_000);
    const early = await caught(rest.createListenKey());
    expect(early.code).toBe("RATE_LIMITED");
    expect(early.retryAfterMs).toBe(1_000);
    expect(exchange.calls.length).toBe(callsBefore); // nothing was sent
    await clock.advance(1_000);
    await expect(rest.createListenKey()).resolves.toBeDefined();
  });

  it("maps 418 to IP_BANNED with its Retry-After, 403 to WAF_BLOCKED, 5xx to outcome unknown", async () => {
    const { exchange, rest, clock } = setup();
    exchange.failures.push({ status: 418, headers: { "retry-after": "120" } });
    const ban = await caught(rest.createListenKey());
    expect(ban.code).toBe("IP_BANNED");
    expect(ban.retryAfterMs).toBe(120_000);
    await clock.advance(120_000);
    exchange.failures.push({ status: 403, body: "" });
    expect((await caught(rest.createListenKey())).code).toBe("WAF_BLOCKED");
    exchange.failures.push({ status: 503, body: { code: -1001, msg: "Internal error" } });
    const e = await caught(rest.createListenKey());
    expect(e.code).toBe("SERVER_ERROR_OUTCOME_UNKNOWN");
    expect(e.transient).toBe(true);
    exchange.failures.push({ status: 0, networkError: true });
    expect((await caught(rest.createListenKey())).code).toBe("NETWORK_ERROR");
  });

  it("signs account requests with HMAC-SHA256 over the query string", async () => {
    const { exchange, rest } = setup();
    const { data } = await rest.getAccount();
    expect(data.balances[0]?.asset).toBe("BTC");
    const url = new URL(exchange.calls[0]!.url);
    const signature = url.searchParams.get("signature");
    const query = url.search.slice(1).replace(/&signature=[0-9a-f]+$/, "");
    expect(signature).toBe(createHmac("sha256", SECRET).update(query).digest("hex"));
    expect(url.searchParams.get("timestamp")).toMatch(/^\d+$/);
    expect(url.search).not.toContain(SECRET);
  });

  it("refuses signed calls without a secret and rejects bad options with the path", async () => {
    const clock = new FakeClock();
    const exchange = new FakeExchange(clock);
    const rest = new BinanceUsRestClient({ apiKey: exchange.validApiKey, fetch: exchange.fetch });
    expect((await caught(rest.getAccount())).code).toBe("SECRET_REQUIRED");
    expect(exchange.calls).toHaveLength(0);
    expect(() => new BinanceUsRestClient({ apiKey: "" })).toThrow(/apiKey/);
    expect(() => new BinanceUsRestClient({ apiKey: "k", restBaseUrl: "nope" })).toThrow(
      /restBaseUrl/,
    );
  });
});
