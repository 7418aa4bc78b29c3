import { canonicalJson, sha256Hex } from "@toolgate/policy-engine";

// One canonical form for the whole project: the engine's (policy versions) and this
// package's (argument digests, approval bindings) must never drift apart.
export { canonicalJson };

/**
 * `sha256:<hex>` of the canonical JSON of a call's arguments. Binds an approval to the
 * exact call and lets audit logs correlate calls without storing argument values.
 *
 * @example argumentsDigest({ b: 1, a: 2 }) === argumentsDigest({ a: 2, b: 1 })
 */
export function argumentsDigest(args: Readonly<Record<string, unknown>> | undefined): string {
  return `sha256:${sha256Hex(canonicalJson(args ?? {}))}`;
}
