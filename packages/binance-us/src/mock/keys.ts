import { randomBytes } from "node:crypto";
import type { Accounts } from "./accounts.js";
import type { MockRuntime } from "./runtime.js";
import type { KeyEndReason, ListenKeyState } from "./types.js";

/**
 * What a key's open sockets see when the key ends:
 * - `event` (the exchange): `listenKeyExpired`, then the socket stays open and silent;
 * - `event-close`: `listenKeyExpired`, then a close frame (what many bots wrongly expect);
 * - `close`: a plain close frame, no event;
 * - `keep`: nothing at all, the socket stays open and silent.
 */
export type ExpiryMode = "event" | "event-close" | "close" | "keep";

/** A live listen key. */
export interface KeyRecord {
  listenKey: string;
  account: string;
  createdAt: number;
  expiresAt: number;
  timer: unknown;
}

const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function defaultListenKey(): string {
  const bytes = randomBytes(64);
  let out = "";
  for (const b of bytes) out += BASE62[b % 62];
  return out;
}

/** The listen-key lifecycle: one key per account, get-or-extend, 60-minute validity. */
export class ListenKeys {
  private readonly rt: MockRuntime;
  private readonly accounts: Accounts;
  private readonly keys = new Map<string, KeyRecord>();
  private readonly newListenKey: () => string;
  private readonly onEnd: (listenKey: string, mode: ExpiryMode) => void;

  /** `onEnd` tells the socket hub what the key's sockets must see. */
  constructor(
    rt: MockRuntime,
    accounts: Accounts,
    onEnd: (listenKey: string, mode: ExpiryMode) => void,
  ) {
    this.rt = rt;
    this.accounts = accounts;
    this.onEnd = onEnd;
    this.newListenKey = rt.opts.generateListenKey ?? defaultListenKey;
  }

  /** POST: the account's active key extended, or a new one. */
  createOrExtend(account: string): KeyRecord {
    const acc = this.accounts.get(account);
    const existing = acc.listenKey ? this.keys.get(acc.listenKey) : undefined;
    if (existing) {
      this.extend(existing);
      return existing;
    }
    const now = this.rt.clock.now();
    let listenKey = this.newListenKey();
    while (this.keys.has(listenKey)) listenKey = this.newListenKey();
    const rec: KeyRecord = { listenKey, account, createdAt: now, expiresAt: now, timer: undefined };
    this.keys.set(listenKey, rec);
    acc.listenKey = listenKey;
    this.extend(rec);
    this.rt.logInfo({ account }, "listen key created");
    this.rt.emit("keyCreated", this.view(rec, 0));
    return rec;
  }

  /** PUT: another `keyValidityMs` from now. */
  extend(rec: KeyRecord): void {
    this.rt.disarm(rec.timer);
    rec.expiresAt = this.rt.clock.now() + this.rt.opts.keyValidityMs;
    rec.timer = this.rt.arm(
      () => this.expire(rec.listenKey, this.rt.opts.onKeyExpiry, "expired"),
      this.rt.opts.keyValidityMs,
    );
  }

  /** The active key record, if any. */
  get(listenKey: string): KeyRecord | undefined {
    return this.keys.get(listenKey);
  }

  /** Whether the key is active. */
  isActive(listenKey: string): boolean {
    return this.keys.has(listenKey);
  }

  /** Forgets the key (DELETE, expiry or control) and says why. */
  invalidate(listenKey: string, reason: KeyEndReason): KeyRecord | undefined {
    const rec = this.keys.get(listenKey);
    if (!rec) return undefined;
    this.rt.disarm(rec.timer);
    this.keys.delete(listenKey);
    const acc = this.accounts.peek(rec.account);
    if (acc && acc.listenKey === listenKey) acc.listenKey = undefined;
    this.rt.emit("keyEnded", { listenKey, account: rec.account, reason });
    return rec;
  }

  /** Ends a key (timeout or control). Returns false when it was not active. */
  expire(
    listenKey: string,
    mode: ExpiryMode,
    reason: KeyEndReason = "expired-by-control",
  ): boolean {
    const rec = this.invalidate(listenKey, reason);
    if (!rec) return false;
    this.rt.logInfo({ account: rec.account }, "listen key expired");
    this.onEnd(listenKey, mode);
    return true;
  }

  /** Every active key. */
  list(): KeyRecord[] {
    return [...this.keys.values()];
  }

  /** A `state()` row. */
  view(rec: KeyRecord, sockets: number): ListenKeyState {
    return {
      listenKey: rec.listenKey,
      account: rec.account,
      createdAt: rec.createdAt,
      expiresAt: rec.expiresAt,
      sockets,
    };
  }

  /** Drops timer handles at shutdown (the runtime clears the timers themselves). */
  shutdown(): void {
    for (const k of this.keys.values()) k.timer = undefined;
  }
}
