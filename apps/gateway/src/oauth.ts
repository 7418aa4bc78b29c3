import type { PolicyHolder } from "@toolgate/policy-engine";
import type { ResolvedOAuth } from "./config.js";

/**
 * The policy a verified token gets under `auth.oauth`: the first `policies` entry whose
 * claim matches (a string, number or boolean claim equal to `value`, or a list claim
 * containing it), else the fallback `policy`, else none (the client is refused with 403
 * "no policy"). Claims are the verified token's, so a client cannot pick its own policy.
 *
 * @example
 * const choose = oauthPolicyChooser(loaded.oauth, holdersByPath);
 * choose({ role: "trader" }); // the holder of policies/trader.yaml
 */
export function oauthPolicyChooser(
  oauth: ResolvedOAuth,
  holders: ReadonlyMap<string, PolicyHolder>,
): (claims: Readonly<Record<string, unknown>>) => PolicyHolder | undefined {
  const rules = oauth.policies.map((p) => ({ ...p, holder: holders.get(p.policyPath) }));
  const fallback = oauth.policyPath ? holders.get(oauth.policyPath) : undefined;
  return (claims) => {
    for (const r of rules) {
      const v = Object.hasOwn(claims, r.claim) ? claims[r.claim] : undefined;
      if (v === r.value || (Array.isArray(v) && v.includes(r.value))) return r.holder;
    }
    return fallback;
  };
}
