import { afterEach, describe, expect, it } from "vitest";
import { BINANCE_US_TOOL_NAMES } from "../src/tools.js";
import {
  API_KEY,
  FAULT_TEST_TIMEOUT_MS,
  iso,
  MIN,
  type Rig,
  SEC,
  type SentRequest,
  startRig,
  type ToolResult,
  waitFor,
} from "./faults-rig.js";

// REST faults (issue 7): 429 and 418 with Retry-After, 5xx with an unknown outcome, and an
// API key revoked on the exchange. The listen-key tools must answer with the truth (when to
// retry, that the outcome is unknown, that a person must act), the connector must not send
// anything inside a Retry-After, and the managed stream must recover once it may.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const coarse = { watchdog: { pingIntervalMs: 10 * MIN, deadAfterMs: 25 * MIN } };

async function rig(options?: Parameters<typeof startRig>[0]): Promise<Rig> {
  const r = await startRig({ ...options, connector: { ...coarse, ...options?.connector } });
  cleanups.push(r.close);
  return r;
}

const masked = (key: string | undefined) => `${key?.slice(0, 4)}…`;

async function connected(r: Rig) {
  await r.status();
  await r.untilConnected();
  expect((await r.status()).s).toMatchObject({ state: "connected", connected: true });
}

async function flows(r: Rig, cursor: number, ids: number[]) {
  for (const i of ids) expect(r.push(r.control.build.executionReport({ i }))).toBe(1);
  let next = cursor;
  await waitFor(async () => {
    const page = await r.events(cursor);
    expect(page.events.map((e) => e.data.i)).toEqual(ids);
    next = page.nextCursor;
  });
  return next;
}

const meta = (res: ToolResult) =>
  (res._meta?.binanceUs ?? {}) as { code?: string; retryAfterMs?: number; retryAt?: number };

/** Nothing the connector sent falls inside [from, until). */
const noneInside = (sent: SentRequest[], from: number, until: number) =>
  expect(sent.filter((q) => q.at >= from && q.at < until)).toEqual([]);

/** A second client on the same IP that ignores Retry-After (it earns the IP a ban). */
async function rogueCall(r: Rig): Promise<number> {
  const res = await fetch(`${r.mock.restUrl}/api/v3/userDataStream`, {
    method: "POST",
    headers: { "X-MBX-APIKEY": "R".repeat(64) },
  });
  await res.text();
  return res.status;
}

describe(
  "listen-key tools and the managed stream under REST faults",
  { timeout: FAULT_TEST_TIMEOUT_MS },
  () => {
    it("429 then 418: the tools name the retry time, nothing is sent before it, the stream waits it out", async () => {
      const r = await rig();
      await connected(r);
      const key = r.exchangeKey()!;
      const cursor = await flows(r, 0, [1]);

      r.control.injectError({ method: "POST", status: 429, retryAfterSec: 30, sticky: true });
      const t429 = r.clock.now();
      const limited = await r.call(BINANCE_US_TOOL_NAMES.createListenKey);
      expect(limited.isError).toBe(true);
      expect(r.textOf(limited)).toMatch(
        /^RATE_LIMITED: POST \/api\/v3\/userDataStream rate limited/,
      );
      expect(r.textOf(limited)).toContain(`Retry after 30 s (at ${iso(t429 + 30 * SEC)})`);
      expect(meta(limited)).toMatchObject({
        code: "RATE_LIMITED",
        retryAfterMs: 30 * SEC,
        retryAt: t429 + 30 * SEC,
      });
      const sentAfter429 = r.sent.length;

      // Inside the window every listen-key tool is refused here, without a request.
      await r.advance(10 * SEC);
      for (const [name, args] of [
        [BINANCE_US_TOOL_NAMES.createListenKey, {}],
        [BINANCE_US_TOOL_NAMES.keepaliveListenKey, { listenKey: key }],
        [BINANCE_US_TOOL_NAMES.closeListenKey, { listenKey: key }],
      ] as const) {
        const res = await r.call(name, args);
        expect(res.isError).toBe(true);
        expect(r.textOf(res)).toMatch(/^RATE_LIMITED: .* not sent: Retry-After still running/);
        expect(r.textOf(res)).toContain(`Retry after 20 s (at ${iso(t429 + 30 * SEC)})`);
      }
      expect(r.sent.length).toBe(sentAfter429);
      // The socket is not a REST call: the stream is still up and says so.
      expect((await r.status()).s.connected).toBe(true);

      // Another client on the same IP ignores the 429 and gets the IP banned for 2 minutes.
      expect([await rogueCall(r), await rogueCall(r), await rogueCall(r)]).toEqual([429, 429, 418]);
      const banEnd = t429 + 10 * SEC + 120 * SEC;

      await r.advance(20 * SEC);
      const t418 = r.clock.now();
      const banned = await r.call(BINANCE_US_TOOL_NAMES.createListenKey);
      expect(r.sent.length).toBe(sentAfter429 + 1); // sent once the 429 window was over
      expect(banned.isError).toBe(true);
      expect(r.textOf(banned)).toMatch(
        /^IP_BANNED: POST \/api\/v3\/userDataStream refused: IP banned/,
      );
      expect(r.textOf(banned)).toContain(`Retry after 100 s (at ${iso(banEnd)})`);
      expect(meta(banned)).toMatchObject({ code: "IP_BANNED", retryAt: banEnd });

      // The socket drops during the ban: the stream may not re-POST before the ban ends, and
      // the status says so instead of pretending to retry right away.
      r.control.dropSockets({ apiKey: API_KEY });
      await r.advanceUntil(
        () => r.raw().nextReconnectAt !== undefined && r.raw().reconnectAttempt > 1,
        5 * SEC,
        100,
      );
      const down = await r.status();
      expect(down.s.state).toBe("reconnecting");
      expect(down.s.lastError?.code).toBe("IP_BANNED");
      expect(down.s.nextReconnectAt).toBeGreaterThanOrEqual(banEnd);
      expect(down.text).toContain(`next attempt at ${iso(down.s.nextReconnectAt!)}`);
      expect(down.text).toContain("last error IP_BANNED");

      await r.untilConnected(3 * MIN, SEC);
      noneInside(r.sent, t429 + 1, t429 + 30 * SEC);
      noneInside(r.sent, t418 + 1, banEnd);
      expect(r.exchangeKey()).toBe(key);
      const again = await r.call(BINANCE_US_TOOL_NAMES.createListenKey);
      expect(again.isError).toBeFalsy();
      expect(again.structuredContent?.listenKey).toBe(key);
      await flows(r, cursor, [2]);
      // The exchange saw no request from this connector inside either window.
      const mine = r.control
        .state()
        .requests.filter((q) => q.apiKey?.startsWith(API_KEY.slice(0, 4)) && q.at > t429);
      expect(mine.filter((q) => q.at < t429 + 30 * SEC || (q.at > t418 && q.at < banEnd))).toEqual(
        [],
      );
    });

    it("an agent that exhausts the IP's request weight gets the exchange's own 429 until the minute ends", async () => {
      // A small weight budget so a handful of calls reach it; no resync, so only listen-key
      // calls (weight 1 each) count.
      const r = await rig({
        mock: { weightLimitPerMinute: 5 },
        connector: { resync: false },
      });
      await connected(r);
      const results: ToolResult[] = [];
      for (let k = 0; k < 5; k++) results.push(await r.call(BINANCE_US_TOOL_NAMES.createListenKey));
      expect(results.slice(0, 4).map((x) => x.isError ?? false)).toEqual([
        false,
        false,
        false,
        false,
      ]);
      expect(results.map((x) => x.structuredContent?.usedWeight1m)).toEqual([
        2,
        3,
        4,
        5,
        undefined,
      ]);
      const limited = results[4]!;
      // Retry-After is whole seconds to the end of the weight minute, counted from now.
      const now = r.clock.now();
      const minuteEnd = Math.floor(now / MIN) * MIN + MIN;
      const retryAt = now + Math.ceil((minuteEnd - now) / SEC) * SEC;
      expect(r.textOf(limited)).toMatch(/^RATE_LIMITED: POST .* rate limited/);
      expect(r.textOf(limited)).toContain(`(at ${iso(retryAt)})`);
      expect(meta(limited).retryAt).toBe(retryAt);
      const sentAt429 = r.sent.length;
      const st = await r.status();
      expect(st.s.usedWeight1m).toBe(6);
      await r.advance(retryAt - r.clock.now() - SEC, 10 * SEC);
      const early = await r.call(BINANCE_US_TOOL_NAMES.createListenKey);
      expect(r.textOf(early)).toMatch(/^RATE_LIMITED: .*not sent/);
      expect(r.sent.length).toBe(sentAt429);
      await r.advance(SEC);
      const fresh = await r.call(BINANCE_US_TOOL_NAMES.createListenKey);
      expect(fresh.isError).toBeFalsy();
      expect(fresh.structuredContent?.usedWeight1m).toBe(1); // a new weight minute
      expect(r.control.state().requests.filter((q) => q.status === 418)).toEqual([]);
    });

    it("a 429 on the managed keepalive: degraded with the reason, no PUT before Retry-After, then healthy", async () => {
      const r = await rig();
      await connected(r);
      r.control.injectError({ method: "PUT", status: 429, retryAfterSec: 120, sticky: true });
      await r.advanceUntil(() => r.raw().keepaliveFailingSince !== undefined, 31 * MIN, 30 * SEC);
      const failedAt = r.raw().keepaliveFailingSince!;
      const st = await r.status();
      expect(st.s.connected).toBe(true);
      expect(st.text).toMatch(/Degraded: keepalives failing since .*RATE_LIMITED/);
      expect(st.s.nextKeepaliveAt).toBeGreaterThanOrEqual(failedAt + 120 * SEC);
      expect(st.text).toContain(`; next attempt at ${iso(st.s.nextKeepaliveAt!)}`);
      await r.advanceUntil(() => r.raw().keepaliveFailingSince === undefined, 3 * MIN, 5 * SEC);
      noneInside(r.sent, failedAt + 1, failedAt + 120 * SEC);
      const healthy = await r.status();
      expect(healthy.text).toMatch(/^Connected /);
      expect(healthy.text).not.toContain("Degraded");
      expect(healthy.s.reconnects).toBe(0);
    });

    it("5xx: the tools say the outcome is unknown; the managed stream retries keepalive and re-POST", async () => {
      const r = await rig();
      // The create took effect on the exchange but answered 503.
      r.control.injectError({ method: "POST", status: 503, applied: true });
      const unknown = await r.call(BINANCE_US_TOOL_NAMES.createListenKey);
      expect(unknown.isError).toBe(true);
      expect(r.textOf(unknown)).toMatch(
        /^SERVER_ERROR_OUTCOME_UNKNOWN: POST \/api\/v3\/userDataStream returned HTTP 503; the request may or may not have taken effect/,
      );
      const key = r.exchangeKey()!;
      expect(key).toBeDefined(); // it did take effect
      const created = await r.call(BINANCE_US_TOOL_NAMES.createListenKey);
      expect(created.structuredContent?.listenKey).toBe(key); // get-or-extend: same key

      // A keepalive that did not take effect says the same: the agent cannot tell either way.
      const before = r.control.state().keys[0]!.expiresAt;
      await r.advance(5 * MIN, MIN);
      r.control.injectError({ method: "PUT", status: 500 });
      const put = await r.call(BINANCE_US_TOOL_NAMES.keepaliveListenKey, { listenKey: key });
      expect(r.textOf(put)).toMatch(
        /^SERVER_ERROR_OUTCOME_UNKNOWN: PUT .* HTTP 500; the request may or may not have taken effect/,
      );
      expect(r.control.state().keys[0]!.expiresAt).toBe(before);

      // The managed stream: one failed keepalive is retried after a short backoff.
      await connected(r);
      r.control.injectError({ method: "PUT", status: 502 });
      // Close to the keepalive in coarse steps, then finely: the retry comes within a second.
      await r.advance(r.raw().nextKeepaliveAt! - r.clock.now() - SEC, MIN);
      await r.advanceUntil(() => r.raw().keepaliveFailingSince !== undefined, 2 * SEC, 50);
      const degraded = await r.status();
      expect(degraded.text).toContain("Degraded: keepalives failing since");
      expect(degraded.text).toContain("HTTP 502; the request may or may not have taken effect");
      await r.advanceUntil(() => r.raw().keepaliveFailingSince === undefined, MIN, 100);
      expect((await r.status()).text).not.toContain("Degraded");

      // A re-POST answered 5xx during a reconnect: retried, and back on the same key.
      const cursor = await flows(r, 0, [1]);
      r.control.injectError({ method: "POST", status: 502, times: 2 });
      r.control.dropSockets({ apiKey: API_KEY });
      await r.advanceUntil(
        () => r.raw().lastError?.code === "SERVER_ERROR_OUTCOME_UNKNOWN" && !r.raw().connected,
        5 * SEC,
        50,
      );
      const down = await r.status();
      expect(down.s.state).toBe("reconnecting");
      expect(down.text).toContain("last error SERVER_ERROR_OUTCOME_UNKNOWN");
      await r.untilConnected();
      expect(r.exchangeKey()).toBe(key);
      await flows(r, cursor, [2]);
    });

    it("a revoked API key is fatal: reported as such, nothing retried until the next allowed restart", async () => {
      const r = await rig({ connector: { fatalRetryAfterMs: 60 * SEC } });
      await connected(r);
      const cursor = await flows(r, 0, [1]);
      r.control.revokeApiKey(API_KEY);

      const rejected = await r.call(BINANCE_US_TOOL_NAMES.createListenKey);
      expect(rejected.isError).toBe(true);
      expect(r.textOf(rejected)).toMatch(/^API_KEY_REJECTED: .*-2015/);
      expect(r.textOf(rejected)).toContain("Fatal: retrying cannot help");
      // The exchange leaves open sockets up, so the stream learns at its next keepalive.
      await r.advanceUntil(() => r.raw().state === "failed", 31 * MIN, 30 * SEC);
      const failedAt = r.raw().failedAt!;
      const sentAtFailure = r.sent.length;
      await waitFor(() => expect(r.exchangeSockets()).toEqual([]));

      const failed = await r.status();
      expect(failed.s).toMatchObject({ state: "failed", connected: false, failedAt });
      expect(failed.s.retryAt).toBe(failedAt + 60 * SEC);
      expect(failed.text).toMatch(/^Stopped by a fatal error: API_KEY_REJECTED: /);
      expect(failed.text).toContain("whitelist");
      expect(failed.text).toContain(`from ${iso(failedAt + 60 * SEC)} (in 60 s) retries once`);
      const page = await r.events(cursor);
      expect(page.connected).toBe(false);
      expect(page.text).toContain("The stream is stopped by API_KEY_REJECTED");

      // It stays fatal: status and events calls before retryAt send nothing.
      for (let k = 0; k < 5; k++) {
        await r.advance(10 * SEC);
        expect((await r.status()).s.state).toBe("failed");
        await r.events(cursor);
      }
      expect(r.sent.length).toBe(sentAtFailure);

      // At retryAt one call retries once; the key is still revoked, so it fails again.
      await r.advance(10 * SEC);
      const retrying = await r.status();
      expect(retrying.text).toMatch(
        /^(Retrying after the earlier fatal error API_KEY_REJECTED|Stopped by a fatal error)/,
      );
      await r.advanceUntil(() => r.raw().state === "failed", 5 * SEC, 50);
      expect(r.sent.length).toBe(sentAtFailure + 1);
      const again = await r.status();
      expect(again.text).toMatch(/^Stopped by a fatal error: API_KEY_REJECTED/);
      expect(again.s.retryAt).toBeGreaterThan(failedAt + 60 * SEC);

      // Fixed on the exchange, then restarted: connected and delivering again.
      r.control.restoreApiKey(API_KEY);
      await r.connector.restart();
      await r.untilConnected();
      const up = await r.status();
      expect(up.s).toMatchObject({ state: "connected", connected: true });
      expect(up.s.failedAt).toBeUndefined();
      expect(up.s.listenKeyMasked).toBe(masked(r.exchangeKey()));
      await flows(r, (await r.events(cursor)).nextCursor, [2]);
    });
  },
);
