/**
 * The upstream sessions the 2026 front holds for its stateless callers: one per grant
 * and subject, opened on first use with a 2025 `initialize` (so every existing upstream
 * serves 2026 clients), closed when idle, and capped in number so a flood of subjects
 * cannot make the gateway hold unbounded upstream connections.
 */

import { ClientStreams } from "../client-streams.js";
import type { Identity } from "../engine.js";
import type { FrontContext } from "../front/context.js";
import type { Scheduler } from "../options.js";
import { ProxySession } from "../session.js";
import type { Connected } from "../upstream-pool.js";
import { TOOLGATE_VERSION } from "../version.js";

/** The `initialize` the gateway sends upstream for a held session. */
const HELD_INIT = {
  protocolVersion: "2025-11-25",
  capabilities: {},
  clientInfo: { name: "toolgate", version: TOOLGATE_VERSION },
};

/** A held upstream session and the upstreams' `initialize` answers behind it. */
export interface Held {
  readonly session: ProxySession;
  readonly results: Connected;
}

/** Limits of the held sessions. */
export interface HeldLimits {
  /** A held session without a request for this long is closed (ms). */
  readonly idleMs: number;
  /** Most held sessions at once; an idle one is closed to make room, else the caller is refused. */
  readonly max: number;
  readonly scheduler: Scheduler;
}

/** Why no held session could be had. */
export type HeldRefusal = "unavailable" | "full";

interface Entry {
  readonly opening: Promise<Held | undefined>;
  held?: Held;
}

/** The held sessions, by grant and subject. */
export class HeldSessions {
  private readonly entries = new Map<string, Entry>();
  private closedFlag = false;
  private sweepTimer: unknown;

  constructor(
    private readonly fc: FrontContext,
    private readonly limits: HeldLimits,
  ) {}

  /** How many are held (open or opening). */
  get size(): number {
    return this.entries.size;
  }

  /** The caller's held session, opened on first use. */
  async get(identity: Identity): Promise<Held | HeldRefusal> {
    const key = `${identity.grant.length}:${identity.grant}|${identity.sub ?? ""}`;
    const existing = this.entries.get(key);
    if (existing) {
      const h = await existing.opening;
      if (h && !h.session.closed) return h;
      if (this.entries.get(key) === existing) this.entries.delete(key);
      return this.get(identity);
    }
    if (this.entries.size >= this.limits.max && !this.evictOne()) return "full";
    this.startSweep();
    const entry: Entry = { opening: this.open(identity) };
    this.entries.set(key, entry);
    const h = await entry.opening;
    // A failed opening is not kept: the next request tries again.
    if (!h) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      return "unavailable";
    }
    entry.held = h;
    return h;
  }

  /** Closes held sessions idle for longer than the limit. */
  sweep(): void {
    const t = this.fc.now();
    for (const [k, e] of this.entries) {
      const s = e.held?.session;
      if (s && (s.closed || (s.inFlight === 0 && t - s.lastSeen > this.limits.idleMs))) {
        this.entries.delete(k);
        void s.close();
      }
    }
  }

  /** Closes the least recently used idle session; false when every one is busy. */
  private evictOne(): boolean {
    let oldest: [string, ProxySession] | undefined;
    for (const [k, e] of this.entries) {
      const s = e.held?.session;
      if (s && s.inFlight === 0 && (!oldest || s.lastSeen < oldest[1].lastSeen)) oldest = [k, s];
    }
    if (!oldest) return false;
    this.entries.delete(oldest[0]);
    void oldest[1].close();
    return true;
  }

  private startSweep(): void {
    if (this.sweepTimer !== undefined || this.closedFlag) return;
    const every = Math.max(1_000, Math.min(this.limits.idleMs, 60_000));
    const tick = (): void => {
      this.sweep();
      this.sweepTimer = this.limits.scheduler.setTimeout(tick, every);
    };
    this.sweepTimer = this.limits.scheduler.setTimeout(tick, every);
  }

  private async open(identity: Identity): Promise<Held | undefined> {
    const fc = this.fc;
    // Held per grant and subject, exactly what upstream header templates may name.
    const results = await fc.pool.connectAll(HELD_INIT, {
      grant: identity.grant,
      subject: identity.sub,
    });
    if (results.length === 0 || this.closedFlag || fc.closing()) {
      await fc.pool.release(results);
      return undefined;
    }
    const sid = `held-${fc.newId()}`;
    const links = results.map((r) => r.link);
    const { session: _s, ...who } = identity;
    const session = new ProxySession(
      sid,
      who,
      // Stateless answers: JSON, or SSE carrying only the request's own notifications
      // (progress); never a request to the client, which could not answer it.
      new ClientStreams(sid, fc.responseMode, undefined, fc.sseRetryMs, true),
      links,
      new Set(links.filter((l) => fc.pool.isShared(l))),
      fc.session,
    );
    // A shared link was initialized once by the pool; only per-session links hear it.
    for (const l of links) {
      if (!fc.pool.isShared(l))
        void l.notify({ jsonrpc: "2.0", method: "notifications/initialized" });
    }
    return { session, results };
  }

  /** Closes every held session (gateway shutdown). */
  async close(): Promise<void> {
    this.closedFlag = true;
    if (this.sweepTimer !== undefined) this.limits.scheduler.clearTimeout(this.sweepTimer);
    const all = await Promise.all([...this.entries.values()].map((e) => e.opening));
    this.entries.clear();
    await Promise.all(all.map((h) => h?.session.close()));
  }
}
