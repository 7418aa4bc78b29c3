import * as crypto from "node:crypto";

/**
 * Argument *names* that hold credentials whatever the tool: API keys and secrets, private
 * keys, passwords, bearer and refresh tokens, Binance listen keys. Deliberately narrow:
 * `tokenAddress`, `recipient_public_key` or `signature_override` are what an approver
 * must read, so a name merely containing "key" or "token" is not masked.
 */
export const SECRET_KEY_PATTERN =
  /^(?:api[_-]?(?:key|secret)|secret(?:[_-]?key)?|client[_-]?secret|private[_-]?key|secret[_-]?access[_-]?key|password|passwd|passphrase|authorization|bearer|(?:access|refresh|auth|session|bearer)[_-]?token|listen[_-]?key|mnemonic|seed[_-]?phrase)$/i;

/**
 * Argument *values* that are credentials by their shape, wherever they appear: bearer
 * headers, PEM private keys, well-known API key formats, Binance API and listen keys
 * (60 or 64 characters of mixed-case letters and digits).
 */
const SECRET_VALUE_DETECTORS: ReadonlyArray<{ readonly name: string; readonly re: RegExp }> = [
  { name: "bearer token", re: /^\s*bearer\s+\S{8,}/i },
  { name: "private key", re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  { name: "api key", re: /^(?:sk|pk|rk)[-_](?:live|test|proj|ant)?[-_]?[A-Za-z0-9_-]{16,}$/ },
  { name: "api key", re: /^(?:AKIA|ASIA)[0-9A-Z]{16}$/ },
  { name: "api key", re: /^(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{20,}$/ },
  { name: "api key", re: /^xox[abposr]-[A-Za-z0-9-]{10,}$/ },
  {
    name: "binance key",
    re: /^(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])(?=[A-Za-z0-9]*[0-9])(?:[A-Za-z0-9]{60}|[A-Za-z0-9]{64})$/,
  },
];

/** What a masked value is replaced with; the reason follows it, e.g. `••••••(masked: api key)`. */
export const MASK = "••••••";

/** The arguments as an approver sees them, and which paths were masked. */
export interface MaskedArguments {
  readonly arguments: Record<string, unknown>;
  /** `args.<path>` of every masked value, so the page can say something is hidden. */
  readonly masked: readonly string[];
}

/**
 * Prepares arguments for a person to approve: the full values, except those at a path the
 * policy or config names as secret (`args.a.b`, `*` for any one key or index) and those
 * a built-in detector recognises as credentials (by argument name or by value). Each
 * masked value becomes `••••••(masked: <why>)` and its path is listed in `masked`, so
 * the approver knows something is hidden. Secrets never reach the approval store, the
 * browser, an elicitation message or a log.
 *
 * @example
 * maskForApprover({ to: "0xabc", apiSecret: "s" }, []).arguments
 * // { to: "0xabc", apiSecret: "••••••(masked: credential name)" }
 */
export function maskForApprover(
  args: Record<string, unknown>,
  secretPaths: readonly string[],
): MaskedArguments {
  const patterns = secretPaths.map((p) => p.split(".").slice(1));
  const masked: string[] = [];
  const walk = (value: unknown, path: string[], depth: number): unknown => {
    const at = `args${path.map((p) => `.${p}`).join("")}`;
    if (depth > 32) {
      masked.push(at);
      return `${MASK}(masked: nested too deep)`;
    }
    if (path.length > 0 && patterns.some((p) => pathMatches(p, path))) {
      masked.push(at);
      return `${MASK}(masked: secret by policy)`;
    }
    const name = path.at(-1);
    if (name !== undefined && SECRET_KEY_PATTERN.test(name) && value !== null && value !== "") {
      masked.push(at);
      return `${MASK}(masked: credential name)`;
    }
    if (typeof value === "string") {
      const hit = SECRET_VALUE_DETECTORS.find((d) => d.re.test(value));
      if (hit) {
        masked.push(at);
        return `${MASK}(masked: looks like a ${hit.name})`;
      }
      return value;
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, String(i)], depth + 1));
    if (value !== null && typeof value === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        out[k] = walk(v, [...path, k], depth + 1);
      }
      return out;
    }
    return value;
  };
  const out = walk(args, [], 0) as Record<string, unknown>;
  return { arguments: out, masked };
}

function pathMatches(pattern: readonly string[], path: readonly string[]): boolean {
  if (pattern.length !== path.length) return false;
  return pattern.every((seg, i) => seg === "*" || seg === path[i]);
}

/**
 * Masks credentials in a value for display (see {@link maskForApprover}); kept for
 * callers that have no secret paths.
 */
export function maskSecrets(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return maskForApprover({ value }, []).arguments.value;
  }
  return maskForApprover(value as Record<string, unknown>, []).arguments;
}

/**
 * JSON with object keys sorted at every level, so equal values hash equally: the
 * policy engine's seam, the one definition every package hashes with.
 */
export { canonicalJson } from "@toolgate/policy-engine";

// One native call per digest where Node has the one-shot `crypto.hash` (20.12 and
// later): no Hash object, no separate update and digest. It runs per call (the API key,
// the audit chain); older Node 20 releases use createHash.
const oneShotHash = (crypto as Partial<typeof crypto>).hash;

/** The sha256 hex digest of a string (API-key hashes in the config, the audit chain). */
export function sha256Hex(text: string): string {
  return oneShotHash !== undefined
    ? oneShotHash("sha256", text, "hex")
    : crypto.createHash("sha256").update(text).digest("hex");
}
