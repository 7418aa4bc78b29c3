/**
 * Server-side sign-in sessions of the approvals page. The browser holds only a random id
 * in an HttpOnly cookie; the store keys sessions by the id's hash (a dump of the store
 * holds no usable cookie) and keeps with each one its approver, expiry and CSRF token.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { Redis } from "ioredis";
import { GatewayError } from "./errors.js";
import { sha256Hex } from "./mask.js";

/** One signed-in approver. */
export interface ApproverSession {
  readonly approver: string;
  /** Sent by the page in `X-CSRF-Token` with every change; bound to this session. */
  readonly csrf: string;
  readonly expiresAt: number;
}

/** Where sessions live (this instance's memory, or Redis shared by every instance). */
export interface ApproverSessionStore {
  /** Starts a session; returns the cookie value (the only copy of the id). */
  create(approver: string): Promise<{ readonly id: string; readonly session: ApproverSession }>;
  /** The live session of a cookie value, or undefined (unknown, expired, signed out). */
  get(id: string): Promise<ApproverSession | undefined>;
  delete(id: string): Promise<void>;
  close?(): Promise<void>;
}

/** Options of {@link createApproverSessions}. */
export interface ApproverSessionOptions {
  readonly ttlMs: number;
  readonly now?: () => number;
  /** Sessions kept at most; the oldest go first. Default 1000. */
  readonly max?: number;
}

const token = () => randomBytes(32).toString("base64url");

/**
 * In-memory sessions of one gateway instance (with the memory approvals store; on Redis
 * the gateway uses {@link createRedisApproverSessions}).
 *
 * @example
 * const sessions = createApproverSessions({ ttlMs: 8 * 3_600_000 });
 */
export function createApproverSessions(options: ApproverSessionOptions): ApproverSessionStore {
  const now = options.now ?? Date.now;
  const max = options.max ?? 1000;
  const byHash = new Map<string, ApproverSession>();
  return {
    async create(approver) {
      const id = token();
      const session = { approver, csrf: token(), expiresAt: now() + options.ttlMs };
      // Maps iterate in insertion order: the first key is the oldest session.
      while (byHash.size >= max) byHash.delete(byHash.keys().next().value as string);
      byHash.set(sha256Hex(id), session);
      return { id, session };
    },
    async get(id) {
      const key = sha256Hex(id);
      const s = byHash.get(key);
      if (s === undefined) return undefined;
      if (s.expiresAt <= now()) {
        byHash.delete(key);
        return undefined;
      }
      return s;
    },
    async delete(id) {
      byHash.delete(sha256Hex(id));
    },
  };
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(session: ApproverSession, given: string | undefined): boolean {
  if (given === undefined || given === "") return false;
  const a = Buffer.from(sha256Hex(given));
  const b = Buffer.from(sha256Hex(session.csrf));
  return timingSafeEqual(a, b);
}

/** Options of {@link createRedisApproverSessions}. */
export interface RedisApproverSessionOptions {
  readonly url: string;
  /** Key prefix (the approvals store's). Default `toolgate:`. */
  readonly keyPrefix?: string | undefined;
  readonly ttlMs: number;
  readonly now?: () => number;
}

/**
 * Sessions in Redis, so a page signed in through one instance works through any: one key
 * per session (named by the id's hash) that Redis expires with the session.
 *
 * @example
 * const sessions = createRedisApproverSessions({ url: "redis://127.0.0.1:6379", ttlMs: 3_600_000 });
 */
export function createRedisApproverSessions(
  options: RedisApproverSessionOptions,
): ApproverSessionStore {
  const now = options.now ?? Date.now;
  const client = new Redis(options.url, { maxRetriesPerRequest: 2 });
  client.on("error", () => {});
  const key = (id: string) =>
    `${options.keyPrefix ?? "toolgate:"}approver-session:${sha256Hex(id)}`;
  const failed = (err: unknown) =>
    new GatewayError(
      "APPROVAL_STORE_FAILED",
      `approver sessions (redis): ${(err as Error).message}`,
    );
  return {
    async create(approver) {
      const id = token();
      const session = { approver, csrf: token(), expiresAt: now() + options.ttlMs };
      await client.set(key(id), JSON.stringify(session), "PX", options.ttlMs).catch((e) => {
        throw failed(e);
      });
      return { id, session };
    },
    async get(id) {
      const raw = await client.get(key(id)).catch((e) => {
        throw failed(e);
      });
      if (raw === null) return undefined;
      const s = JSON.parse(raw) as ApproverSession;
      return s.expiresAt > now() ? s : undefined;
    },
    async delete(id) {
      await client.del(key(id)).catch((e) => {
        throw failed(e);
      });
    },
    async close() {
      await client.quit().catch(() => {});
    },
  };
}
