/**
 * Outage behaviour against private redis-server processes (never the shared one):
 * killed, restarted, frozen. Real short waits are unavoidable here: a real process dies
 * and comes back.
 */
import { randomUUID } from "node:crypto";
import type { MeteredCounterStore, ReserveOutcome } from "@toolgate/policy-engine";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore } from "../src/redis-store.js";
import { spec } from "./contract.js";
import { type RedisServerProcess, startRedisServer } from "./redis-server.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("redis store under outage", () => {
  let server: RedisServerProcess;
  let store: MeteredCounterStore | undefined;
  beforeAll(async () => {
    process.on("unhandledRejection", onUnhandled);
    server = await startRedisServer();
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    if (!server.running) await server.start();
    expect(unhandled).toEqual([]);
  });
  afterAll(async () => {
    process.off("unhandledRejection", onUnhandled);
    await server.kill();
  });

  const make = (extra: Partial<Parameters<typeof createRedisStore>[0]> = {}) => {
    store = createRedisStore({
      url: server.url,
      prefix: `fault:${randomUUID()}:`,
      commandTimeoutMs: 200,
      connectTimeoutMs: 300,
      maxReconnectDelayMs: 50,
      ...extra,
    } as Parameters<typeof createRedisStore>[0]);
    return store;
  };
  const healthy = (o: ReserveOutcome) => o.admitted && o.degraded === undefined;

  it("fail closed: denies with a store-unavailable reason, fast, and recovers by itself", async () => {
    const s = make({ fail: "closed" });
    const sp = spec("fc|grant|a", 1000, 1, 60_000);
    expect(healthy(await s.reserve([sp]))).toBe(true);
    await server.kill();
    const t0 = Date.now();
    const out = await s.reserve([sp]);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(out).toMatchObject({
      admitted: false,
      retryAfterMs: 1000,
      degraded: { mode: "fail_closed", store: "redis" },
    });
    expect(out.degraded?.reason).toMatch(/^limit store unavailable: not connected to Redis \(/);
    expect(await s.ready()).toMatchObject({ ok: false, store: "redis" });
    await expect(s.peek([sp])).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
    expect(s.stats().failClosed).toBeGreaterThan(0);
    await server.start();
    await until("recovery", async () => healthy(await s.reserve([sp])));
    expect((await s.ready()).ok).toBe(true);
  });

  it("killed mid-load and restarted: no crash or rejection, fail-open reported, service resumes", async () => {
    const s = make({ fail: "open", insurance: true });
    const sp = spec("load|grant|a", 1_000_000, 1, 60_000);
    const outcomes: ReserveOutcome[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        outcomes.push(await s.reserve([sp]));
        await sleep(1);
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    await sleep(100);
    await server.kill();
    await sleep(300);
    await server.start();
    const resumedFrom = outcomes.length;
    await until("service to resume", async () => outcomes.slice(resumedFrom).some(healthy));
    await sleep(50);
    stop = true;
    await load;
    expect(outcomes.every((o) => o.admitted)).toBe(true);
    const degraded = outcomes.filter((o) => o.degraded !== undefined);
    expect(degraded.length).toBeGreaterThan(0);
    expect(degraded[0]!.degraded).toMatchObject({
      mode: "fail_open",
      store: "redis",
      insurance: true,
    });
    expect(healthy(outcomes[outcomes.length - 1]!)).toBe(true);
    const st = s.stats();
    expect(st.failOpen).toBe(degraded.length);
    expect(st.insurance).toBe(degraded.length);
    expect(st.errors).toBeGreaterThan(0);
    expect(st.lastError).toBeTypeOf("string");
  });

  it("fail open with insurance still enforces the limit per process while Redis is down", async () => {
    const s = make({ fail: "open", insurance: true });
    await s.ready();
    await server.kill();
    const sp = spec("ins|grant|a", 5, 1, 60_000);
    const outs = await Promise.all(Array.from({ length: 20 }, () => s.reserve([sp])));
    expect(outs.filter((o) => o.admitted)).toHaveLength(5);
    expect(
      outs.every((o) => o.degraded?.mode === "fail_open" && o.degraded.insurance === true),
    ).toBe(true);
    // Insurance reservations roll back into the insurance limiter, not into Redis.
    const first = outs.find((o) => o.admitted);
    if (!first?.admitted) throw new Error("expected an admission");
    await s.rollback(first.reservation);
    expect((await s.reserve([sp])).admitted).toBe(true);
  });

  it("fail open without insurance admits and reports it; commit/rollback of those are no-ops", async () => {
    const s = make({ fail: "open" });
    await s.ready();
    await server.kill();
    const out = await s.reserve([spec("open|grant|a", 1, 1, 60_000)]);
    expect(out).toMatchObject({ admitted: true, degraded: { mode: "fail_open", store: "redis" } });
    expect(out.degraded?.insurance).toBeUndefined();
    if (out.admitted) {
      await s.commit(out.reservation);
      await s.rollback(out.reservation);
    }
  });

  it("times out a frozen Redis instead of waiting, and resumes when it thaws", async () => {
    const s = make({ fail: "closed", commandTimeoutMs: 150 });
    const sp = spec("frz|grant|a", 1000, 1, 60_000);
    expect(healthy(await s.reserve([sp]))).toBe(true);
    server.freeze();
    try {
      const t0 = Date.now();
      const out = await s.reserve([sp]);
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(140);
      expect(took).toBeLessThan(600);
      expect(out.degraded).toMatchObject({ mode: "fail_closed" });
      expect(out.degraded?.reason).toMatch(/timed out/i);
    } finally {
      server.thaw();
    }
    await until("thaw", async () => healthy(await s.reserve([sp])));
  });

  it("waits for the first connection only during start-up, then fails fast", async () => {
    await server.kill();
    const s = make({ fail: "closed" });
    const t0 = Date.now();
    const first = await s.reserve([spec("st|grant|a", 1)]);
    expect(first.degraded?.mode).toBe("fail_closed");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const t1 = Date.now();
    await s.reserve([spec("st|grant|a", 1)]);
    expect(Date.now() - t1).toBeLessThan(100);
    await server.start();
    await until(
      "first connection",
      async () => (await s.reserve([spec("st|grant|a", 1)])).degraded === undefined,
    );
  });

  it("never puts the password of the URL into reasons or stats", async () => {
    const port = server.port + 0;
    await server.kill();
    const s = make({ url: `redis://user:s3cr3t-pw@127.0.0.1:${port}/0`, fail: "closed" });
    const out = await s.reserve([spec("pw|grant|a", 1)]);
    expect(out.degraded).toBeDefined();
    const text = JSON.stringify([out, s.stats(), await s.ready()]);
    expect(text).not.toContain("s3cr3t-pw");
  });
});
