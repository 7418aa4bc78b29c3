import { type MockRuntime, maskApiKey } from "./runtime.js";
import type { CoreRequest, CoreResponse, LoggedRequest, RequestCounters } from "./types.js";

/** The request log (API keys masked, query strings never kept) and its counters. */
export class RequestLog {
  private readonly rt: MockRuntime;
  private readonly entries: LoggedRequest[] = [];
  private readonly counters: RequestCounters = { total: 0, byRoute: {}, byStatus: {} };

  constructor(rt: MockRuntime) {
    this.rt = rt;
  }

  /** Logs one answered request and notifies `request` listeners. */
  record(
    req: CoreRequest,
    res: CoreResponse,
    weight: number,
    usedWeight: number,
    injected: boolean,
  ): void {
    const route = `${req.method} ${req.path}`;
    this.counters.total += 1;
    this.counters.byRoute[route] = (this.counters.byRoute[route] ?? 0) + 1;
    this.counters.byStatus[String(res.status)] =
      (this.counters.byStatus[String(res.status)] ?? 0) + 1;
    const body = res.body as { code?: unknown };
    const entry: LoggedRequest = {
      at: this.rt.clock.now(),
      method: req.method,
      path: req.path,
      status: res.status,
      weight,
      usedWeight,
    };
    if (typeof body?.code === "number") entry.code = body.code;
    const masked = maskApiKey(req.apiKey);
    if (masked !== undefined) entry.apiKey = masked;
    if (injected) entry.injected = true;
    if (req.transport === "ws-api") entry.transport = "ws-api";
    this.entries.push(entry);
    this.rt.emit("request", { ...entry });
    if (this.entries.length > this.rt.opts.requestLogLimit) this.entries.shift();
    this.rt.opts.logger?.debug?.({ ...entry }, "request");
  }

  /** A copy of the log. */
  list(): LoggedRequest[] {
    return this.entries.map((r) => ({ ...r }));
  }

  /** A copy of the counters. */
  totals(): RequestCounters {
    return structuredClone(this.counters);
  }
}
