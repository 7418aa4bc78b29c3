import type { MockExchange } from "./exchange.js";
import type { SocketRecord } from "./sockets.js";
import type { CoreResponse } from "./types.js";

/** The WebSocket API path, as on `wss://ws-api.binance.us:443/ws-api/v3`. */
export const WS_API_PATH = "/ws-api/v3";

/**
 * WebSocket API methods the mock serves and the REST route each one shares its rules,
 * weight, faults and state with (so `injectError({method: "PUT", ...})` hits
 * `userDataStream.ping` too, unless the fault names a `transport`).
 */
const METHODS: Record<string, { method: string; path: string }> = {
  "userDataStream.start": { method: "POST", path: "/api/v3/userDataStream" },
  "userDataStream.ping": { method: "PUT", path: "/api/v3/userDataStream" },
  "userDataStream.stop": { method: "DELETE", path: "/api/v3/userDataStream" },
  ping: { method: "GET", path: "/api/v3/ping" },
  time: { method: "GET", path: "/api/v3/time" },
};

type RequestId = string | number | null;

function badRequest(id: RequestId, code: number, msg: string): Record<string, unknown> {
  return { id, status: 400, error: { code, msg } };
}

function validId(v: unknown): v is RequestId {
  return v === null || typeof v === "string" || (typeof v === "number" && Number.isInteger(v));
}

/** Reads one request frame; returns either the request or the error frame to send. */
function readRequest(
  text: string,
):
  | { ok: true; id: RequestId; method: string; params: Record<string, unknown> }
  | { ok: false; frame: Record<string, unknown> } {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { ok: false, frame: badRequest(null, -1135, "Invalid JSON Request") };
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    return { ok: false, frame: badRequest(null, -1135, "Invalid JSON Request") };
  }
  const { id, method, params } = msg as Record<string, unknown>;
  if (!validId(id)) {
    return {
      ok: false,
      frame: badRequest(null, -1100, "Illegal characters found in parameter 'id'."),
    };
  }
  if (typeof method !== "string" || method === "") {
    return {
      ok: false,
      frame: badRequest(
        id,
        -1102,
        "Mandatory parameter 'method' was not sent, was empty/null, or malformed.",
      ),
    };
  }
  if (
    params !== undefined &&
    (typeof params !== "object" || params === null || Array.isArray(params))
  ) {
    return {
      ok: false,
      frame: badRequest(id, -1130, "Data sent for parameter 'params' is not valid."),
    };
  }
  return {
    ok: true,
    id,
    method: method.replace(/^v3\//, ""),
    params: (params ?? {}) as Record<string, unknown>,
  };
}

/** A core response as a WebSocket API frame: `{id, status, result|error, rateLimits}`. */
function toFrame(
  ex: MockExchange,
  id: RequestId,
  res: CoreResponse,
  withRateLimits: boolean,
): Record<string, unknown> {
  const frame: Record<string, unknown> = { id, status: res.status };
  if (res.status >= 200 && res.status < 300) frame.result = res.body;
  else {
    const error: Record<string, unknown> = { ...(res.body as Record<string, unknown>) };
    const retryAfterSec = Number(res.headers["Retry-After"]);
    if (Number.isFinite(retryAfterSec) && (res.status === 429 || res.status === 418)) {
      // The WebSocket API has no headers: the wait travels as an epoch-ms timestamp.
      const now = ex.clock.now();
      error.data = { serverTime: now, retryAfter: now + retryAfterSec * 1000 };
    }
    frame.error = error;
  }
  if (withRateLimits) {
    frame.rateLimits = [
      {
        rateLimitType: "REQUEST_WEIGHT",
        interval: "MINUTE",
        intervalNum: 1,
        limit: ex.opts.weightLimitPerMinute,
        count: Number(res.headers["X-MBX-USED-WEIGHT-1M"] ?? 0),
      },
    ];
  }
  return frame;
}

/**
 * Serves one WebSocket API text frame: maps the method onto its REST twin, runs it
 * through the exchange (limits, faults, keys) and answers with the request's `id`.
 * A slow fault answers later on the mock's clock; a hanging one never answers.
 */
export function handleWsApiText(
  ex: MockExchange,
  rec: SocketRecord,
  text: string,
  ip: string,
): void {
  const req = readRequest(text);
  if (!req.ok) {
    ex.sockets.sendJson(rec, req.frame);
    return;
  }
  const route = METHODS[req.method];
  if (!route) {
    ex.sockets.sendJson(rec, badRequest(req.id, -1020, "This operation is not supported."));
    return;
  }
  const { apiKey, returnRateLimits, ...rest } = req.params;
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(rest)) query.set(k, String(v));
  const res = ex.handle({
    method: route.method,
    path: route.path,
    rawQuery: query.toString(),
    rawBody: "",
    contentType: undefined,
    apiKey: typeof apiKey === "string" ? apiKey : undefined,
    ip,
    transport: "ws-api",
  });
  if (res.hang) return;
  const frame = toFrame(ex, req.id, res, returnRateLimits !== false);
  if (res.delayMs !== undefined) ex.rt.arm(() => ex.sockets.sendJson(rec, frame), res.delayMs);
  else ex.sockets.sendJson(rec, frame);
}
