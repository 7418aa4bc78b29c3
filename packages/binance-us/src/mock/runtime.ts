import type { Clock } from "./clock.js";
import type { ResolvedMockOptions } from "./options.js";
import type { MockNotifications } from "./types.js";

/**
 * Masks an API key for logs: the first four characters and the length (only the length
 * for keys shorter than 16 characters, where four characters would give too much away).
 *
 * @example maskApiKey("A".repeat(64)) // "AAAA…(64)"
 */
export function maskApiKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  return key.length < 16 ? `…(${key.length})` : `${key.slice(0, 4)}…(${key.length})`;
}

/**
 * What every part of the exchange shares: the options (mutable at run time through the
 * control API), the clock, tracked timers and the notification listeners.
 */
export class MockRuntime {
  readonly opts: ResolvedMockOptions;
  readonly clock: Clock;
  private readonly timers = new Set<unknown>();
  private readonly listeners = new Map<keyof MockNotifications, Set<(p: never) => void>>();

  constructor(opts: ResolvedMockOptions, clock: Clock) {
    this.opts = opts;
    this.clock = clock;
  }

  /** Arms a timer on the mock's clock; every timer is tracked so close() leaves none. */
  arm(fn: () => void, ms: number): unknown {
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.add(handle);
    return handle;
  }

  /** Cancels a timer from {@link arm}; undefined is ignored. */
  disarm(handle: unknown): void {
    if (handle === undefined) return;
    this.clock.clearTimeout(handle);
    this.timers.delete(handle);
  }

  /** Subscribes to a notification; returns the unsubscribe function. */
  on<K extends keyof MockNotifications>(
    type: K,
    listener: (payload: MockNotifications[K]) => void,
  ): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    const fn = listener as (p: never) => void;
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  /** Calls every listener of `type`; a throwing listener is logged and skipped. */
  emit<K extends keyof MockNotifications>(type: K, payload: MockNotifications[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as (p: MockNotifications[K]) => void)(payload);
      } catch (err) {
        // A throwing test listener must not corrupt the exchange's own bookkeeping.
        this.opts.logger?.warn(
          { type, err: err instanceof Error ? err.message : String(err) },
          "mock listener threw",
        );
      }
    }
  }

  /** Info line through the configured logger, if any. */
  logInfo(fields: Record<string, unknown>, msg: string): void {
    this.opts.logger?.info(fields, msg);
  }

  /** Stops every timer and forgets every listener. */
  shutdown(): void {
    for (const t of [...this.timers]) this.disarm(t);
    this.listeners.clear();
  }
}
