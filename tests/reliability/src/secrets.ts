/**
 * Every credential the suite uses, in one place, so the final scan knows exactly which
 * values must never show up in a log line, audit record, metric or error text. Tests
 * must take their keys from here (never inline their own), or the scan cannot see them.
 *
 * The values are long and distinctive on purpose: a scan for a short key would match by
 * accident, and a real leak must not hide behind one.
 */
export const SECRETS = {
  /** Grant "agent": the API key agents present as `Authorization: Bearer ...`. */
  agentKey: "tg-rel-agent-key-7f3c9a1e5b2d4f6a8c0e1b3d5f7a9c2e",
  /** Grant "other": a second grant with its own policy and counters. */
  otherKey: "tg-rel-other-key-2b4d6f8a0c1e3a5c7e9b1d3f5a7c9e0b",
  /** Named approvers "ana" and "ben" (approvals.approvers), for the admin API. */
  approverAna: "tg-rel-approver-ana-3d5f7a9c1e2b4d6f8a0c2e4a6c8e0b1d",
  approverBen: "tg-rel-approver-ben-8c6e4a2f0d9b7c5e3a1f9d7b5c3e1a0f",
  /** The admin API / approvals page token. */
  adminToken: "tg-rel-admin-token-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
  /** Credentials the gateway holds for an HTTP upstream (forwarded upstream, never logged). */
  upstreamToken: "tg-rel-upstream-token-5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f",
  /** The key that signs the MCP 2026 `requestState` the gateways hand out (shared by all). */
  stateSecret: "tg-rel-state-secret-3e5a7c9e1b3d5f7a9c0e2b4d6f8a1c3e",
  /** The Binance.US API key and secret the mock exchange accepts (64 letters/digits each). */
  binanceKey: "RELbinanceKEY0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z",
  binanceSecret: "RELbinanceSECRET9z8y7x6w5v4u3t2s1r0q9p8o7n6m5l4k3j2i1h0g9f8e7d6c",
} as const;

/** The secret values as a list, for scanning. */
export const SECRET_VALUES: readonly string[] = Object.values(SECRETS);

/**
 * Where a secret value occurs in `text`, also in the encodings a leak would take on the
 * way out (URL-encoded, base64, JSON-escaped are all the same here for these alphabets,
 * but base64 is not). Returns the names of the secrets found.
 */
export function findSecrets(text: string, extra: readonly string[] = []): string[] {
  const found: string[] = [];
  const entries: Array<[string, string]> = [
    ...Object.entries(SECRETS),
    ...extra.map((v, i): [string, string] => [`extra[${i}]`, v]),
  ];
  for (const [name, value] of entries) {
    if (value.length < 12) continue;
    const b64 = Buffer.from(value).toString("base64").slice(0, 40);
    // A prefix long enough to identify the key: a log that truncates a key to its first
    // 24 characters has still leaked most of it.
    if (text.includes(value.slice(0, 24)) || text.includes(b64)) found.push(name);
  }
  return found;
}
