import type { StoreConfig } from "@toolgate/rate-limit-store";
import { z } from "zod";
import { type ApproverSessionStore, createRedisApproverSessions } from "../approver-sessions.js";
import { GatewayError } from "../errors.js";
import type { DecisionFeed } from "../feed.js";
import { type SharedFeed, shareFeedOverRedis } from "../feed-share.js";
import { createRedisApprovalStore } from "./redis-store.js";
import { type ApprovalStore, createMemoryApprovalStore } from "./store.js";

/** Key prefix when a config names none (the counter store's default too). */
const DEFAULT_PREFIX = "toolgate:";

/** Where pending approvals live: a backend `type` and, for shared backends, its address. */
export interface ApprovalStoreLocation {
  /** A `type` of {@link APPROVAL_BACKENDS}, e.g. `memory` or `redis`. */
  readonly type: string;
  /** Connection URL without the query (`redis://host:6379/0`); absent for `memory`. */
  readonly url?: string | undefined;
  /** Prefix of every key and channel. Default `toolgate:`. */
  readonly prefix?: string | undefined;
}

/**
 * One approvals backend. Adding one (Postgres, ...) is a store implementing
 * `ApprovalStore` and one entry in {@link APPROVAL_BACKENDS}; the gateway picks it by
 * URL scheme (`approvals.store`) or by the counter store's `type`, never by a test on a
 * particular backend's name.
 */
export interface ApprovalBackend {
  /** Matches the counter store's `type` when `approvals.store` is not set. */
  readonly type: string;
  /** URL schemes (with the colon) this backend answers in `approvals.store`. */
  readonly schemes: readonly string[];
  /** The example shown when `approvals.store` names no known scheme. */
  readonly example: string;
  create(location: ApprovalStoreLocation, runtime: { readonly now: () => number }): ApprovalStore;
  /**
   * Shares the decision feed with the other instances on the same backend. Absent for
   * backends that live in one process (the feed then shows this instance only).
   */
  shareFeed?(feed: DecisionFeed, location: ApprovalStoreLocation, instanceId: string): SharedFeed;
  /**
   * Approver sign-in sessions every instance on the backend shares. Absent: sessions
   * live in the instance that created them.
   */
  sessions?(
    location: ApprovalStoreLocation,
    runtime: { readonly now: () => number; readonly ttlMs: number },
  ): ApproverSessionStore;
}

const memoryApprovals: ApprovalBackend = {
  type: "memory",
  schemes: ["memory:"],
  example: '"memory"',
  create: () => createMemoryApprovalStore(),
};

const redisApprovals: ApprovalBackend = {
  type: "redis",
  schemes: ["redis:", "rediss:"],
  example: '"redis://host:6379/0" (or rediss://, with ?prefix=)',
  create: (location, runtime) =>
    createRedisApprovalStore({
      url: requireUrl(location),
      keyPrefix: location.prefix ?? DEFAULT_PREFIX,
      now: runtime.now,
    }),
  shareFeed: (feed, location, instanceId) =>
    shareFeedOverRedis(feed, {
      url: requireUrl(location),
      keyPrefix: location.prefix ?? DEFAULT_PREFIX,
      instanceId,
    }),
  sessions: (location, runtime) =>
    createRedisApproverSessions({
      url: requireUrl(location),
      keyPrefix: location.prefix ?? DEFAULT_PREFIX,
      ttlMs: runtime.ttlMs,
      now: runtime.now,
    }),
};

function requireUrl(location: ApprovalStoreLocation): string {
  if (location.url === undefined) {
    throw new GatewayError("CONFIG_INVALID", `approvals backend "${location.type}" needs a URL`, [
      {
        path: "approvals.store",
        message: "needs a URL",
        fix: `write it like ${redisApprovals.example}`,
      },
    ]);
  }
  return location.url;
}

/** Every approvals backend, by `type` and URL scheme. */
export const APPROVAL_BACKENDS: readonly ApprovalBackend[] = [memoryApprovals, redisApprovals];

const UNKNOWN_SCHEME = `must be ${APPROVAL_BACKENDS.map((b) => b.example).join(" or ")}`;

/**
 * `approvals.store` in the config: `"memory"` or a URL whose scheme names the backend
 * (`redis://host:6379/0?prefix=app:`). Parses to an {@link ApprovalStoreLocation}; the
 * message never echoes the text (it may hold a password).
 */
export const ApprovalStoreSchema = z.string().transform((raw, ctx): ApprovalStoreLocation => {
  const text = raw.trim() === "memory" ? "memory:" : raw.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(text)?.[0].toLowerCase();
  const backend = APPROVAL_BACKENDS.find((b) => scheme !== undefined && b.schemes.includes(scheme));
  if (backend === undefined) {
    ctx.addIssue({ code: "custom", message: UNKNOWN_SCHEME });
    return z.NEVER;
  }
  if (backend.type === memoryApprovals.type) return { type: backend.type };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({
      code: "custom",
      message: `is not a valid URL; write it like ${backend.example}`,
    });
    return z.NEVER;
  }
  const prefix = url.searchParams.get("prefix") ?? undefined;
  url.search = "";
  return { type: backend.type, url: url.toString(), prefix };
});

/**
 * The approvals backend and its location: `approvals.store` when the config sets it,
 * else the counter store's own backend and address (so one Redis line scales out
 * counters, approvals and the decision feed together).
 *
 * @example
 * const { backend, location } = chooseApprovalBackend(undefined, { type: "memory" });
 */
export function chooseApprovalBackend(
  explicit: ApprovalStoreLocation | undefined,
  counterStore: StoreConfig,
): { readonly backend: ApprovalBackend; readonly location: ApprovalStoreLocation } {
  const location: ApprovalStoreLocation = explicit ?? {
    type: counterStore.type,
    url: "url" in counterStore ? counterStore.url : undefined,
    prefix: "prefix" in counterStore ? counterStore.prefix : undefined,
  };
  const backend = APPROVAL_BACKENDS.find((b) => b.type === location.type);
  if (backend === undefined) {
    throw new GatewayError(
      "CONFIG_INVALID",
      `no approvals backend for store type "${location.type}"`,
      [
        {
          path: "approvals.store",
          message: `the counter store "${location.type}" cannot hold approvals`,
          fix: `set approvals.store to ${APPROVAL_BACKENDS.map((b) => b.example).join(" or ")}`,
        },
      ],
    );
  }
  return { backend, location };
}
