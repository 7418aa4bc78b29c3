/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped
 * (and `undefined` array items written as `null`, as `JSON.stringify` does). Two values
 * that differ only in key order produce the same text, so policy versions, approval
 * bindings and audit digests do not depend on how a client happened to serialize.
 *
 * @example canonicalJson({ b: 1, a: [2, undefined] }) === '{"a":[2,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) {
    return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  }
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(",")}}`;
}
