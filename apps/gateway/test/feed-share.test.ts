// The decision feed shared over Redis: what one instance decides shows on every
// instance's page, once, and a stranger on the channel or a dead Redis breaks nothing.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { DecisionFeed, type FeedDecision } from "../src/feed.js";
import { type SharedFeed, shareFeedOverRedis } from "../src/feed-share.js";

const url = inject("redisUrl");
const open: Array<SharedFeed | Redis> = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    if (o instanceof Redis) o.disconnect();
    else await o.close();
  }
});

function decision(id: string, grant = "demo"): FeedDecision {
  return {
    id,
    at: Date.now(),
    grant,
    tool: "binance_us_create_listen_key",
    effect: "allow",
    code: "ALLOWED",
    reason: "allowed by rule",
    ruleId: "tools.binance_us_create_listen_key",
    outcome: "forwarded",
    shadow: false,
  };
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until `n` subscribers listen on the channel (pub/sub keeps no history). */
async function subscribers(prefix: string, n: number): Promise<void> {
  const probe = new Redis(url);
  try {
    const end = Date.now() + 5000;
    for (;;) {
      const [, count] = (await probe.pubsub("NUMSUB", `${prefix}decisions`)) as [string, number];
      if (Number(count) >= n) return;
      if (Date.now() > end) throw new Error(`only ${count} of ${n} subscribers attached`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    probe.disconnect();
  }
}

function instance(keyPrefix: string, instanceId: string, flushMs = 20) {
  const feed = new DecisionFeed(200);
  const shared = shareFeedOverRedis(feed, { url, keyPrefix, instanceId, flushMs });
  open.push(shared);
  return { feed, shared };
}

describe("decision feed shared over Redis", () => {
  it("shows each instance's decisions on the others once, and its own once", async () => {
    const prefix = `tg-feed-${randomUUID().slice(0, 8)}:`;
    const a = instance(prefix, "a");
    const b = instance(prefix, "b");
    const elsewhere = instance(`${prefix}other:`, "c");
    await subscribers(prefix, 2);
    for (let i = 0; i < 5; i++) a.shared.push(decision(`a${i}`));
    b.shared.push(decision("b0", "ci-bot"));
    await until("b to see a's five", () => b.feed.recent(50).length === 6);
    await until("a to see b's one", () => a.feed.recent(50).length === 6);
    // A batch is published once and never echoed back into its own feed.
    await new Promise((r) => setTimeout(r, 100));
    expect(
      a.feed
        .recent(50)
        .map((d) => d.id)
        .sort(),
    ).toEqual(["a0", "a1", "a2", "a3", "a4", "b0"]);
    expect(b.feed.recent(50)).toHaveLength(6);
    expect(b.feed.tallies()).toEqual({
      demo: expect.objectContaining({ allowed: 5, forwarded: 5 }),
      "ci-bot": expect.objectContaining({ allowed: 1 }),
    });
    // Another deployment's prefix is another channel.
    expect(elsewhere.feed.recent(50)).toHaveLength(0);
  });

  it("ignores what is not a batch of decisions on its channel", async () => {
    const prefix = `tg-feed-${randomUUID().slice(0, 8)}:`;
    const a = instance(prefix, "a");
    const raw = new Redis(url);
    open.push(raw);
    await subscribers(prefix, 1);
    await raw.publish(`${prefix}decisions`, "not json");
    await raw.publish(`${prefix}decisions`, JSON.stringify({ from: "x", decisions: [{ id: 1 }] }));
    await raw.publish(
      `${prefix}decisions`,
      JSON.stringify({ from: "x", decisions: [decision("ok")] }),
    );
    await until("the valid batch", () => a.feed.recent(50).length === 1);
    expect(a.feed.recent(50)[0]?.id).toBe("ok");
  });

  it("drops its own batches unread when they come back on the channel", async () => {
    const prefix = `tg-feed-${randomUUID().slice(0, 8)}:`;
    const a = instance(prefix, "a");
    const raw = new Redis(url);
    open.push(raw);
    await subscribers(prefix, 1);
    const parse = vi.spyOn(JSON, "parse");
    try {
      for (let i = 0; i < 3; i++) a.shared.push(decision(`own${i}`));
      expect(a.feed.recent(50)).toHaveLength(3); // shown locally at once
      await new Promise((r) => setTimeout(r, 60)); // past flushMs: the batch went out
      // A stranger's batch after it on the same channel: once that shows, the own one
      // (delivered first, on the same connection) has been handled.
      await raw.publish(
        `${prefix}decisions`,
        JSON.stringify({ from: "x", decisions: [decision("stranger")] }),
      );
      await until("the stranger's batch", () => a.feed.recent(50).length === 4);
      const parsedOwn = parse.mock.calls.filter(
        ([text]) => typeof text === "string" && text.startsWith('{"from":"a"'),
      );
      expect(parsedOwn).toHaveLength(0);
      expect(parse.mock.calls.some(([text]) => String(text).includes("stranger"))).toBe(true);
    } finally {
      parse.mockRestore();
    }
    expect(a.feed.recent(50).filter((d) => d.id.startsWith("own"))).toHaveLength(3);
  });

  it("keeps local decisions showing when Redis is unreachable, and closes promptly", async () => {
    const feed = new DecisionFeed(200);
    const shared = shareFeedOverRedis(feed, {
      url: "redis://127.0.0.1:1",
      keyPrefix: "tg-feed-down:",
      instanceId: "a",
      flushMs: 10,
      redisOptions: { retryStrategy: () => null },
    });
    for (let i = 0; i < 3; i++) shared.push(decision(`d${i}`));
    expect(feed.recent(50)).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await shared.close();
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
