import { ipBannedError, tooManyRequestsError, type WireError } from "./errors.js";
import type { MockRuntime } from "./runtime.js";
import type { CoreResponse } from "./types.js";

/** Request weight, 429 window and ban of one IP. */
export interface IpState {
  minute: number;
  used: number;
  retryUntil: number;
  earlyRetries: number;
  banUntil: number;
  bans: number;
}

const MAX_BAN_SEC = 3 * 24 * 60 * 60;

/** An error body plus headers, as a core response. */
export function wire(e: WireError, extraHeaders: Record<string, string> = {}): CoreResponse {
  return { status: e.status, headers: extraHeaders, body: { code: e.code, msg: e.msg } };
}

/** Weight of a route, as the exchange documents it. */
export function routeWeight(path: string, params: URLSearchParams): number {
  if (path === "/api/v3/account") return 10;
  if (path === "/api/v3/openOrders") return params.get("symbol") ? 3 : 40;
  if (path === "/api/v3/exchangeInfo") return 10;
  return 1;
}

/**
 * Per-IP request weight per calendar minute, the 429 window that follows, and 418 bans
 * for calls made inside it (doubling per repeat, up to 3 days).
 */
export class WeightLimits {
  private readonly rt: MockRuntime;
  private readonly ips = new Map<string, IpState>();

  constructor(rt: MockRuntime) {
    this.rt = rt;
  }

  /** The IP's state, rolled over to the current minute. */
  ip(ip: string): IpState {
    const minute = Math.floor(this.rt.clock.now() / 60_000);
    let st = this.ips.get(ip);
    if (!st) {
      st = { minute, used: 0, retryUntil: 0, earlyRetries: 0, banUntil: 0, bans: 0 };
      this.ips.set(ip, st);
    }
    if (st.minute !== minute) {
      st.minute = minute;
      st.used = 0;
    }
    return st;
  }

  /**
   * Charges `weight` to the IP, or answers what the exchange would instead: 418 while
   * banned, 429 (then a ban) inside a `Retry-After`, 429 over the minute's limit.
   */
  admit(st: IpState, weight: number): CoreResponse | undefined {
    const now = this.rt.clock.now();
    if (st.banUntil > now) return this.banned(st, Math.ceil((st.banUntil - now) / 1000));
    if (st.retryUntil > now) {
      st.earlyRetries += 1;
      if (st.earlyRetries >= this.rt.opts.banAfterEarlyRetries) {
        return this.banned(st, this.ban(st, now));
      }
      const sec = Math.ceil((st.retryUntil - now) / 1000);
      return wire(tooManyRequestsError(this.rt.opts.weightLimitPerMinute), {
        "Retry-After": String(sec),
      });
    }
    st.used += weight;
    if (st.used <= this.rt.opts.weightLimitPerMinute) return undefined;
    st.retryUntil = (st.minute + 1) * 60_000;
    st.earlyRetries = 0;
    const sec = Math.max(1, Math.ceil((st.retryUntil - now) / 1000));
    return wire(tooManyRequestsError(this.rt.opts.weightLimitPerMinute), {
      "Retry-After": String(sec),
    });
  }

  /** Seconds to the next calendar minute (what a 429 asks the client to wait). */
  restOfMinuteSec(now: number): number {
    return Math.max(1, Math.ceil(((Math.floor(now / 60_000) + 1) * 60_000 - now) / 1000));
  }

  /** Keeps the IP limited after an injected sticky 429/418, as the exchange would. */
  stick(st: IpState, status: number, retryAfterSec: number): void {
    const now = this.rt.clock.now();
    if (status === 418) {
      st.banUntil = now + retryAfterSec * 1000;
      st.bans += 1;
    } else if (status === 429) {
      st.retryUntil = now + retryAfterSec * 1000;
      st.earlyRetries = 0;
    }
  }

  /** Lifts every 429 window and ban. */
  clear(): void {
    for (const st of this.ips.values()) {
      st.retryUntil = 0;
      st.banUntil = 0;
      st.earlyRetries = 0;
    }
  }

  private ban(st: IpState, now: number): number {
    const sec = Math.min(MAX_BAN_SEC, this.rt.opts.banDurationSec * 2 ** st.bans);
    st.bans += 1;
    st.banUntil = now + sec * 1000;
    st.retryUntil = 0;
    st.earlyRetries = 0;
    return sec;
  }

  private banned(st: IpState, retryAfterSec: number): CoreResponse {
    return wire(ipBannedError(st.banUntil), { "Retry-After": String(retryAfterSec) });
  }
}
