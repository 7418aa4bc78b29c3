import { createHash } from "node:crypto";

/** Keys whose values are treated as secrets wherever arguments are shown to a person. */
export const SECRET_KEY_PATTERN = /key|secret|token|password|passphrase|signature|authorization/i;

/** What a masked value is replaced with. */
export const MASK = "••••••";

/**
 * Returns a deep copy of `value` with every value under a secret-looking key replaced by
 * {@link MASK}. Used before arguments are stored for the approvals page, so secrets never
 * reach the approval store, the browser or a log.
 *
 * @example
 * maskSecrets({ listenKey: "abc", symbol: "BTCUSD" }) // { listenKey: "••••••", symbol: "BTCUSD" }
 */
export function maskSecrets(value: unknown, depth = 0): unknown {
  if (depth > 32) return MASK;
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, depth + 1));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEY_PATTERN.test(k) ? MASK : maskSecrets(v, depth + 1);
    }
    return out;
  }
  return value;
}

/**
 * JSON with object keys sorted at every level, so equal values hash equally. The one
 * mcp-express uses for argument digests, so the gateway and the middleware always agree.
 */
export { canonicalJson } from "@toolgate/mcp-express";

/** `sha256:<hex>` of a string, the form API-key hashes take in the config. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
