import type { CounterSpec, CounterState } from "../contracts.js";
import { PolicyErrorCode, ToolgateError } from "../errors.js";

type PeekSpec = Pick<CounterSpec, "key" | "windowMs" | "max" | "algorithm" | "burst">;

/**
 * Checks specs handed to a store. Specs come from the compiled policy, so a bad one is
 * a bug in the caller, not user input: stores reject loudly instead of degrading.
 * Plain comparisons because it runs on every reservation.
 *
 * @returns the `SPEC_INVALID` error to throw, or `undefined` when every spec is sound.
 */
export function invalidSpec(
  specs: readonly PeekSpec[],
  withWeight: boolean,
): ToolgateError | undefined {
  if (!Array.isArray(specs)) {
    return new ToolgateError(
      PolicyErrorCode.SPEC_INVALID,
      "specs must be an array of counter specs",
    );
  }
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i] as CounterSpec | undefined;
    let problem: string | undefined;
    if (s === undefined || s === null || typeof s !== "object") problem = "must be an object";
    else if (typeof s.key !== "string" || s.key.length === 0)
      problem = "key must be a non-empty string";
    else if (!(s.windowMs > 0) || !Number.isFinite(s.windowMs))
      problem = "windowMs must be a finite number > 0";
    else if (!(s.max >= 0) || !Number.isFinite(s.max)) problem = "max must be a finite number >= 0";
    else if (withWeight && (!(s.weight >= 0) || !Number.isFinite(s.weight)))
      problem = "weight must be a finite number >= 0";
    else if (
      s.algorithm !== undefined &&
      s.algorithm !== "fixed" &&
      s.algorithm !== "sliding" &&
      s.algorithm !== "token_bucket"
    )
      problem = "algorithm must be fixed, sliding or token_bucket";
    else if (s.algorithm === "token_bucket" && !(s.max > 0))
      problem = "max of a token_bucket must be > 0";
    else if (s.burst !== undefined && (!(s.burst > 0) || !Number.isFinite(s.burst)))
      problem = "burst must be a finite number > 0";
    if (problem !== undefined) {
      return new ToolgateError(
        PolicyErrorCode.SPEC_INVALID,
        `specs[${i}]: ${problem} (fix the limit that produced it)`,
        { data: { index: i, key: typeof s?.key === "string" ? s.key : undefined } },
      );
    }
  }
  return undefined;
}

/** A counter's state as every store reports it: `remaining` never goes below 0. */
export function counterState(
  key: string,
  used: number,
  max: number,
  resetAtMs: number,
): CounterState {
  return { key, used, max, remaining: Math.max(0, max - used), resetAtMs };
}

/** The error every store throws when used after `close()`. */
export function storeClosedError(store: string): ToolgateError {
  return new ToolgateError(PolicyErrorCode.STORE_CLOSED, `${store} store is closed`);
}
