import {
  BINANCE_US_WIRE_ERRORS,
  ipBannedError,
  tooManyRequestsError,
  type WireError,
} from "./errors.js";
import type { IpState, WeightLimits } from "./limits.js";
import type { InjectErrorSpecParsed } from "./options.js";
import type { MockRuntime } from "./runtime.js";
import type { CoreRequest, CoreResponse } from "./types.js";

/** A queued fault. */
export interface InjectedFault {
  spec: InjectErrorSpecParsed;
  remaining: number;
}

/** A WAF page: what a client gets when the firewall, not the API, answers. */
const WAF_HTML =
  "<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1><p>Request blocked.</p></body></html>";

function defaultWireFor(status: number, limitPerMinute: number): WireError {
  if (status === 429) return tooManyRequestsError(limitPerMinute);
  if (status === 418) return BINANCE_US_WIRE_ERRORS.IP_BANNED;
  if (status === 503) return BINANCE_US_WIRE_ERRORS.INTERNAL_ERROR;
  if (status === 403)
    return { status, code: -1000, msg: "Forbidden by the web application firewall." };
  return { ...BINANCE_US_WIRE_ERRORS.UNKNOWN_ERROR, status };
}

/** Faults queued by the control API, taken by the next matching request(s). */
export class FaultQueue {
  private readonly rt: MockRuntime;
  private readonly limits: WeightLimits;
  private readonly queue: InjectedFault[] = [];

  constructor(rt: MockRuntime, limits: WeightLimits) {
    this.rt = rt;
    this.limits = limits;
  }

  /** Queues a fault; `spec` was validated by the control surface. */
  push(spec: InjectErrorSpecParsed): void {
    this.queue.push({ spec, remaining: spec.times });
  }

  /** Forgets every queued fault. */
  clear(): void {
    this.queue.length = 0;
  }

  /** How many faults are queued. */
  get pending(): number {
    return this.queue.length;
  }

  /** Takes the first fault matching the request, counting one use. */
  take(req: CoreRequest): InjectErrorSpecParsed | undefined {
    const transport = req.transport ?? "rest";
    const idx = this.queue.findIndex(
      ({ spec: f }) =>
        (f.method === undefined || f.method === req.method) &&
        (f.path === undefined || f.path === req.path) &&
        (f.transport === undefined || f.transport === transport),
    );
    if (idx < 0) return undefined;
    const fault = this.queue[idx]!;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.queue.splice(idx, 1);
    return fault.spec;
  }

  /**
   * The answer a fault produces. `operate` runs the real operation (for status-less slow
   * answers, and for `applied` 5xx faults whose effect happens although an error is sent).
   */
  respond(fault: InjectErrorSpecParsed, st: IpState, operate: () => CoreResponse): CoreResponse {
    if (fault.status === undefined) return this.slow(fault, operate());
    if (fault.applied) operate();
    const now = this.rt.clock.now();
    // The exchange never sends a 429 or 418 without Retry-After; when the test does not pick
    // one, use what the exchange would: the rest of the weight minute, or the ban length.
    const retryAfterSec =
      fault.retryAfterSec ??
      (fault.status === 429
        ? this.limits.restOfMinuteSec(now)
        : fault.status === 418
          ? this.rt.opts.banDurationSec
          : undefined);
    const headers: Record<string, string> = {};
    if (retryAfterSec !== undefined) headers["Retry-After"] = String(retryAfterSec);
    if (fault.sticky && retryAfterSec !== undefined) {
      this.limits.stick(st, fault.status, retryAfterSec);
    }
    let d = defaultWireFor(fault.status, this.rt.opts.weightLimitPerMinute);
    if (fault.status === 418) d = ipBannedError(now + (retryAfterSec ?? 0) * 1000);
    const res: CoreResponse = {
      status: fault.status,
      headers,
      body: { code: fault.code ?? d.code, msg: fault.msg ?? d.msg },
    };
    if (fault.body === "html") {
      res.rawText = WAF_HTML;
      res.contentType = "text/html";
    } else if (fault.body === "empty") {
      res.rawText = "";
      res.contentType = "text/plain";
    }
    return this.slow(fault, res);
  }

  private slow(fault: InjectErrorSpecParsed, res: CoreResponse): CoreResponse {
    if (fault.delayMs !== undefined) res.delayMs = fault.delayMs;
    if (fault.hang) res.hang = true;
    return res;
  }
}
