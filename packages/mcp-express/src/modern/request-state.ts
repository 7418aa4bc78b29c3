/**
 * Sealed request state: an opaque token the gateway hands a client and later gets back
 * (MCP 2026-07-28 `requestState`, which round-trips through the client and is therefore
 * attacker-controlled). A token is HMAC-SHA256 signed with the gateway's state secret,
 * expires, and is bound to what it was issued for (e.g. grant, user, tool, argument
 * digest, upstream): `open` refuses a token that is malformed, not signed by this key,
 * expired, or presented for anything else. The payload is signed, not encrypted: put
 * nothing in it the client may not read.
 *
 * Generic on purpose: MRTR pass-through uses it to wrap an upstream's own state, and a
 * held approval can use it the same way. Single use, where a token must not be replayed,
 * is {@link spendOnce}: a nonce kept in the counter store for the token's lifetime, so it
 * holds across every instance sharing a Redis store.
 *
 * Every instance behind one balancer must share the secret, or a token issued by one is
 * refused by the others.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { CounterStore } from "../engine.js";

/** What a token is bound to: names and values that must match exactly when opened. */
export type StateBinding = Readonly<Record<string, string>>;

/** What is sealed: the binding and any JSON data the issuer needs back. */
export interface SealInput<T = unknown> {
  readonly binding: StateBinding;
  readonly data: T;
}

/** Why a token was refused (for logs and audit; the client gets one generic error). */
export type StateRefusal = "malformed" | "bad_signature" | "expired" | "binding_mismatch";

/** The result of {@link RequestStateCodec.open}. */
export type OpenedState<T> =
  | { readonly ok: true; readonly data: T; readonly nonce: string; readonly expiresAt: number }
  | { readonly ok: false; readonly reason: StateRefusal };

/** Seals and opens tokens with one secret. */
export interface RequestStateCodec {
  /** A token carrying `payload`, valid for `ttlMs` from now, with a fresh nonce. */
  seal<T>(payload: SealInput<T>, ttlMs: number): string;
  /** The data of a token issued by this secret, unexpired, for exactly `expected`. */
  open<T>(token: unknown, expected: StateBinding): OpenedState<T>;
}

/** Options of {@link createRequestStateCodec}. */
export interface RequestStateCodecOptions {
  /** The HMAC key: at least 32 bytes (a string is taken as UTF-8). */
  readonly secret: string | Uint8Array;
  /** Clock (epoch ms). */
  readonly now: () => number;
  /** Nonce source; default 16 random bytes. */
  readonly newNonce?: () => string;
  /**
   * Longest token accepted by `open` (characters). Default 1 MiB: an upstream's own state
   * rides inside, and the request body limit bounds it anyway.
   */
  readonly maxTokenChars?: number;
}

const PREFIX = "tgs1.";

const b64url = (b: Buffer): string => b.toString("base64url");

/** A digest of a binding that does not depend on key order. */
function bindingDigest(b: StateBinding): string {
  const entries = Object.keys(b)
    .sort()
    .map((k) => [k, b[k]]);
  return b64url(createHash("sha256").update(JSON.stringify(entries)).digest());
}

/** The secret a gateway uses when none is configured (with a warning by the caller). */
export function generatedStateSecret(): Buffer {
  return randomBytes(32);
}

/**
 * Creates a codec over one secret.
 *
 * @example
 * const codec = createRequestStateCodec({ secret: process.env.STATE_SECRET!, now: Date.now });
 * const token = codec.seal({ binding: { grant: "ci", tool: "deploy" }, data: { step: 2 } }, 300_000);
 * const back = codec.open<{ step: number }>(token, { grant: "ci", tool: "deploy" });
 * if (back.ok) console.log(back.data.step); // 2
 */
export function createRequestStateCodec(opts: RequestStateCodecOptions): RequestStateCodec {
  const key = typeof opts.secret === "string" ? Buffer.from(opts.secret, "utf8") : opts.secret;
  if (key.length < 32) {
    throw new RangeError("request state secret: give at least 32 bytes (e.g. 64 hex characters)");
  }
  const newNonce = opts.newNonce ?? (() => b64url(randomBytes(16)));
  const maxChars = opts.maxTokenChars ?? 1_048_576;
  const mac = (body: string): Buffer => createHmac("sha256", key).update(body).digest();
  return {
    seal(payload, ttlMs) {
      const body = b64url(
        Buffer.from(
          JSON.stringify({
            b: bindingDigest(payload.binding),
            e: opts.now() + ttlMs,
            n: newNonce(),
            d: payload.data,
          }),
          "utf8",
        ),
      );
      return `${PREFIX}${body}.${b64url(mac(PREFIX + body))}`;
    },
    open<T>(token: unknown, expected: StateBinding): OpenedState<T> {
      if (typeof token !== "string" || token.length > maxChars || !token.startsWith(PREFIX)) {
        return { ok: false, reason: "malformed" };
      }
      const parts = token.slice(PREFIX.length).split(".");
      if (parts.length !== 2 || !/^[A-Za-z0-9_-]+$/.test(parts[0]!)) {
        return { ok: false, reason: "malformed" };
      }
      const [body, sig] = parts as [string, string];
      const want = mac(PREFIX + body);
      const got = Buffer.from(sig, "base64url");
      // Compared in constant time, and before anything in the body is trusted.
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        return { ok: false, reason: "bad_signature" };
      }
      let p: { b?: unknown; e?: unknown; n?: unknown; d?: unknown };
      try {
        p = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as typeof p;
      } catch {
        return { ok: false, reason: "malformed" };
      }
      if (typeof p.e !== "number" || typeof p.n !== "string" || typeof p.b !== "string") {
        return { ok: false, reason: "malformed" };
      }
      if (opts.now() >= p.e) return { ok: false, reason: "expired" };
      if (p.b !== bindingDigest(expected)) return { ok: false, reason: "binding_mismatch" };
      return { ok: true, data: p.d as T, nonce: p.n, expiresAt: p.e };
    },
  };
}

/**
 * Spends a token's nonce: true the first time, false for any replay until the token has
 * expired (after which `open` refuses it anyway). Kept in the counter store as a
 * one-unit counter whose window is the token's remaining lifetime, so every instance on
 * a shared Redis store sees the same answer. A store that fails closed refuses (a replay
 * is never let through by an outage); one configured to fail open admits.
 */
export async function spendOnce(
  store: CounterStore,
  nonce: string,
  expiresAt: number,
  now: number,
): Promise<boolean> {
  const spec = {
    key: `toolgate/state-nonce|${nonce}`,
    counter: "toolgate/state-nonce",
    weight: 1,
    max: 1,
    windowMs: Math.max(1, expiresAt - now),
    ruleId: "toolgate/request-state",
  };
  const out = await store.reserve([spec]);
  if (!out.admitted) return false;
  await store.commit(out.reservation);
  return true;
}
