import { setImmediate as realSetImmediate } from "node:timers";

/**
 * The smallest timer surface the mock (and a connector that wants to share its fake time)
 * needs. Handles are opaque so both Node's real timers and {@link createMockClock} fit.
 *
 * @example
 * const scheduler: Scheduler = { setTimeout, clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
 */
export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * A wall clock plus a scheduler. The mock reads time only through `now()` and arms timers
 * only through `setTimeout`, so a fake implementation can move 24 hours in a millisecond.
 */
export interface Clock extends Scheduler {
  now(): number;
}

/**
 * A deterministic clock for tests. Time stands still until {@link MockClock.advance} moves it;
 * due timers then fire in time order (ties in the order they were armed), and pending
 * promise callbacks and one turn of real I/O run between two timers so that code awaiting a
 * timer's side effect sees it before the next timer fires.
 */
export interface MockClock extends Clock {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): Promise<void>;
  /** Moves time to the absolute instant `atMs` (no-op when it is in the past). */
  advanceTo(atMs: number): Promise<void>;
  /** Number of armed timers (intervals count once). Handy for "nothing left behind" checks. */
  pending(): number;
}

interface FakeTimer {
  readonly id: number;
  at: number;
  readonly seq: number;
  readonly fn: () => void;
  readonly every: number | undefined;
}

/** Opaque handle returned by {@link MockClock} timer methods. */
export interface MockTimerHandle {
  readonly mockTimerId: number;
}

function isMockHandle(h: unknown): h is MockTimerHandle {
  return (
    typeof h === "object" && h !== null && typeof (h as MockTimerHandle).mockTimerId === "number"
  );
}

/** Yields to the event loop once: drains microtasks and lets already-arrived socket data in. */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

/**
 * Creates a fake clock starting at `startMs` (default 2026-01-01T00:00:00Z).
 *
 * Uses Node's real `setImmediate` (imported from `node:timers`, so Vitest's fake timers do
 * not capture it) to let I/O run between timers.
 *
 * @example
 * const clock = createMockClock();
 * const mock = await startBinanceUsMock({ clock });
 * await clock.advance(61 * 60_000); // the listen key is gone now
 */
export function createMockClock(startMs: number = Date.UTC(2026, 0, 1)): MockClock {
  let now = startMs;
  let nextId = 1;
  let seq = 0;
  const timers = new Map<number, FakeTimer>();

  const arm = (fn: () => void, ms: number, every: number | undefined): MockTimerHandle => {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const id = nextId++;
    timers.set(id, { id, at: now + delay, seq: seq++, fn, every });
    return { mockTimerId: id };
  };
  const disarm = (h: unknown): void => {
    if (isMockHandle(h)) timers.delete(h.mockTimerId);
  };

  const nextDue = (limit: number): FakeTimer | undefined => {
    let best: FakeTimer | undefined;
    for (const t of timers.values()) {
      if (t.at > limit) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  };

  const advanceTo = async (target: number): Promise<void> => {
    await yieldToLoop();
    for (;;) {
      const t = nextDue(target);
      if (!t) break;
      now = Math.max(now, t.at);
      if (t.every === undefined) {
        timers.delete(t.id);
      } else {
        // Re-arm before running so the callback may clear its own interval.
        timers.delete(t.id);
        timers.set(t.id, { ...t, at: t.at + Math.max(1, t.every), seq: seq++ });
      }
      t.fn();
      await yieldToLoop();
    }
    now = Math.max(now, target);
    await yieldToLoop();
  };

  return {
    now: () => now,
    setTimeout: (fn, ms) => arm(fn, ms, undefined),
    clearTimeout: disarm,
    setInterval: (fn, ms) => arm(fn, ms, ms),
    clearInterval: disarm,
    advance: (ms) => advanceTo(now + Math.max(0, ms)),
    advanceTo: (atMs) => advanceTo(Math.max(now, atMs)),
    pending: () => timers.size,
  };
}

/**
 * The real clock: `Date.now` and Node timers. Timers are `unref`'d so a forgotten mock never
 * keeps a process alive on its own (the HTTP server does that while it listens).
 */
export function createRealClock(): Clock {
  return {
    now: () => Date.now(),
    setTimeout: (fn, ms) => {
      const t = setTimeout(fn, ms);
      t.unref();
      return t;
    },
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  };
}
