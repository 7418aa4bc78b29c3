import { z } from "zod";

/**
 * The time seam: epoch milliseconds, like `Date.now`. Every piece of Toolgate that
 * reads time takes one, so tests drive time with a fake clock instead of sleeping.
 *
 * @example
 * let t = 0; const clock: Clock = () => t; t += 1_000;
 */
export type Clock = () => number;

/** The real clock. */
export const systemClock: Clock = Date.now;

/**
 * The timer seam, shaped like `setTimeout`/`clearTimeout`, injected wherever something
 * happens later (sweeps, hold ceilings, reconnect backoff, approval timeouts) so tests
 * run under fake time in milliseconds.
 */
export interface Scheduler {
  /** Runs `fn` once after `ms`; returns a handle for {@link Scheduler.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer; unknown or fired handles are ignored. */
  clearTimeout(handle: unknown): void;
}

/**
 * The real timers, unref'd: a pending sweep or timeout never keeps the process alive,
 * so a library user's script exits when its own work is done.
 */
export const realScheduler: Scheduler = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/** A zod schema for a function option; the message says what the function must do. */
export const fnSchema = <T>(what: string) =>
  z.custom<T>((v) => typeof v === "function", { message: `must be a function (${what})` });

/** Zod schema of a {@link Clock} option. */
export const clockSchema = fnSchema<Clock>("a clock returning epoch ms");

/** Zod schema of a {@link Scheduler} option. */
export const schedulerSchema = z.custom<Scheduler>(
  (v) =>
    typeof v === "object" &&
    v !== null &&
    typeof (v as Scheduler).setTimeout === "function" &&
    typeof (v as Scheduler).clearTimeout === "function",
  { message: "must be an object with setTimeout(fn, ms) and clearTimeout(handle)" },
);
