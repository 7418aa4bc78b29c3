import { createHmac } from "node:crypto";
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { BINANCE_US_WIRE_ERRORS } from "./errors.js";
import {
  createKey,
  KEY_A,
  KEY_B,
  rest,
  SECRET,
  sign,
  useMockLifecycle,
} from "./test-utils/harness.js";

const UDS = "/api/v3/userDataStream";
const E = BINANCE_US_WIRE_ERRORS;
const body = (e: { code: number; msg: string }) => ({ code: e.code, msg: e.msg });

const { start } = useMockLifecycle();

describe("listen keys over REST", () => {
  it("POST is get-or-extend: the same 64-char key while active, expiry pushed 60 min", async () => {
    const { mock, clock } = await start();
    const first = await createKey(mock);
    expect(first).toMatch(/^[A-Za-z0-9]{64}$/);
    await clock.advance(40 * 60_000);
    expect(await createKey(mock)).toBe(first);
    const key = mock.control.state().keys[0]!;
    expect(key.expiresAt).toBe(clock.now() + 60 * 60_000);
    expect(mock.control.state().keys).toHaveLength(1);
  });

  it("gives each account its own key and shares one key between API keys of one account", async () => {
    const { mock } = await start({
      apiKeys: { [KEY_A]: { account: "acme" }, [KEY_B]: { account: "acme" }, ["C".repeat(64)]: {} },
    });
    const a = await createKey(mock, KEY_A);
    expect(await createKey(mock, KEY_B)).toBe(a);
    expect(await createKey(mock, "C".repeat(64))).not.toBe(a);
  });

  it("expires a key 60 minutes after the last POST/PUT when nobody keeps it alive", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    await clock.advance(60 * 60_000 - 1);
    expect(
      (await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` })).status,
    ).toBe(200);
    await clock.advance(60 * 60_000);
    const r = await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` });
    expect(r.status).toBe(400);
    expect(r.body).toEqual(body(E.LISTEN_KEY_NOT_FOUND));
    // After expiry POST makes a fresh key.
    expect(await createKey(mock)).not.toBe(listenKey);
  });

  it("PUT extends by 60 minutes and answers {}", async () => {
    const { mock, clock } = await start();
    const listenKey = await createKey(mock);
    for (let i = 0; i < 5; i++) {
      await clock.advance(30 * 60_000);
      const r = await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` });
      expect(r).toMatchObject({ status: 200, body: {} });
    }
    expect(mock.control.state().keys[0]!.expiresAt).toBe(clock.now() + 60 * 60_000);
  });

  it("accepts listenKey in a form body; the query string wins when both are given", async () => {
    const { mock } = await start();
    const listenKey = await createKey(mock);
    expect(
      (await rest(mock, "PUT", UDS, { apiKey: KEY_A, form: `listenKey=${listenKey}` })).status,
    ).toBe(200);
    const bothBad = await rest(mock, "PUT", UDS, {
      apiKey: KEY_A,
      query: "listenKey=nope",
      form: `listenKey=${listenKey}`,
    });
    expect(bothBad.body).toEqual(body(E.LISTEN_KEY_NOT_FOUND));
    const bothGood = await rest(mock, "PUT", UDS, {
      apiKey: KEY_A,
      query: `listenKey=${listenKey}`,
      form: "listenKey=nope",
    });
    expect(bothGood.status).toBe(200);
  });

  it("answers -1102 when listenKey is missing or empty (PUT and DELETE)", async () => {
    const { mock } = await start();
    await createKey(mock);
    for (const method of ["PUT", "DELETE"]) {
      for (const query of [undefined, "listenKey=", "listenKey=%20"]) {
        const r = await rest(mock, method, UDS, { apiKey: KEY_A, ...(query ? { query } : {}) });
        expect(r.status).toBe(400);
        expect(r.body).toEqual(body(E.MANDATORY_PARAM_LISTEN_KEY));
      }
    }
  });

  it("answers -1125 for an unknown key and for another account's key", async () => {
    const { mock } = await start();
    const aKey = await createKey(mock, KEY_A);
    const r1 = await rest(mock, "PUT", UDS, {
      apiKey: KEY_A,
      query: `listenKey=${"x".repeat(64)}`,
    });
    expect(r1).toMatchObject({ status: 400, body: body(E.LISTEN_KEY_NOT_FOUND) });
    const r2 = await rest(mock, "DELETE", UDS, { apiKey: KEY_B, query: `listenKey=${aKey}` });
    expect(r2).toMatchObject({ status: 400, body: body(E.LISTEN_KEY_NOT_FOUND) });
    expect(mock.control.state().keys).toHaveLength(1);
  });

  it("DELETE invalidates the key; a later PUT gets -1125 and POST makes a new key", async () => {
    const { mock } = await start();
    const listenKey = await createKey(mock);
    expect(
      await rest(mock, "DELETE", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` }),
    ).toMatchObject({
      status: 200,
      body: {},
    });
    const r = await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` });
    expect(r.body).toEqual(body(E.LISTEN_KEY_NOT_FOUND));
    expect(await createKey(mock)).not.toBe(listenKey);
  });

  it("answers 401 -2014 without a key or with a malformed key, -2015 for an unlisted well-formed key", async () => {
    const { mock } = await start({ apiKeys: { [KEY_A]: {} } });
    expect(await rest(mock, "POST", UDS)).toMatchObject({
      status: 401,
      body: body(E.API_KEY_FORMAT_INVALID),
    });
    expect(await rest(mock, "POST", UDS, { apiKey: "short-key" })).toMatchObject({
      status: 401,
      body: body(E.API_KEY_FORMAT_INVALID),
    });
    expect(await rest(mock, "POST", UDS, { apiKey: KEY_B })).toMatchObject({
      status: 401,
      body: body(E.API_KEY_REJECTED),
    });
    expect((await rest(mock, "POST", UDS, { apiKey: KEY_A })).status).toBe(200);
  });

  it("accepts any well-formed key when no apiKeys are configured, and listed odd-looking keys always", async () => {
    const { mock } = await start();
    expect((await rest(mock, "POST", UDS, { apiKey: KEY_B })).status).toBe(200);
    await mock.close();
    const listed = await start({ apiKeys: { "dev-key": {} } });
    expect((await rest(listed.mock, "POST", UDS, { apiKey: "dev-key" })).status).toBe(200);
  });
});

describe("request weight", () => {
  it("reports X-MBX-USED-WEIGHT-1M on every response, errors included, and resets each minute", async () => {
    const { mock, clock } = await start();
    const r1 = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(r1.headers.get("x-mbx-used-weight-1m")).toBe("1");
    const r2 = await rest(mock, "PUT", UDS, { apiKey: KEY_A });
    expect(r2.status).toBe(400);
    expect(r2.headers.get("x-mbx-used-weight-1m")).toBe("2");
    await clock.advance(60_000);
    const r3 = await rest(mock, "POST", UDS);
    expect(r3.status).toBe(401);
    expect(r3.headers.get("x-mbx-used-weight-1m")).toBe("1");
  });

  it("counts weight 10 for /api/v3/account", async () => {
    const { mock, clock } = await start({ apiKeys: { [KEY_A]: { secret: SECRET } } });
    const r = await rest(mock, "GET", "/api/v3/account", {
      apiKey: KEY_A,
      query: sign(`timestamp=${clock.now()}`),
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-mbx-used-weight-1m")).toBe("10");
  });

  it("answers 429 -1003 with Retry-After over the limit, then 418 for a client that keeps calling", async () => {
    const { mock, clock } = await start({
      weightLimitPerMinute: 3,
      banAfterEarlyRetries: 2,
      banDurationSec: 120,
    });
    await clock.advance(30_000); // mid-minute: Retry-After is the rest of the minute
    for (let i = 0; i < 3; i++)
      expect((await rest(mock, "POST", UDS, { apiKey: KEY_A })).status).toBe(200);
    const limited = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(limited.status).toBe(429);
    expect((limited.body as { code: number }).code).toBe(-1003);
    expect(limited.headers.get("retry-after")).toBe("30");
    expect(limited.headers.get("x-mbx-used-weight-1m")).toBe("4");
    await clock.advance(10_000);
    const early = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(early.status).toBe(429);
    expect(early.headers.get("retry-after")).toBe("20");
    const banned = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(banned.status).toBe(418);
    expect(banned.headers.get("retry-after")).toBe("120");
    await clock.advance(119_000);
    expect((await rest(mock, "POST", UDS, { apiKey: KEY_A })).status).toBe(418);
    await clock.advance(1_000);
    expect((await rest(mock, "POST", UDS, { apiKey: KEY_A })).status).toBe(200);
  });

  it("lets a client that waits out Retry-After continue without a ban", async () => {
    const { mock, clock } = await start({ weightLimitPerMinute: 1 });
    expect((await rest(mock, "POST", UDS, { apiKey: KEY_A })).status).toBe(200);
    const limited = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(limited.status).toBe(429);
    await clock.advance(Number(limited.headers.get("retry-after")) * 1000);
    expect((await rest(mock, "POST", UDS, { apiKey: KEY_A })).status).toBe(200);
  });
});

describe("injected errors", () => {
  it("injects 429 and 418 with Retry-After for the matching call only, `times` times", async () => {
    const { mock } = await start();
    mock.control.injectError({ method: "put", path: UDS, status: 429, retryAfterSec: 7, times: 2 });
    const listenKey = await createKey(mock);
    for (let i = 0; i < 2; i++) {
      const r = await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` });
      expect(r.status).toBe(429);
      expect(r.headers.get("retry-after")).toBe("7");
      expect(r.body).toEqual(body(E.TOO_MANY_REQUESTS));
      expect(r.headers.get("x-mbx-used-weight-1m")).not.toBeNull();
    }
    expect(
      (await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` })).status,
    ).toBe(200);
    mock.control.injectError({ status: 418, retryAfterSec: 300 });
    const b = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(b.status).toBe(418);
    expect(b.headers.get("retry-after")).toBe("300");
    expect(mock.control.state().requests.filter((r) => r.injected)).toHaveLength(3);
  });

  it("sticky 429 keeps the IP limited for Retry-After and bans a client that ignores it", async () => {
    const { mock, clock } = await start({ banAfterEarlyRetries: 1 });
    mock.control.injectError({ status: 429, retryAfterSec: 10, sticky: true });
    expect((await rest(mock, "POST", UDS, { apiKey: KEY_A })).status).toBe(429);
    await clock.advance(5_000);
    expect((await rest(mock, "POST", UDS, { apiKey: KEY_A })).status).toBe(418);
    mock.control.clearErrors();
    expect((await rest(mock, "POST", UDS, { apiKey: KEY_A })).status).toBe(200);
  });

  it("sends Retry-After on an injected 429/418 even when the spec names none, as the exchange does", async () => {
    const { mock, clock } = await start({ banDurationSec: 240 });
    await clock.advance(15_000); // 45 s left in the weight minute
    mock.control.injectError({ status: 429, sticky: true });
    const limited = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("45");
    await clock.advance(45_000);
    mock.control.injectError({ status: 418 });
    const banned = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(banned.status).toBe(418);
    expect(banned.headers.get("retry-after")).toBe("240");
    mock.control.injectError({ status: 503 });
    expect(
      (await rest(mock, "POST", UDS, { apiKey: KEY_A })).headers.get("retry-after"),
    ).toBeNull();
  });

  it("injects 5xx without applying the request by default", async () => {
    const { mock } = await start();
    mock.control.injectError({ method: "POST", path: UDS, status: 503 });
    const r = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(r).toMatchObject({ status: 503, body: body(E.INTERNAL_ERROR) });
    expect(mock.control.state().keys).toHaveLength(0);
  });

  it("models the unknown outcome: `applied` 5xx performs the request and still reports failure", async () => {
    const { mock } = await start();
    mock.control.injectError({ method: "POST", status: 500, applied: true });
    const r = await rest(mock, "POST", UDS, { apiKey: KEY_A });
    expect(r.status).toBe(500);
    expect(r.body).toEqual(body(E.UNKNOWN_ERROR));
    const keys = mock.control.state().keys;
    expect(keys).toHaveLength(1);
    expect(await createKey(mock)).toBe(keys[0]!.listenKey);
  });

  it("rejects an invalid spec with the field and the fix", async () => {
    const { mock } = await start();
    expect(() => mock.control.injectError({ status: 404 })).toThrow(
      /status: must be 429, 418, 403 or 500-599/,
    );
  });
});

describe("signed snapshots", () => {
  const opts = { apiKeys: { [KEY_A]: { secret: SECRET }, [KEY_B]: {} } };

  it("returns the account snapshot for a valid signature, amounts as decimal strings", async () => {
    const { mock, clock } = await start(opts);
    mock.control.setAccount(
      { apiKey: KEY_A },
      {
        balances: [
          { asset: "USD", free: "12.50000000", locked: "1.00000000" },
          { asset: "DOGE", free: "0.00000000", locked: "0.00000000" },
        ],
        updateTime: 1234,
      },
    );
    const r = await rest(mock, "GET", "/api/v3/account", {
      apiKey: KEY_A,
      query: sign(`recvWindow=5000&timestamp=${clock.now()}`),
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      canTrade: true,
      accountType: "SPOT",
      updateTime: 1234,
      balances: [
        { asset: "USD", free: "12.50000000", locked: "1.00000000" },
        { asset: "DOGE", free: "0.00000000", locked: "0.00000000" },
      ],
    });
    const omitted = await rest(mock, "GET", "/api/v3/account", {
      apiKey: KEY_A,
      query: sign(`omitZeroBalances=true&timestamp=${clock.now()}`),
    });
    expect((omitted.body as { balances: unknown[] }).balances).toHaveLength(1);
  });

  it("verifies the signature over the query string concatenated with a form body", async () => {
    const { mock, clock } = await start(opts);
    const q = `timestamp=${clock.now()}`;
    const f = "recvWindow=6000";
    const sig = createHmac("sha256", SECRET)
      .update(q + f)
      .digest("hex");
    const send = (query: string, form: string) =>
      new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const req = request(
          `${mock.restUrl}/api/v3/account?${query}`,
          {
            method: "GET",
            headers: {
              "X-MBX-APIKEY": KEY_A,
              "Content-Type": "application/x-www-form-urlencoded",
              "Content-Length": String(Buffer.byteLength(form)),
            },
          },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => {
              text += c.toString("utf8");
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          },
        );
        req.on("error", reject);
        req.end(form);
      });
    expect((await send(`${q}&signature=${sig}`, f)).status).toBe(200);
    expect((await send(q, `${f}&signature=${sig}`)).status).toBe(200);
    expect((await send(`${q}&signature=${sig}`, "recvWindow=7000")).body).toEqual(
      body(E.INVALID_SIGNATURE),
    );
  });

  it("answers -1022 for a wrong or missing signature", async () => {
    const { mock, clock } = await start(opts);
    const wrong = await rest(mock, "GET", "/api/v3/account", {
      apiKey: KEY_A,
      query: sign(`timestamp=${clock.now()}`, "other-secret"),
    });
    expect(wrong).toMatchObject({ status: 400, body: body(E.INVALID_SIGNATURE) });
    const missing = await rest(mock, "GET", "/api/v3/account", {
      apiKey: KEY_A,
      query: `timestamp=${clock.now()}`,
    });
    expect(missing).toMatchObject({ status: 400, body: body(E.INVALID_SIGNATURE) });
    const tampered = sign(`timestamp=${clock.now()}`).replace(
      `timestamp=${clock.now()}`,
      `timestamp=${clock.now() - 1}`,
    );
    expect(
      (await rest(mock, "GET", "/api/v3/account", { apiKey: KEY_A, query: tampered })).body,
    ).toEqual(body(E.INVALID_SIGNATURE));
  });

  it("answers -1021 outside recvWindow, -1102 without timestamp, -1130 for a huge recvWindow", async () => {
    const { mock, clock } = await start(opts);
    const stale = await rest(mock, "GET", "/api/v3/account", {
      apiKey: KEY_A,
      query: sign(`timestamp=${clock.now() - 5001}`),
    });
    expect(stale.body).toEqual(body(E.TIMESTAMP_OUTSIDE_RECV_WINDOW));
    const ahead = await rest(mock, "GET", "/api/v3/account", {
      apiKey: KEY_A,
      query: sign(`timestamp=${clock.now() + 1001}`),
    });
    expect(ahead.body).toEqual(body(E.TIMESTAMP_AHEAD));
    expect(ahead.body).toMatchObject({ code: -1021 });
    const wide = await rest(mock, "GET", "/api/v3/account", {
      apiKey: KEY_A,
      query: sign(`recvWindow=10000&timestamp=${clock.now() - 9000}`),
    });
    expect(wide.status).toBe(200);
    expect(
      (await rest(mock, "GET", "/api/v3/account", { apiKey: KEY_A, query: sign("recvWindow=100") }))
        .body,
    ).toEqual(body(E.MANDATORY_PARAM_TIMESTAMP));
    expect(
      (
        await rest(mock, "GET", "/api/v3/account", {
          apiKey: KEY_A,
          query: sign(`recvWindow=70000&timestamp=${clock.now()}`),
        })
      ).body,
    ).toEqual(body(E.RECV_WINDOW_INVALID));
    // Binance.US documents no -1131: the answer uses a code from its own list.
    expect(E.RECV_WINDOW_INVALID).toMatchObject({ code: -1130 });
    expect(Object.values(E).map((e) => e.code)).not.toContain(-1131);
    // The window edge as documented: timestamp < serverTime + 1000.
    const edge = await rest(mock, "GET", "/api/v3/account", {
      apiKey: KEY_A,
      query: sign(`timestamp=${clock.now() + 1000}`),
    });
    expect(edge.body).toEqual(body(E.TIMESTAMP_AHEAD));
    expect(
      (
        await rest(mock, "GET", "/api/v3/account", {
          apiKey: KEY_A,
          query: sign(`timestamp=${clock.now() + 999}`),
        })
      ).status,
    ).toBe(200);
  });

  it("rejects signed calls by a key without a secret (-2015) and without a key (-2014)", async () => {
    const { mock, clock } = await start(opts);
    expect(
      await rest(mock, "GET", "/api/v3/account", {
        apiKey: KEY_B,
        query: sign(`timestamp=${clock.now()}`),
      }),
    ).toMatchObject({ status: 401, body: body(E.API_KEY_REJECTED) });
    expect(
      await rest(mock, "GET", "/api/v3/account", { query: sign(`timestamp=${clock.now()}`) }),
    ).toMatchObject({
      status: 401,
      body: body(E.API_KEY_FORMAT_INVALID),
    });
  });

  it("returns open orders, filtered by symbol, with weight 3 per symbol and 40 for all", async () => {
    const { mock, clock } = await start(opts);
    mock.control.setOpenOrders({ apiKey: KEY_A }, [
      { symbol: "BTCUSD", orderId: 1, price: "40000.00" },
      { symbol: "ETHUSD", orderId: 2, side: "SELL" },
    ]);
    const all = await rest(mock, "GET", "/api/v3/openOrders", {
      apiKey: KEY_A,
      query: sign(`timestamp=${clock.now()}`),
    });
    expect(all.status).toBe(200);
    expect(all.body).toHaveLength(2);
    expect((all.body as Record<string, unknown>[])[1]).toMatchObject({
      symbol: "ETHUSD",
      orderId: 2,
      side: "SELL",
      status: "NEW",
      origQty: "0.01000000",
    });
    expect(all.headers.get("x-mbx-used-weight-1m")).toBe("40");
    const one = await rest(mock, "GET", "/api/v3/openOrders", {
      apiKey: KEY_A,
      query: sign(`symbol=BTCUSD&timestamp=${clock.now()}`),
    });
    expect(one.body).toEqual([expect.objectContaining({ orderId: 1, price: "40000.00" })]);
    expect(one.headers.get("x-mbx-used-weight-1m")).toBe("43");
  });
});

describe("secrets", () => {
  it("never puts API keys or secrets in the request log, state or logger output", async () => {
    const lines: string[] = [];
    const logger = {
      info: (f: Record<string, unknown>, m?: string) => lines.push(JSON.stringify([f, m])),
      warn: (f: Record<string, unknown>, m?: string) => lines.push(JSON.stringify([f, m])),
      debug: (f: Record<string, unknown>, m?: string) => lines.push(JSON.stringify([f, m])),
    };
    const { mock, clock } = await start({ apiKeys: { [KEY_A]: { secret: SECRET } }, logger });
    const listenKey = await createKey(mock);
    await rest(mock, "PUT", UDS, { apiKey: KEY_A, query: `listenKey=${listenKey}` });
    await rest(mock, "GET", "/api/v3/account", {
      apiKey: KEY_A,
      query: sign(`timestamp=${clock.now()}`),
    });
    await rest(mock, "POST", UDS, { apiKey: KEY_B });
    const everything = JSON.stringify(mock.control.state()) + lines.join("\n");
    expect(lines.length).toBeGreaterThan(3);
    for (const secret of [KEY_A, KEY_B, SECRET]) expect(everything).not.toContain(secret);
    expect(mock.control.state().requests[0]!.apiKey).toBe("AAAA…(64)");
  });
});
