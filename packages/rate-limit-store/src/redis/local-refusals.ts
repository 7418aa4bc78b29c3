import {
  type CounterSpec,
  counterState,
  type ReserveOutcome,
  type Tally,
} from "@toolgate/policy-engine";

interface LocalMark {
  /** Units Redis reported before the refused call: a lower bound until a rollback. */
  used: number;
  resetAt: number;
  /** Trust the mark until then (window end, capped by localRefusalMaxMs). */
  until: number;
}

const MAX_LOCAL_MARKS = 10_000;

/**
 * Keys Redis refused, remembered in process so a hot full key is refused without a
 * round trip. A mark is a lower bound of the key's count, so it never admits anything
 * Redis would refuse; it is trusted at most `maxMs` (bounding how long a rollback on
 * another instance goes unseen) and never past the window's end.
 */
export class LocalRefusals {
  readonly #marks = new Map<string, LocalMark>();
  readonly #maxMs: number;
  readonly #tally: Tally;

  constructor(maxMs: number, tally: Tally) {
    this.#maxMs = maxMs;
    this.#tally = tally;
  }

  get size(): number {
    return this.#marks.size;
  }

  /** The refusal of a call one of whose keys is marked full, or `undefined`. */
  refusal(specs: readonly CounterSpec[], t: number): ReserveOutcome | undefined {
    if (this.#marks.size === 0) return undefined;
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      const m = this.#marks.get(s.key);
      if (m === undefined) continue;
      if (m.until <= t) {
        this.#marks.delete(s.key);
        continue;
      }
      if (m.used + s.weight > s.max) {
        this.#tally.refused++;
        this.#tally.localRefusals++;
        return {
          admitted: false,
          blockedBy: i,
          retryAfterMs: Math.max(0, m.resetAt - t),
          // Only the refusing counter is known without asking Redis.
          counters: [counterState(s.key, m.used, s.max, m.resetAt)],
        };
      }
    }
    return undefined;
  }

  /** Marks `key` as holding `used` units for `pttl` more ms (as Redis said at `t`). */
  remember(key: string, used: number, pttl: number, t: number): void {
    if (this.#maxMs === 0 || pttl <= 0) return;
    const marks = this.#marks;
    if (marks.size >= MAX_LOCAL_MARKS) {
      for (const [k, m] of marks) if (m.until <= t) marks.delete(k);
      if (marks.size >= MAX_LOCAL_MARKS) marks.clear();
    }
    marks.set(key, { used, resetAt: t + pttl, until: t + Math.min(pttl, this.#maxMs) });
  }

  forget(key: string): void {
    this.#marks.delete(key);
  }

  clear(): void {
    this.#marks.clear();
  }
}
