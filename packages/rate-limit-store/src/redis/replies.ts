/**
 * Script replies to outcomes. Kept apart from the backend so the hot path reads as
 * send → parse; the layouts are documented at each script (lua.ts, lua-smooth.ts).
 */
import {
  type CounterReservation,
  type CounterSpec,
  type CounterState,
  counterState,
  isFixed,
  type PeekSpec,
  type ReserveOutcome,
} from "@toolgate/policy-engine";
import type { LocalRefusals } from "./local-refusals.js";
import type { Reply } from "./sender.js";

type Counter = CounterReservation["counters"][number];

/** A fixed-window reserve script's admission: {1, used_1, expiretime_1, ...}. */
export function fixedAdmitted(
  specs: readonly CounterSpec[],
  reply: Reply,
  id: string,
): ReserveOutcome {
  const n = specs.length;
  const counters: Counter[] = new Array(n);
  const states: CounterState[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const s = specs[i]!;
    const used = Number(reply[1 + 2 * i]);
    const resetAtMs = Number(reply[2 + 2 * i]);
    counters[i] = { key: s.key, weight: s.weight, resetAtMs, windowMs: s.windowMs };
    states[i] = counterState(s.key, used, s.max, resetAtMs);
  }
  return { admitted: true, reservation: { id, counters }, counters: states };
}

/**
 * A fixed-window reserve script's refusal: {0, blockedIndex0, used_1, pttl_1, ...}. The
 * refusing key is remembered in `local`, counted from `t0` (when the call was sent:
 * Redis read the PTTL somewhere in between, so the mark ends no later than the window).
 */
export function fixedRefused(
  specs: readonly CounterSpec[],
  reply: Reply,
  t: number,
  t0: number,
  local: LocalRefusals,
): ReserveOutcome {
  const blockedBy = Number(reply[1]);
  const states: CounterState[] = new Array(specs.length);
  let retryAfterMs = 0;
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i]!;
    const used = Number(reply[2 + 2 * i]);
    const pttl = Number(reply[3 + 2 * i]);
    states[i] = counterState(s.key, used, s.max, pttl > 0 ? t + pttl : t + s.windowMs);
    if (i === blockedBy) {
      // A weight larger than max never fits; report the window length as a hint.
      retryAfterMs = pttl > 0 ? pttl : s.windowMs;
      local.remember(s.key, used, pttl, t0);
    }
  }
  return { admitted: false, blockedBy, retryAfterMs, counters: states };
}

/** A counter state from a smooth script's `used, resetIn` pair. */
export function smoothState(
  s: PeekSpec,
  u: string | number,
  r: string | number,
  t: number,
): CounterState {
  const max = s.algorithm === "token_bucket" ? (s.burst ?? s.max) : s.max;
  const resetIn = Number(r);
  return resetIn > 0
    ? counterState(s.key, Number(u), max, t + resetIn)
    : counterState(s.key, 0, max, isFixed(s) ? t + s.windowMs : t);
}

/**
 * The part of a one-sliding-limit log entry after its time, `|weight|id.0` (the weight
 * as sent, `String(weight)`): SLIDING_ONE_LUA stores Redis's time plus this, and the
 * token a rollback removes is the same string.
 */
export function slidingSuffix(weight: string, id: string): string {
  return `|${weight}|${id}.0`;
}

/**
 * SLIDING_ONE_LUA's admission, {1, used, t}: `t` is Redis's clock as an exact decimal
 * string, so `Number` gives back the script's double; the token (`t` + the suffix, empty
 * for weight 0: no entry) and resetAt (`t + windowMs`, `t` for weight 0) are built here,
 * the same values the previous release's script returned.
 */
export function slidingOneAdmitted(s: CounterSpec, reply: Reply, id: string): ReserveOutcome {
  const ts = String(reply[2]);
  const t = Number(ts);
  const w = s.weight;
  const resetAtMs = w === 0 ? t : t + Math.ceil(s.windowMs);
  const counter: Counter = {
    key: s.key,
    weight: w,
    resetAtMs,
    windowMs: s.windowMs,
    algorithm: "sliding",
    token: w === 0 ? "" : ts + slidingSuffix(String(w), id),
  };
  return {
    admitted: true,
    reservation: { id, counters: [counter] },
    counters: [counterState(s.key, Number(reply[1]), s.max, resetAtMs)],
  };
}

/** A smooth reserve script's reply (a call with sliding or token-bucket limits). */
export function smoothOutcome(
  specs: readonly CounterSpec[],
  reply: Reply,
  id: string,
  t: number,
): ReserveOutcome {
  const n = specs.length;
  if (reply[0] === 1) {
    const counters: Counter[] = new Array(n);
    const states: CounterState[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      const used = Number(reply[1 + 3 * i]);
      const resetAtMs = Number(reply[2 + 3 * i]);
      const token = String(reply[3 + 3 * i]);
      counters[i] = {
        key: s.key,
        weight: s.weight,
        resetAtMs,
        windowMs: s.windowMs,
        ...(!isFixed(s) && { algorithm: s.algorithm, token }),
      };
      // resetAt is on the Redis clock; states report it on ours.
      const max = s.algorithm === "token_bucket" ? (s.burst ?? s.max) : s.max;
      states[i] = counterState(s.key, used, max, resetAtMs);
    }
    return { admitted: true, reservation: { id, counters }, counters: states };
  }
  const blockedBy = Number(reply[1]);
  const retryAfterMs = Math.max(0, Number(reply[2]));
  const states = specs.map((s, i) => smoothState(s, reply[3 + 2 * i]!, reply[4 + 2 * i]!, t));
  return { admitted: false, blockedBy, retryAfterMs, counters: states };
}
