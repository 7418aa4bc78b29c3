// A gateway whose Redis is unreachable keeps answering its operators: the metrics scrape
// works, and the admin API says the store is down (503) rather than "internal error".
import { afterEach, describe, expect, it } from "vitest";
import {
  freePort,
  type RedisServerProcess,
  startRedisServer,
} from "../../../packages/rate-limit-store/test/redis-server.js";
import { createRedisApprovalStore } from "../src/approvals/redis-store.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "./helpers/gateway.js";

const POLICY = `version: "1"
default: deny
tools:
  "*":
    limits: [{ counter: all, window: minute, max: 5, scope: grant }]
`;

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("gateway with its Redis down", () => {
  it("still scrapes metrics, and the admin API answers 503 store_unavailable", async () => {
    // Nothing listens on this port: every Redis command fails at once.
    const port = await freePort();
    t = await startTestGateway({
      config: [
        `store: "redis://127.0.0.1:${port}/0?prefix=outage:&timeout=200"`,
        "upstreams: []",
        "grants:",
        `  demo: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.yaml }`,
      ].join("\n"),
      files: { "policy.yaml": POLICY },
      extraUpstreams: [{ name: "fake", server: fakeUpstream() }],
    });
    const metrics = await fetch(`${t.gw.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/^toolgate_pending_approvals nan$/im);
    expect(text).toContain("toolgate_sessions 0");

    for (const path of ["/admin/api/counters", "/admin/api/approvals"]) {
      const res = await fetch(`${t.gw.url}${path}`, {
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(res.status, path).toBe(503);
      expect(res.headers.get("content-type"), path).toMatch(/^application\/json/);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error, path).toBe("store_unavailable");
      expect(body.message, path).toMatch(
        /^(limit store unavailable|approval store \(redis\) failed)/,
      );
      expect(JSON.stringify(body), path).not.toMatch(/\.ts:\d+|\bat [\w.<>]+ \(/);
    }
  });
});

describe("redis approval store during an outage", () => {
  let redis: RedisServerProcess | undefined;
  afterEach(async () => {
    await redis?.kill();
  });

  it("fails at once while Redis is gone (no waiting out reconnect retries) and recovers", async () => {
    redis = await startRedisServer();
    const store = createRedisApprovalStore({ url: redis.url, keyPrefix: "outage-approvals:" });
    try {
      expect(await store.listPending()).toEqual([]);
      await redis.kill();
      // Queued behind ioredis's reconnect retries, each of these took longer than the one
      // before (0.5 s, 1 s, ... up to several seconds); failing fast, all of them together
      // take a fraction of that.
      const t0 = Date.now();
      for (let i = 0; i < 8; i++) {
        await expect(store.listPending()).rejects.toMatchObject({ code: "APPROVAL_STORE_FAILED" });
      }
      expect(await store.ready()).toMatchObject({ ok: false });
      expect(Date.now() - t0).toBeLessThan(3000);
      await redis.start();
      const until = Date.now() + 10_000;
      while (!(await store.ready()).ok && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await store.listPending()).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
