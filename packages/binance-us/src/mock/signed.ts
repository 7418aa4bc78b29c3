import { createHmac, timingSafeEqual } from "node:crypto";
import { BINANCE_US_WIRE_ERRORS, mandatoryParamError, type WireError } from "./errors.js";
import type { CoreRequest } from "./types.js";

/** Whether the body is form-encoded: only then do its parameters count. */
export function isForm(req: CoreRequest): boolean {
  return (req.contentType ?? "").includes("application/x-www-form-urlencoded");
}

/** Query and form body merged; the query string wins, as the exchange documents. */
export function requestParams(req: CoreRequest): URLSearchParams {
  const merged = new URLSearchParams();
  if (isForm(req) && req.rawBody !== "") {
    for (const [k, v] of new URLSearchParams(req.rawBody)) merged.set(k, v);
  }
  for (const [k, v] of new URLSearchParams(req.rawQuery)) merged.set(k, v);
  return merged;
}

/** Splits `a=1&b=2` keeping raw pieces, so the signed payload can be rebuilt byte for byte. */
function withoutSignature(raw: string): { rest: string; signature: string | undefined } {
  if (raw === "") return { rest: "", signature: undefined };
  let signature: string | undefined;
  const kept: string[] = [];
  for (const piece of raw.split("&")) {
    if (piece.startsWith("signature=")) signature = decodeURIComponent(piece.slice(10));
    else kept.push(piece);
  }
  return { rest: kept.join("&"), signature };
}

const MAX_RECV_WINDOW = 60_000;

/**
 * The SIGNED (TRADE / USER_DATA) checks in the exchange's order: HMAC-SHA256 hex of the
 * query string concatenated with the form body (without `signature`), then `timestamp`,
 * then `recvWindow` (default 5000, at most 60000), then the window itself
 * (`timestamp < serverTime + 1000` and `serverTime - timestamp <= recvWindow`).
 * Returns the error to send, or undefined when the request may proceed.
 */
export function checkSigned(
  req: CoreRequest,
  params: URLSearchParams,
  secret: string,
  now: number,
): WireError | undefined {
  const q = withoutSignature(req.rawQuery);
  const b = isForm(req) ? withoutSignature(req.rawBody) : { rest: "", signature: undefined };
  const signature = q.signature ?? b.signature;
  const expected = createHmac("sha256", secret)
    .update(q.rest + b.rest)
    .digest("hex");
  if (
    signature === undefined ||
    signature.length !== expected.length ||
    !timingSafeEqual(Buffer.from(signature.toLowerCase()), Buffer.from(expected))
  ) {
    return BINANCE_US_WIRE_ERRORS.INVALID_SIGNATURE;
  }
  const tsRaw = params.get("timestamp");
  const ts = tsRaw === null || tsRaw === "" ? Number.NaN : Number(tsRaw);
  if (!Number.isInteger(ts)) return mandatoryParamError("timestamp");
  const recvRaw = params.get("recvWindow");
  const recvWindow = recvRaw === null ? 5000 : Number(recvRaw);
  if (!Number.isInteger(recvWindow) || recvWindow <= 0 || recvWindow > MAX_RECV_WINDOW) {
    return BINANCE_US_WIRE_ERRORS.RECV_WINDOW_INVALID;
  }
  if (ts >= now + 1000) return BINANCE_US_WIRE_ERRORS.TIMESTAMP_AHEAD;
  if (now - ts > recvWindow) return BINANCE_US_WIRE_ERRORS.TIMESTAMP_OUTSIDE_RECV_WINDOW;
  return undefined;
}
