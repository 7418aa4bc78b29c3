import { Redis, type RedisOptions } from "ioredis";
import { z } from "zod";
import type { DecisionFeed, FeedDecision } from "./feed.js";

/** Options of {@link shareFeedOverRedis}. */
export interface SharedFeedOptions {
  /** The Redis the instances already share (the counter store's). */
  readonly url: string;
  /** Key prefix of this deployment; the channel is `<prefix>decisions`. */
  readonly keyPrefix: string;
  /** This instance's id, so it skips its own batches when they come back. */
  readonly instanceId: string;
  /** How long decisions are collected before one publish. Default 200 ms. */
  readonly flushMs?: number;
  /** Decisions kept for the next publish while Redis is away; older ones drop. Default 500. */
  readonly maxBuffered?: number;
  readonly redisOptions?: RedisOptions;
}

/** A feed whose decisions reach every instance on the same Redis. */
export interface SharedFeed {
  /** Records a decision of this instance: locally at once, to the others with the next batch. */
  push(d: FeedDecision): void;
  /** Publishes what is buffered (best effort) and disconnects. */
  close(): Promise<void>;
}

const DecisionSchema = z.object({
  id: z.string(),
  at: z.number(),
  grant: z.string(),
  subject: z.string().optional(),
  clientId: z.string().optional(),
  session: z.string().optional(),
  tool: z.string(),
  effect: z.string(),
  code: z.string(),
  reason: z.string(),
  ruleId: z.string(),
  outcome: z.string().optional(),
  retryAfterMs: z.number().optional(),
  shadow: z.boolean(),
});
const BatchSchema = z.object({ from: z.string(), decisions: z.array(DecisionSchema).max(10_000) });

/**
 * Makes the approvals page of every instance show the decisions of all instances: each
 * instance publishes its decisions on a Redis channel in batches (one PUBLISH per
 * `flushMs`, never one per call, so the hot path gains no round trip) and pushes the
 * batches of the others into its own feed. Delivery is best effort, like the page
 * itself: while Redis is away local decisions still show, and at most `maxBuffered`
 * wait for it. Nothing here can fail a tool call.
 *
 * @example
 * const shared = shareFeedOverRedis(feed, { url, keyPrefix: "toolgate:", instanceId: randomUUID() });
 * shared.push(decision); // instead of feed.push(decision)
 */
export function shareFeedOverRedis(feed: DecisionFeed, options: SharedFeedOptions): SharedFeed {
  const channel = `${options.keyPrefix}decisions`;
  const flushMs = options.flushMs ?? 200;
  const maxBuffered = options.maxBuffered ?? 500;
  // No offline queue on the publisher: during an outage a publish fails at once instead
  // of piling up behind reconnect attempts.
  const pub = new Redis(options.url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    ...options.redisOptions,
  });
  const sub = new Redis(options.url, { maxRetriesPerRequest: 1, ...options.redisOptions });
  // Errors surface as failed publishes (ignored); without listeners ioredis prints them.
  pub.on("error", () => {});
  sub.on("error", () => {});
  // ioredis re-subscribes after a reconnect once a subscribe has succeeded; "ready" also
  // covers a Redis that was down when this instance started.
  sub.on("ready", () => {
    sub.subscribe(channel).catch(() => {});
  });
  // How this instance's own batches start (see flush): they come back on the channel
  // every flushMs, each holding every decision of that period, and are dropped unread
  // instead of parsed and validated, which cost several microseconds per call.
  const ownPrefix = `{"from":${JSON.stringify(options.instanceId)},`;
  sub.on("message", (_ch: string, message: string) => {
    if (message.startsWith(ownPrefix)) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return; // Not ours: another program on the channel must not break the page.
    }
    const batch = BatchSchema.safeParse(parsed);
    if (!batch.success || batch.data.from === options.instanceId) return;
    for (const d of batch.data.decisions) feed.push(d);
  });

  let buffer: FeedDecision[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = async () => {
    timer = undefined;
    if (buffer.length === 0) return;
    const decisions = buffer;
    buffer = [];
    // `from` first: the receiving side recognises its own batches by this prefix.
    const message = JSON.stringify({ from: options.instanceId, decisions });
    try {
      await pub.publish(channel, message);
    } catch {
      // Redis away: keep the newest for the next try, bounded.
      buffer = [...decisions, ...buffer].slice(-maxBuffered);
    }
  };
  return {
    push(d) {
      feed.push(d);
      buffer.push(d);
      if (buffer.length > maxBuffered) buffer.shift();
      if (timer === undefined) {
        timer = setTimeout(() => void flush(), flushMs);
        timer.unref();
      }
    },
    async close() {
      if (timer !== undefined) clearTimeout(timer);
      await flush();
      pub.disconnect();
      sub.disconnect();
    },
  };
}
