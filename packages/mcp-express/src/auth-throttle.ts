/** Settings of {@link AuthThrottle}. */
export interface AuthThrottleOptions {
  /** Failed attempts an address may make before it is slowed down. Default 10. */
  readonly freeFailures?: number;
  /** First wait once the free failures are used up; doubles per further failure. Default 1000. */
  readonly baseMs?: number;
  /** Longest wait, however many failures. Default 60000. */
  readonly maxMs?: number;
  /** An address with no failure for this long starts over. Default 15 minutes. */
  readonly forgetMs?: number;
  /** Addresses tracked at once; the least recently failed is forgotten first. Default 10000. */
  readonly maxAddresses?: number;
  /** Clock (epoch ms). Default `Date.now`. */
  readonly now?: () => number;
}

interface Entry {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
}

/**
 * Slows down guessing of credentials (API keys, the admin token), per client address:
 * the first `freeFailures` wrong credentials are answered as usual, after that each
 * further failure blocks the address for an exponentially growing time (capped at
 * `maxMs`), during which every request from it is answered 429 with `Retry-After`
 * before its credential is even looked at, so a blocked guess tells the attacker nothing.
 *
 * Real users are not locked out: the block is per address (an attacker elsewhere cannot
 * block anyone else), it never exceeds `maxMs`, and a correct credential from an address
 * that is not blocked clears its record. Memory is bounded by `maxAddresses`.
 *
 * @example
 * const throttle = new AuthThrottle({ freeFailures: 10 });
 * const wait = throttle.blockedFor(addr);
 * if (wait > 0) return reply429(Math.ceil(wait / 1000));
 * if (!valid) throttle.failed(addr); else throttle.succeeded(addr);
 */
export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly free: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly forgetMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;

  constructor(options: AuthThrottleOptions = {}) {
    this.free = options.freeFailures ?? 10;
    this.baseMs = options.baseMs ?? 1000;
    this.maxMs = options.maxMs ?? 60_000;
    this.forgetMs = options.forgetMs ?? 15 * 60_000;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Milliseconds the address must still wait; 0 when it may try now. */
  blockedFor(address: string): number {
    const e = this.entries.get(address);
    if (!e) return 0;
    const t = this.now();
    if (t - e.lastFailure > this.forgetMs) {
      this.entries.delete(address);
      return 0;
    }
    return Math.max(0, e.blockedUntil - t);
  }

  /** Records a failed authentication; returns the wait it now imposes (0 while free). */
  failed(address: string): number {
    const t = this.now();
    let e = this.entries.get(address);
    if (e && t - e.lastFailure > this.forgetMs) e = undefined;
    if (!e) e = { failures: 0, lastFailure: t, blockedUntil: 0 };
    // Re-inserted so the map's order is least recently failed first (eviction order).
    this.entries.delete(address);
    e.failures++;
    e.lastFailure = t;
    const over = e.failures - this.free;
    const wait = over > 0 ? Math.min(this.maxMs, this.baseMs * 2 ** Math.min(over - 1, 30)) : 0;
    e.blockedUntil = t + wait;
    this.entries.set(address, e);
    if (this.entries.size > this.maxAddresses) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return wait;
  }

  /** A correct credential: the address starts over. */
  succeeded(address: string): void {
    if (this.entries.size > 0) this.entries.delete(address);
  }

  /** Addresses currently tracked (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }
}
