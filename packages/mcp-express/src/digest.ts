import { createHash } from "node:crypto";

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped. Two
 * argument objects that differ only in key order produce the same text, so approvals
 * and audit digests do not depend on how a client happened to serialize.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  const parts: string[] = [];
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(",")}}`;
}

/**
 * `sha256:<hex>` of the canonical JSON of a call's arguments. Binds an approval to the
 * exact call and lets audit logs correlate calls without storing argument values.
 *
 * @example argumentsDigest({ b: 1, a: 2 }) === argumentsDigest({ a: 2, b: 1 })
 */
export function argumentsDigest(args: Readonly<Record<string, unknown>> | undefined): string {
  return `sha256:${createHash("sha256")
    .update(canonicalJson(args ?? {}))
    .digest("hex")}`;
}
