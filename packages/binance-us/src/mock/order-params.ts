import { mulUnits, overPrecision, toUnits } from "./decimal.js";
import {
  BINANCE_US_WIRE_ERRORS as E,
  invalidParamError,
  mandatoryParamError,
  type WireError,
} from "./errors.js";
import { MOCK_SYMBOLS, type SymbolSpec } from "./market.js";

/** A validated `POST /api/v3/order`. */
export interface PlaceOrder {
  spec: SymbolSpec;
  side: "BUY" | "SELL";
  type: "LIMIT" | "MARKET" | "LIMIT_MAKER";
  timeInForce: "GTC" | "IOC" | "FOK" | undefined;
  quantity: bigint;
  price: bigint | undefined;
  clientOrderId: string | undefined;
  respType: "ACK" | "RESULT" | "FULL";
}

const SIDES = ["BUY", "SELL"] as const;
const TYPES = ["LIMIT", "MARKET", "LIMIT_MAKER"] as const;
const TIFS = ["GTC", "IOC", "FOK"] as const;
const RESP = ["ACK", "RESULT", "FULL"] as const;
const CLIENT_ID = /^[.A-Z:/a-z0-9_-]{1,36}$/;

function oneOf<T extends string>(list: readonly T[], v: string): v is T {
  return (list as readonly string[]).includes(v);
}

/** The symbol's spec, or -1102 / -1121. */
export function symbolOf(params: URLSearchParams): SymbolSpec | WireError {
  const symbol = params.get("symbol");
  if (symbol === null || symbol === "") return mandatoryParamError("symbol");
  return MOCK_SYMBOLS.find((s) => s.symbol === symbol) ?? E.BAD_SYMBOL;
}

function amount(params: URLSearchParams, name: string, step: bigint): bigint | WireError {
  const raw = params.get(name);
  if (raw === null || raw === "") return mandatoryParamError(name);
  if (overPrecision(raw)) return E.BAD_PRECISION;
  const units = toUnits(raw);
  if (units === undefined || units <= 0n) return invalidParamError(name);
  // Off-step amounts are rejected rather than silently rounded, so a bot learns its
  // rounding is wrong here and not on the exchange.
  if (units % step !== 0n) return E.BAD_PRECISION;
  return units;
}

/**
 * Validates a new order in the exchange's order of checks: symbol, side, type, time in
 * force, quantity, price, then the symbol's filters. Returns the first error.
 */
export function parsePlaceOrder(params: URLSearchParams): PlaceOrder | WireError {
  const spec = symbolOf(params);
  if ("status" in spec) return spec;
  const side = params.get("side") ?? "";
  if (side === "") return mandatoryParamError("side");
  if (!oneOf(SIDES, side)) return E.INVALID_SIDE;
  const type = params.get("type") ?? "";
  if (type === "") return mandatoryParamError("type");
  if (!oneOf(TYPES, type)) return E.INVALID_ORDER_TYPE;
  const tif = params.get("timeInForce");
  let timeInForce: PlaceOrder["timeInForce"];
  if (type === "LIMIT") {
    if (tif === null || tif === "") return mandatoryParamError("timeInForce");
    if (!oneOf(TIFS, tif)) return E.INVALID_TIF;
    timeInForce = tif;
  } else if (tif !== null) {
    return E.TIF_NOT_REQUIRED;
  }
  const quantity = amount(params, "quantity", spec.stepSize);
  if (typeof quantity !== "bigint") return quantity;
  let price: bigint | undefined;
  if (type !== "MARKET") {
    const p = amount(params, "price", spec.tickSize);
    if (typeof p !== "bigint") return p;
    price = p;
    if (mulUnits(p, quantity) < spec.minNotional) return E.NO_DEPTH_FOR_MARKET;
  }
  if (quantity < spec.minQty) return invalidParamError("quantity");
  const clientOrderId = params.get("newClientOrderId") ?? undefined;
  if (clientOrderId !== undefined && !CLIENT_ID.test(clientOrderId)) {
    return invalidParamError("newClientOrderId");
  }
  const resp = params.get("newOrderRespType") ?? "FULL";
  if (!oneOf(RESP, resp)) return invalidParamError("newOrderRespType");
  return { spec, side, type, timeInForce, quantity, price, clientOrderId, respType: resp };
}
