import { fromUnits, toUnits } from "./decimal.js";

/** A tradable pair. Amount steps are 1e-8 units. */
export interface SymbolSpec {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: bigint;
  stepSize: bigint;
  minQty: bigint;
  minNotional: bigint;
}

/** One price level of the scripted book: liquidity the "rest of the market" offers. */
export interface BookLevel {
  price: bigint;
  qty: bigint;
}

/** A scripted order book: bids best (highest) first, asks best (lowest) first. */
export interface Book {
  bids: BookLevel[];
  asks: BookLevel[];
}

const u = (s: string): bigint => toUnits(s)!;

/** The symbols the mock lists, with filters close to the exchange's for these pairs. */
export const MOCK_SYMBOLS: readonly SymbolSpec[] = [
  {
    symbol: "BTCUSD",
    baseAsset: "BTC",
    quoteAsset: "USD",
    tickSize: u("0.01"),
    stepSize: u("0.00001"),
    minQty: u("0.00001"),
    minNotional: u("1"),
  },
  {
    symbol: "ETHUSD",
    baseAsset: "ETH",
    quoteAsset: "USD",
    tickSize: u("0.01"),
    stepSize: u("0.0001"),
    minQty: u("0.0001"),
    minNotional: u("1"),
  },
];

/** The default scripted books: a thin market around 42,000 and 2,200 USD. */
export function defaultBooks(): Map<string, Book> {
  const level = (price: string, qty: string): BookLevel => ({ price: u(price), qty: u(qty) });
  return new Map([
    [
      "BTCUSD",
      {
        bids: [level("41990", "0.5"), level("41980", "1")],
        asks: [level("42010", "0.5"), level("42020", "1")],
      },
    ],
    [
      "ETHUSD",
      {
        bids: [level("2199", "5"), level("2198", "10")],
        asks: [level("2201", "5"), level("2202", "10")],
      },
    ],
  ]);
}

/** Sorts a book's sides best first and drops empty levels. */
export function normalizeBook(book: Book): Book {
  return {
    bids: book.bids.filter((l) => l.qty > 0n).sort((a, b) => (a.price > b.price ? -1 : 1)),
    asks: book.asks.filter((l) => l.qty > 0n).sort((a, b) => (a.price < b.price ? -1 : 1)),
  };
}

/** `GET /api/v3/exchangeInfo`, shaped as the exchange documents it. */
export function exchangeInfo(now: number, weightLimitPerMinute: number, only?: string[]) {
  const symbols = MOCK_SYMBOLS.filter((s) => only === undefined || only.includes(s.symbol));
  return {
    timezone: "UTC",
    serverTime: now,
    rateLimits: [
      {
        rateLimitType: "REQUEST_WEIGHT",
        interval: "MINUTE",
        intervalNum: 1,
        limit: weightLimitPerMinute,
      },
      { rateLimitType: "ORDERS", interval: "SECOND", intervalNum: 10, limit: 100 },
      { rateLimitType: "ORDERS", interval: "DAY", intervalNum: 1, limit: 200_000 },
      { rateLimitType: "RAW_REQUESTS", interval: "MINUTE", intervalNum: 5, limit: 6_100 },
    ],
    exchangeFilters: [],
    symbols: symbols.map((s) => ({
      symbol: s.symbol,
      status: "TRADING",
      baseAsset: s.baseAsset,
      baseAssetPrecision: 8,
      quoteAsset: s.quoteAsset,
      quotePrecision: 8,
      quoteAssetPrecision: 8,
      baseCommissionPrecision: 8,
      quoteCommissionPrecision: 8,
      orderTypes: ["LIMIT", "LIMIT_MAKER", "MARKET"],
      icebergAllowed: false,
      ocoAllowed: false,
      quoteOrderQtyMarketAllowed: false,
      allowTrailingStop: false,
      cancelReplaceAllowed: false,
      isSpotTradingAllowed: true,
      isMarginTradingAllowed: false,
      filters: [
        {
          filterType: "PRICE_FILTER",
          minPrice: fromUnits(s.tickSize),
          maxPrice: "1000000.00000000",
          tickSize: fromUnits(s.tickSize),
        },
        {
          filterType: "LOT_SIZE",
          minQty: fromUnits(s.minQty),
          maxQty: "9000.00000000",
          stepSize: fromUnits(s.stepSize),
        },
        {
          filterType: "NOTIONAL",
          minNotional: fromUnits(s.minNotional),
          applyMinToMarket: true,
          maxNotional: "9000000.00000000",
          applyMaxToMarket: false,
          avgPriceMins: 1,
        },
      ],
      permissions: ["SPOT"],
      defaultSelfTradePreventionMode: "NONE",
      allowedSelfTradePreventionModes: ["NONE"],
    })),
  };
}
