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
    msg: "An unknown error occured while processing the request.",
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
  RECV_WINDOW_TOO_LARGE: {
    status: 400,
    code: -1131,
    msg: "recvWindow must be less than 60000",
  },
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
