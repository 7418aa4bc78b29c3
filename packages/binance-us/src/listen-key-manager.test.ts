import { describe, expect, it } from "vitest";
import { BinanceUsError } from "./errors.js";
import { ListenKeyManager, type ListenKeyManagerEvents } from "./listen-key-manager.js";
import { BinanceUsRestClient } from "./rest-client.js";
import { FakeClock, FakeExchange } from "./test-utils/fakes.js";
import { recordEvents } from "./test-utils/record-events.js";

const MIN = 60_000;

function setup(opts: { ownsStream?: boolean; apiKey?: string; random?: () => number } = {}) {
  const clock = new FakeClock();
  const exchange = new FakeExchange(clock);
  const rest = new BinanceUsRestClient({
    apiKey: opts.apiKey ?? exchange.validApiKey,
    restBaseUrl: "http://exchange.test",
    fetch: exchange.fetch,
    now: clock.now,
  });
  const manager = new ListenKeyManager({
    api: rest,
    now: clock.now,
    scheduler: clock,
    random: opts.random ?? (() => 0.5),
    ownsStream: opts.ownsStream ?? false,
    backoff: { baseMs: 1_000, maxMs: 16_000 },
  });
  const seen = recordEvents<ListenKeyManagerEvents>(manager, [
    "keyChanged",
    "keepalive",
    "retrying",
    "fatal",
  ]);
  return { clock, exchange, rest, manager, seen };
}

describe("ListenKeyManager", () => {
  it("without keepalive the key expires after 60 minutes (the problem it solves)", async () => {
    const { clock, exchange, rest } = setup();
    const { data } = await rest.createListenKey();
    await clock.advance(59 * MIN);
    await expect(rest.keepaliveListenKey(data.listenKey)).resolves.toBeDefined();
    await clock.advance(60 * MIN + 1);
    await expect(rest.keepaliveListenKey(data.listenKey)).rejects.toMatchObject({
      code: "LISTEN_KEY_NOT_FOUND",
    });
    expect(exchange.key).toBeUndefined();
  });

  it("keeps the key alive every ~30 minutes with jitter and exactly one timer", async () => {
    let r = 0;
    const randoms = [0, 1, 0.5, 0.25, 0.75, 0.1, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5];
    const { clock, exchange, manager, seen } = setup({
      random: () => randoms[r++ % randoms.length]!,
    });
    const key = await manager.acquire();
    expect(clock.pending()).toBe(1);
    await clock.advance(6 * 60 * MIN);
    const puts = exchange.calls.filter((c) => c.method === "PUT");
    expect(puts.length).toBeGreaterThanOrEqual(11);
    expect(puts.length).toBeLessThanOrEqual(13);
    const times = seen.keepalive.map((k) => k.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(29 * MIN);
      expect(gap).toBeLessThanOrEqual(31 * MIN);
    }
    expect(new Set(gaps).size).toBeGreaterThan(1); // jittered, not fixed
    expect(clock.pending()).toBe(1);
    expect(exchange.key?.listenKey).toBe(key); // still valid after 6 hours
    expect(seen.keyChanged).toHaveLength(1);
    // A second acquire (get-or-extend) replaces the timer rather than adding one.
    await manager.acquire();
    expect(clock.pending()).toBe(1);
  });

  it("re-creates the key on -1125 and reports the change", async () => {
    const { clock, exchange, manager, seen } = setup();
    const first = await manager.acquire();
    exchange.expireKey();
    await clock.advance(31 * MIN);
    expect(seen.keyChanged.map((c) => c.reason)).toEqual(["created", "recreated"]);
    const second = manager.listenKey!;
    expect(second).not.toBe(first);
    expect(seen.keyChanged[1]).toMatchObject({ previous: first, listenKey: second });
    expect(exchange.key?.listenKey).toBe(second);
    const putsFirst = exchange.calls.filter((c) => c.method === "PUT" && c.body?.includes(first));
    expect(putsFirst).toHaveLength(1); // never retried the dead key
    expect(clock.pending()).toBe(1);
  });

  it("retries transient failures with backoff and obeys Retry-After", async () => {
    const { clock, exchange, manager, seen } = setup({ random: () => 1 });
    await manager.acquire();
    exchange.failures.push(
      { method: "PUT", status: 503 },
      { method: "PUT", status: 429, headers: { "retry-after": "90" } },
    );
    await clock.advance(31 * MIN + 1_000);
    expect(seen.retrying.map((r) => r.error.code)).toEqual([
      "SERVER_ERROR_OUTCOME_UNKNOWN",
      "RATE_LIMITED",
    ]);
    expect(seen.retrying[0]!.delayMs).toBe(1_000);
    expect(seen.retrying[1]!.delayMs).toBe(90_000); // Retry-After beats the 2 s backoff step
    const failedAt = exchange.calls.length;
    await clock.advance(89_000);
    expect(exchange.calls.length).toBe(failedAt); // nothing sent during Retry-After
    await clock.advance(1_000);
    expect(seen.keepalive).toHaveLength(1);
    expect(manager.status().state).toBe("active");
  });

  it("reports until when the key is held and since when keepalives fail", async () => {
    const { clock, exchange, manager } = setup({ random: () => 0.5 });
    const t0 = clock.now();
    await manager.acquire();
    expect(manager.status()).toMatchObject({
      keyValidUntil: t0 + 60 * MIN,
      failingSince: undefined,
    });
    exchange.failures.push({ method: "PUT", status: 503 }, { method: "PUT", status: 503 });
    await clock.advance(30 * MIN);
    const failedAt = clock.now();
    // The failure does not extend the key: the validity still counts from the POST.
    expect(manager.status()).toMatchObject({
      keyValidUntil: t0 + 60 * MIN,
      failingSince: failedAt,
    });
    await clock.advance(600); // the first retry fails too: still failing since the first one
    expect(manager.status().failingSince).toBe(failedAt);
    await clock.advance(2_000);
    const status = manager.status();
    expect(status.failingSince).toBeUndefined();
    expect(status.keyValidUntil).toBe(status.lastKeepaliveAt! + 60 * MIN);
  });

  it("treats -2014/-2015 as fatal: surfaced once, never retried", async () => {
    const { clock, exchange, manager, seen } = setup({ apiKey: "B".repeat(64) });
    const err = await manager.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BinanceUsError);
    expect((err as BinanceUsError).code).toBe("API_KEY_REJECTED");
    expect(seen.fatal.map((f) => f.code)).toEqual(["API_KEY_REJECTED"]);
    await clock.advance(5 * 60 * MIN);
    expect(exchange.calls).toHaveLength(1);
    expect(clock.pending()).toBe(0);
    expect(manager.status().state).toBe("failed");
    await expect(manager.acquire()).rejects.toMatchObject({ code: "CLOSED" });
  });

  it("a fatal error during keepalive stops the timer", async () => {
    const { clock, exchange, manager, seen } = setup();
    await manager.acquire();
    exchange.failures.push({
      method: "PUT",
      status: 401,
      body: { code: -2015, msg: "Invalid API-key" },
    });
    await clock.advance(2 * 60 * MIN);
    expect(seen.fatal).toHaveLength(1);
    expect(clock.pending()).toBe(0);
  });

  it("DELETEs on close only when it owns the stream", async () => {
    const shared = setup();
    await shared.manager.acquire();
    await shared.manager.close();
    expect(shared.exchange.calls.some((c) => c.method === "DELETE")).toBe(false);
    expect(shared.exchange.key).toBeDefined();
    expect(shared.clock.pending()).toBe(0);

    const owner = setup({ ownsStream: true });
    await owner.manager.acquire();
    await owner.manager.close();
    expect(owner.exchange.calls.filter((c) => c.method === "DELETE")).toHaveLength(1);
    expect(owner.exchange.key).toBeUndefined();
    expect(owner.clock.pending()).toBe(0);
  });
});
