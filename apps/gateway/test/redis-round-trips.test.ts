// "At most one store round trip on a call's answer path": with every Redis exchange
// delayed by a known amount, a tools/call through a Redis-backed gateway takes one delay
// (its reservation), never two (the commit rides later, after the answer). And when
// Redis stalls, a call is decided by the fail mode within the command timeout.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterEach, describe, expect, inject, it } from "vitest";
import { type DelayProxy, startDelayProxy } from "./helpers/delay-proxy.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { startTestGateway, type TestGateway, textOf } from "./helpers/gateway.js";

const REDIS_URL = inject("redisUrl");
const DELAY_MS = 100;
const POLICY = `version: "1"
default: deny
tools:
  binance_us_create_listen_key:
    limits: [{ counter: creates, window: hour, max: 1000 }]
`;

let t: TestGateway | undefined;
let proxy: DelayProxy | undefined;
afterEach(async () => {
  await t?.close();
  await proxy?.close();
  t = undefined;
  proxy = undefined;
});

describe("Redis round trips on the answer path", () => {
  it("a call waits for one delayed Redis round trip, and its commit still lands", async () => {
    proxy = await startDelayProxy(Number(new URL(REDIS_URL).port || 6379), DELAY_MS);
    const prefix = `tg-rtt-${randomUUID().slice(0, 8)}:`;
    t = await startTestGateway({
      config: [
        `store: "redis://127.0.0.1:${proxy.port}/0?prefix=${prefix}&timeout=5000"`,
        "upstreams: []",
        "grants:",
        `  demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.yaml }`,
      ].join("\n"),
      files: { "policy.yaml": POLICY },
      extraUpstreams: [{ name: "fake", server: fakeUpstream() }],
    });
    const client = await t.connect();
    const call = async () => {
      const started = performance.now();
      const r = await client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
      expect(textOf(r)).toContain("listenKey");
      return performance.now() - started;
    };
    await call(); // warm-up: first use of scripts and code paths
    const took: number[] = [];
    for (let i = 0; i < 5; i++) took.push(await call());
    took.sort((a, b) => a - b);
    // Every call waited for Redis (its reservation)...
    expect(took[0]).toBeGreaterThanOrEqual(DELAY_MS);
    // ...once: a second exchange before the answer would take it past twice the delay.
    expect(took[2]).toBeLessThan(DELAY_MS * 1.6);
    // The commits were written after the answers: the counter holds all six calls and a
    // settle marker exists for each of them.
    const direct = new Redis(REDIS_URL);
    try {
      const deadline = Date.now() + 5000;
      let markers: string[] = [];
      while (Date.now() < deadline) {
        markers = await direct.keys(`${prefix}*:r:*`);
        if (markers.length >= 6) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(markers).toHaveLength(6);
      const values = await direct.mget(...markers);
      expect(new Set(values)).toEqual(new Set(["committed"]));
      const counters = await direct.keys(`${prefix}*:c:*`);
      expect(counters).toHaveLength(1);
      expect(await direct.get(counters[0]!)).toBe("6");
      await direct.del(...markers, ...counters);
    } finally {
      direct.disconnect();
    }
  });

  it("a stalled Redis: the call is refused by the fail mode in time, nothing runs, and the late reservation is never under-counted", async () => {
    proxy = await startDelayProxy(Number(new URL(REDIS_URL).port || 6379), 0);
    const prefix = `tg-stall-${randomUUID().slice(0, 8)}:`;
    const calls: string[] = [];
    t = await startTestGateway({
      config: [
        `store: "redis://127.0.0.1:${proxy.port}/0?prefix=${prefix}&timeout=300"`,
        "upstreams: []",
        "grants:",
        `  demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.yaml }`,
      ].join("\n"),
      files: { "policy.yaml": POLICY },
      extraUpstreams: [{ name: "fake", server: fakeUpstream(calls) }],
    });
    const client = await t.connect();
    const create = () => client.callTool({ name: "binance_us_create_listen_key", arguments: {} });
    expect(textOf(await create())).toContain("listenKey");
    expect(calls).toEqual(["create"]);
    proxy.hold(); // Redis gets nothing more and answers nothing
    const started = performance.now();
    const refused = await create();
    const took = performance.now() - started;
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/limit store unavailable/);
    // Decided within the command timeout (300 ms) plus a margin, not left hanging.
    expect(took).toBeLessThan(2000);
    expect(calls).toEqual(["create"]);
    // Redis resumes: the held commands run late, in order; later calls are counted again.
    proxy.release();
    const deadline = Date.now() + 5000;
    let after = await create();
    while (after.isError && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = await create();
    }
    expect(textOf(after)).toContain("listenKey");
    const direct = new Redis(REDIS_URL);
    try {
      const counters = await direct.keys(`${prefix}*:c:*`);
      expect(counters).toHaveLength(1);
      // Two calls ran; the refused one's reservation may have run late in Redis. The
      // counter never holds fewer units than the calls that ran (no over-admission).
      const used = Number(await direct.get(counters[0]!));
      expect(calls).toHaveLength(2);
      expect(used).toBeGreaterThanOrEqual(2);
      expect(used).toBeLessThanOrEqual(3);
      const keys = await direct.keys(`${prefix}*`);
      if (keys.length) await direct.del(...keys);
    } finally {
      direct.disconnect();
    }
  });
});
