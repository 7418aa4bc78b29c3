/**
 * Fixed-point amounts with 8 decimals as bigint, so the matching engine's balances never
 * drift the way binary floats do ("0.1" + "0.2"). Wire amounts stay decimal strings.
 */

const SCALE = 100_000_000n;

/** Parses a decimal string ("1.5", "-0.00000001") into 1e-8 units; undefined if malformed. */
export function toUnits(text: string): bigint | undefined {
  const m = /^(-?)(\d+)(?:\.(\d{1,8})\d*)?$/.exec(text.trim());
  if (!m) return undefined;
  const frac = (m[3] ?? "").padEnd(8, "0");
  const units = BigInt(m[2]!) * SCALE + BigInt(frac);
  return m[1] === "-" ? -units : units;
}

/** True when the string has more than 8 decimals of non-zero precision. */
export function overPrecision(text: string): boolean {
  const m = /\.(\d+)$/.exec(text.trim());
  return m !== null && m[1]!.length > 8 && /[1-9]/.test(m[1]!.slice(8));
}

/** Formats 1e-8 units as the exchange does: always 8 decimals. */
export function fromUnits(units: bigint): string {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const whole = abs / SCALE;
  const frac = (abs % SCALE).toString().padStart(8, "0");
  return `${neg ? "-" : ""}${whole}.${frac}`;
}

/** `a × b` for two unit amounts (price × quantity), rounded down to 1e-8. */
export function mulUnits(a: bigint, b: bigint): bigint {
  return (a * b) / SCALE;
}

/** `a × rate` where the rate is a unit amount (e.g. commission 0.001). */
export const applyRate = mulUnits;

/** The smaller of two amounts. */
export function minUnits(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
