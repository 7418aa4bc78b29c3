/**
 * Stable codes for errors the mock itself throws (bad options, bad control calls). They are
 * local errors, kept apart from the Binance wire errors in {@link BINANCE_US_WIRE_ERRORS}.
 */
export const MockErrorCode = {
  INVALID_OPTIONS: "MOCK_INVALID_OPTIONS",
  INVALID_CONTROL_INPUT: "MOCK_INVALID_CONTROL_INPUT",
  UNKNOWN_LISTEN_KEY: "MOCK_UNKNOWN_LISTEN_KEY",
  UNKNOWN_TARGET: "MOCK_UNKNOWN_TARGET",
  NOT_A_FAKE_CLOCK: "MOCK_NOT_A_FAKE_CLOCK",
  CLOSED: "MOCK_CLOSED",
  UNKNOWN_ROUTE: "MOCK_UNKNOWN_ROUTE",
} as const;

/** Union of the values of {@link MockErrorCode}. */
export type MockErrorCode = (typeof MockErrorCode)[keyof typeof MockErrorCode];

/**
 * Error thrown by the mock's own API (never sent on the wire as-is). `data` carries
 * machine-readable detail such as the zod issue paths.
 *
 * @example
 * try { await startBinanceUsMock({ port: -1 }); }
 * catch (e) { if (e instanceof BinanceUsMockError && e.code === "MOCK_INVALID_OPTIONS") ... }
 */
export class BinanceUsMockError extends Error {
  readonly code: MockErrorCode;
  readonly data: Record<string, unknown> | undefined;
  constructor(code: MockErrorCode, message: string, data?: Record<string, unknown>) {
    super(message);
    this.name = "BinanceUsMockError";
    this.code = code;
    this.data = data;
  }
}

/**
 * The Binance.US error bodies the mock answers with, exactly as documented
 * (`{"code": <int>, "msg": "..."}` plus the HTTP status). Exported so tests can compare
 * against the same table instead of retyping message strings.
 */
export const BINANCE_US_WIRE_ERRORS = {
  UNKNOWN_ERROR: {
    status: 500,
    code: -1000,
    msg: "An unknown error occurred while processing the request.",
  },
  INTERNAL_ERROR: {
    status: 503,
    code: -1001,
    msg: "Internal error; unable to process your request. Please try again.",
  },
  TOO_MANY_REQUESTS: {
    status: 429,
    code: -1003,
    msg: "Too much request weight used; current limit is 1200 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
  },
  IP_BANNED: {
    status: 418,
    code: -1003,
    msg: "Way too much request weight used; IP banned. Please use WebSocket Streams for live updates to avoid bans.",
  },
  TIMESTAMP_OUTSIDE_RECV_WINDOW: {
    status: 400,
    code: -1021,
    msg: "Timestamp for this request is outside of the recvWindow.",
  },
  TIMESTAMP_AHEAD: {
    status: 400,
    code: -1021,
    msg: "Timestamp for this request was 1000ms ahead of the server's time.",
  },
  INVALID_SIGNATURE: { status: 400, code: -1022, msg: "Signature for this request is not valid." },
  MANDATORY_PARAM_LISTEN_KEY: {
    status: 400,
    code: -1102,
    msg: "Mandatory parameter 'listenKey' was not sent, was empty/null, or malformed.",
  },
  MANDATORY_PARAM_TIMESTAMP: {
    status: 400,
    code: -1102,
    msg: "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
  },
  LISTEN_KEY_NOT_FOUND: { status: 400, code: -1125, msg: "This listenKey does not exist." },
  // Binance.US's error list has no -1131 (BAD_RECV_WINDOW, a Binance global code); a
  // recvWindow over 60000 is reported with its documented generic code instead.
  RECV_WINDOW_INVALID: {
    status: 400,
    code: -1130,
    msg: "Data sent for parameter 'recvWindow' is not valid.",
  },
  BAD_SYMBOL: { status: 400, code: -1121, msg: "Invalid symbol." },
  INVALID_SIDE: { status: 400, code: -1117, msg: "Invalid side." },
  INVALID_ORDER_TYPE: { status: 400, code: -1116, msg: "Invalid orderType." },
  INVALID_TIF: { status: 400, code: -1115, msg: "Invalid timeInForce." },
  TIF_NOT_REQUIRED: {
    status: 400,
    code: -1106,
    msg: "Parameter 'timeInForce' sent when not required.",
  },
  BAD_PRECISION: {
    status: 400,
    code: -1111,
    msg: "Precision is over the maximum defined for this asset.",
  },
  INSUFFICIENT_BALANCE: {
    status: 400,
    code: -2010,
    msg: "Account has insufficient balance for requested action.",
  },
  DUPLICATE_ORDER: { status: 400, code: -2010, msg: "Duplicate order sent." },
  NO_DEPTH_FOR_MARKET: { status: 400, code: -2010, msg: "Price * QTY is zero or less." },
  CANCEL_UNKNOWN_ORDER: { status: 400, code: -2011, msg: "Unknown order sent." },
  NO_SUCH_ORDER: { status: 400, code: -2013, msg: "Order does not exist." },
  API_KEY_FORMAT_INVALID: { status: 401, code: -2014, msg: "API-key format invalid." },
  API_KEY_REJECTED: {
    status: 401,
    code: -2015,
    msg: "Invalid API-key, IP, or permissions for action.",
  },
} as const;

/** One row of {@link BINANCE_US_WIRE_ERRORS}. */
export interface WireError {
  readonly status: number;
  readonly code: number;
  readonly msg: string;
}

/** -1102 for any missing or empty mandatory parameter, in the exchange's wording. */
export function mandatoryParamError(name: string): WireError {
  return {
    status: 400,
    code: -1102,
    msg: `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`,
  };
}

/** -1130 for a parameter whose value the exchange cannot use. */
export function invalidParamError(name: string): WireError {
  return { status: 400, code: -1130, msg: `Data sent for parameter '${name}' is not valid.` };
}

/**
 * The 418 body, with the epoch ms the ban ends at as the exchange writes it. Weight bans
 * and injected 418s use the same text, so a client parsing it sees one format.
 */
export function ipBannedError(untilMs: number): WireError {
  return {
    ...BINANCE_US_WIRE_ERRORS.IP_BANNED,
    msg: `Way too much request weight used; IP banned until ${untilMs}. Please use WebSocket Streams for live updates to avoid bans.`,
  };
}

/** The 429 body naming the configured per-minute weight limit. */
export function tooManyRequestsError(limitPerMinute: number): WireError {
  return {
    ...BINANCE_US_WIRE_ERRORS.TOO_MANY_REQUESTS,
    msg: BINANCE_US_WIRE_ERRORS.TOO_MANY_REQUESTS.msg.replace("1200", String(limitPerMinute)),
  };
}
