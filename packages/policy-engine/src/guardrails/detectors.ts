/**
 * Built-in secret detectors for result redaction. Each finds the secret part of a match
 * (e.g. the token after `Bearer `), so the redaction keeps the context a model needs
 * ("Authorization: Bearer [REDACTED:bearer]") and removes only the credential.
 */

/** Names of the built-in detectors, as written in `results.redact`. */
export const DETECTORS = [
  "bearer",
  "api_token",
  "private_key",
  "jwt",
  "binance_api_key",
  "binance_listen_key",
  "card_number",
] as const;
/** A built-in detector name. */
export type DetectorName = (typeof DETECTORS)[number];

/** Luhn checksum of a digit string (card numbers). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

const MIXED_ALNUM = (n: string) =>
  `(?=[A-Za-z0-9]*[A-Z])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[0-9])[A-Za-z0-9]{${n}}`;

/**
 * Per detector: a global regex and which group holds the secret (0 = whole match).
 * The Binance patterns require mixed case and digits, so hex digests (lower-case
 * only, like the pins themselves) are not mistaken for keys.
 */
const PATTERNS: Readonly<Record<DetectorName, { re: RegExp; group: number }>> = {
  bearer: { re: /\bBearer\s+([A-Za-z0-9\-._~+/]{8,}=*)/g, group: 1 },
  api_token: {
    re: /\b(?:sk-(?:live-|test-|proj-)?[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,})/g,
    group: 0,
  },
  private_key: {
    re: /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g,
    group: 0,
  },
  jwt: { re: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, group: 0 },
  binance_listen_key: {
    re: new RegExp(
      `listen_?key\\\\?["']?\\s*[:=]\\s*\\\\?["']?(${MIXED_ALNUM("60,64")})(?![A-Za-z0-9])`,
      "gi",
    ),
    group: 1,
  },
  binance_api_key: {
    re: new RegExp(`(?<![A-Za-z0-9])${MIXED_ALNUM("64")}(?![A-Za-z0-9])`, "g"),
    group: 0,
  },
  card_number: { re: /(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])/g, group: 0 },
};

/** Whether a detector's candidate is really a secret (the Luhn check for cards). */
function accept(name: DetectorName, candidate: string): boolean {
  if (name !== "card_number") return true;
  const digits = candidate.replace(/[ -]/g, "");
  return digits.length >= 13 && digits.length <= 19 && luhnValid(digits);
}

/**
 * Every secret `name` finds in `text`, as the exact substrings to redact.
 *
 * @example findSecrets("jwt", "token eyJhbGciOi.eyJzdWIiOi.sig") // ["eyJhbGciOi.eyJzdWIiOi.sig"]
 */
export function findSecrets(name: DetectorName, text: string): string[] {
  const { re, group } = PATTERNS[name];
  const out: string[] = [];
  re.lastIndex = 0;
  for (const m of text.matchAll(re)) {
    const s = m[group];
    if (s !== undefined && s.length > 0 && accept(name, s)) out.push(s);
  }
  return out;
}

/**
 * A structured value under a key that names a listen key (`listenKey`, `listen_key`)
 * is one, whatever the surrounding text looks like.
 */
export function isListenKeyField(key: string | undefined, value: string): boolean {
  return (
    key !== undefined &&
    /^listen_?key$/i.test(key) &&
    new RegExp(`^${MIXED_ALNUM("60,64")}$`).test(value)
  );
}
