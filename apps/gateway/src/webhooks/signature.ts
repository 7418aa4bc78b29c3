import { createHmac, timingSafeEqual } from "node:crypto";

/** The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = "toolgate-signature";

/** Default window a receiver accepts a signature's timestamp in: 5 minutes either way. */
export const DEFAULT_TOLERANCE_MS = 5 * 60_000;

function hmacHex(secret: string, timestamp: number, body: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

/**
 * The `Toolgate-Signature` value for a body sent at `nowMs`: HMAC-SHA256 with the
 * webhook's secret over `<unix seconds>.<raw body>`. Signing the time with the body
 * is what lets a receiver refuse an old request replayed later.
 *
 * @example
 * signWebhook(secret, body, Date.now()) // "t=1764763200,v1=5f2b…"
 */
export function signWebhook(secret: string, body: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

/** What {@link verifyWebhookSignature} concluded. */
export type SignatureCheck =
  | { readonly ok: true; readonly timestampMs: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Checks a received webhook: the signature header against the raw body bytes (before
 * any JSON parsing), in constant time, and that its timestamp is within `toleranceMs` of
 * `now`. A receiver should also remember the `Toolgate-Delivery` ids it accepted within
 * the tolerance window and refuse a repeat: together they stop replays.
 *
 * @example
 * const check = verifyWebhookSignature({ secret, header: req.headers["toolgate-signature"], body: rawBody });
 * if (!check.ok) return res.status(401).end();
 */
export function verifyWebhookSignature(options: {
  readonly secret: string;
  readonly header: string | undefined;
  readonly body: string;
  readonly now?: number;
  readonly toleranceMs?: number;
}): SignatureCheck {
  const m = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(options.header ?? "");
  if (m === null) return { ok: false, reason: "missing or malformed signature header" };
  const t = Number(m[1]);
  const now = options.now ?? Date.now();
  if (Math.abs(now - t * 1000) > (options.toleranceMs ?? DEFAULT_TOLERANCE_MS)) {
    return { ok: false, reason: "timestamp outside the tolerance window (replayed or clock skew)" };
  }
  const expected = Buffer.from(hmacHex(options.secret, t, options.body), "hex");
  const given = Buffer.from(m[2] as string, "hex");
  if (!timingSafeEqual(expected, given)) return { ok: false, reason: "signature mismatch" };
  return { ok: true, timestampMs: t * 1000 };
}
