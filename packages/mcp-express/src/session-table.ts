import type { Logger, Scheduler } from "./options.js";
import type { ProxySession } from "./session.js";

/** Settings of a {@link SessionTable}. */
export interface SessionTableOptions {
  now: () => number;
  scheduler: Scheduler;
  logger: Logger;
  /** A session with nothing in flight and no GET stream is closed after this long. */
  idleMs: number;
  /** Open sessions (and initializes under way) one grant may have. */
  maxPerGrant: number;
}

/**
 * The live client sessions: lookup, the per-grant cap (making room by closing the least
 * recently used idle session), the idle sweep and the drain on shutdown.
 */
export class SessionTable {
  private readonly sessions = new Map<string, ProxySession>();
  /** Initializes under way per grant: they count against the session cap too. */
  private readonly initializing = new Map<string, number>();
  private sweepTimer: unknown;
  private drainWaiters: Array<() => void> = [];

  constructor(private readonly opts: SessionTableOptions) {}

  get(id: string): ProxySession | undefined {
    return this.sessions.get(id);
  }
  add(s: ProxySession): void {
    this.sessions.set(s.id, s);
  }
  /** Forgets `s` (only if it is the session registered under its id). */
  remove(s: ProxySession): void {
    if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
  }
  values(): IterableIterator<ProxySession> {
    return this.sessions.values();
  }

  /** Open sessions of a grant right now. */
  countOf(grant: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.grant === grant) n++;
    return n;
  }

  /** Client requests being processed in every session (held calls included). */
  inFlight(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.inFlight;
    return n;
  }

  /** Counts an initialize of `grant` against its cap until `done` is called. */
  beginInitialize(grant: string): () => void {
    this.initializing.set(grant, (this.initializing.get(grant) ?? 0) + 1);
    return () => {
      const left = (this.initializing.get(grant) ?? 1) - 1;
      if (left > 0) this.initializing.set(grant, left);
      else this.initializing.delete(grant);
    };
  }

  /**
   * Keeps a grant under its cap before it opens one more: closes its least recently used
   * idle session (nothing in flight) when it is at the cap. False when every session is
   * busy, so the new one must be refused.
   */
  makeRoomFor(grant: string): boolean {
    let open = this.initializing.get(grant) ?? 0;
    let oldest: ProxySession | undefined;
    for (const s of this.sessions.values()) {
      if (s.grant !== grant) continue;
      open++;
      if (s.inFlight === 0 && (!oldest || s.lastSeen < oldest.lastSeen)) oldest = s;
    }
    const cap = this.opts.maxPerGrant;
    if (open < cap) return true;
    if (!oldest) return false;
    this.sessions.delete(oldest.id);
    this.opts.logger.info?.(
      { grant, session: oldest.id, cap },
      "session cap reached; closed the least recently used idle session",
    );
    void oldest.close();
    return true;
  }

  /** Starts the idle sweep, often enough that an idle session outlives its limit by at most a minute. */
  startSweep(): void {
    const every = Math.min(this.opts.idleMs, 60_000);
    const sweep = (): void => {
      const t = this.opts.now();
      for (const s of this.sessions.values()) {
        if (s.inFlight === 0 && !s.streams.hasStandalone && t - s.lastSeen > this.opts.idleMs) {
          this.sessions.delete(s.id);
          void s.close();
        }
      }
      this.sweepTimer = this.opts.scheduler.setTimeout(sweep, every);
    };
    this.sweepTimer = this.opts.scheduler.setTimeout(sweep, every);
  }

  /** A request finished somewhere: wakes a drain waiting for the last one. */
  slotDone(): void {
    if (this.drainWaiters.length > 0 && this.inFlight() === 0) {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const f of w) f();
    }
  }

  /** Stops the sweep, waits up to `graceMs` for in-flight requests, then closes every session. */
  async close(graceMs: number): Promise<void> {
    const { scheduler } = this.opts;
    if (this.sweepTimer !== undefined) scheduler.clearTimeout(this.sweepTimer);
    if (this.inFlight() > 0) {
      await new Promise<void>((resolve) => {
        const t = scheduler.setTimeout(resolve, graceMs);
        this.drainWaiters.push(() => {
          scheduler.clearTimeout(t);
          resolve();
        });
      });
    }
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.close()));
  }
}
