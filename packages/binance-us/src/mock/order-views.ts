import { fromUnits } from "./decimal.js";
import type { SymbolSpec } from "./market.js";
import type { PlaceOrder } from "./order-params.js";

/** An order the engine manages. Amounts are 1e-8 units. */
export interface OrderRec {
  account: string;
  spec: SymbolSpec;
  orderId: number;
  clientOrderId: string;
  side: "BUY" | "SELL";
  type: PlaceOrder["type"];
  timeInForce: "GTC" | "IOC" | "FOK";
  price: bigint | undefined;
  origQty: bigint;
  executedQty: bigint;
  cumQuote: bigint;
  status: "NEW" | "PARTIALLY_FILLED" | "FILLED" | "CANCELED" | "EXPIRED";
  time: number;
  updateTime: number;
  /** Funds still locked for this order, in the asset it spends. */
  lockedLeft: bigint;
}

export interface Fill {
  price: bigint;
  qty: bigint;
  commission: bigint;
  commissionAsset: string;
  tradeId: number;
}

/** An order as the REST endpoints show it (`workingTime` only while on the book). */
export function orderView(o: OrderRec): Record<string, unknown> {
  const onBook = o.status === "NEW" || o.status === "PARTIALLY_FILLED";
  return {
    symbol: o.spec.symbol,
    orderId: o.orderId,
    orderListId: -1,
    clientOrderId: o.clientOrderId,
    price: fromUnits(o.price ?? 0n),
    origQty: fromUnits(o.origQty),
    executedQty: fromUnits(o.executedQty),
    cummulativeQuoteQty: fromUnits(o.cumQuote),
    status: o.status,
    timeInForce: o.timeInForce,
    type: o.type,
    side: o.side,
    stopPrice: "0.00000000",
    icebergQty: "0.00000000",
    time: o.time,
    updateTime: o.updateTime,
    isWorking: onBook,
    ...(onBook ? { workingTime: o.time } : {}),
    origQuoteOrderQty: "0.00000000",
    selfTradePreventionMode: "NONE",
  };
}

/** The `POST /api/v3/order` answer for `ACK`, `RESULT` or `FULL`. */
export function placeResponse(o: OrderRec, fills: Fill[], resp: PlaceOrder["respType"]): unknown {
  const ack = {
    symbol: o.spec.symbol,
    orderId: o.orderId,
    orderListId: -1,
    clientOrderId: o.clientOrderId,
    transactTime: o.time,
  };
  if (resp === "ACK") return ack;
  const view = orderView(o);
  const result = {
    ...ack,
    price: view.price,
    origQty: view.origQty,
    executedQty: view.executedQty,
    cummulativeQuoteQty: view.cummulativeQuoteQty,
    status: o.status,
    timeInForce: o.timeInForce,
    type: o.type,
    side: o.side,
    workingTime: o.time,
    selfTradePreventionMode: "NONE",
  };
  if (resp === "RESULT") return result;
  return {
    ...result,
    fills: fills.map((f) => ({
      price: fromUnits(f.price),
      qty: fromUnits(f.qty),
      commission: fromUnits(f.commission),
      commissionAsset: f.commissionAsset,
      tradeId: f.tradeId,
    })),
  };
}
