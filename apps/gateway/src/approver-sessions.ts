/**
 * Server-side sign-in sessions of the approvals page. The browser holds only a random id
 * in an HttpOnly cookie; the store keys sessions by the id's hash (a dump of the store
 * holds no usable cookie) and keeps with each one its approver, expiry and CSRF token.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { sha256Hex } from "./mask.js";

/** One signed-in approver. */
export interface ApproverSession {
  readonly approver: string;
  /** Sent by the page in `X-CSRF-Token` with every change; bound to this session. */
  readonly csrf: string;
  readonly expiresAt: number;
}

/** Where sessions live. */
export interface ApproverSessionStore {
  /** Starts a session; returns the cookie value (the only copy of the id). */
  create(approver: string): { readonly id: string; readonly session: ApproverSession };
  /** The live session of a cookie value, or undefined (unknown, expired, signed out). */
  get(id: string): ApproverSession | undefined;
  delete(id: string): void;
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
 * In-memory sessions of one gateway instance (a page signed in on one instance signs in
 * again on another; decisions themselves are shared through the approvals store).
 *
 * @example
 * const sessions = createApproverSessions({ ttlMs: 8 * 3_600_000 });
 */
export function createApproverSessions(options: ApproverSessionOptions): ApproverSessionStore {
  const now = options.now ?? Date.now;
  const max = options.max ?? 1000;
  const byHash = new Map<string, ApproverSession>();
  return {
    create(approver) {
      const id = token();
      const session = { approver, csrf: token(), expiresAt: now() + options.ttlMs };
      // Maps iterate in insertion order: the first key is the oldest session.
      while (byHash.size >= max) byHash.delete(byHash.keys().next().value as string);
      byHash.set(sha256Hex(id), session);
      return { id, session };
    },
    get(id) {
      const key = sha256Hex(id);
      const s = byHash.get(key);
      if (s === undefined) return undefined;
      if (s.expiresAt <= now()) {
        byHash.delete(key);
        return undefined;
      }
      return s;
    },
    delete(id) {
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
