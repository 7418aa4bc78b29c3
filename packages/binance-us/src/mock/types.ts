/**
 * Shapes shared by the exchange's parts and exposed through `state()` and `on()`. None of
 * them ever holds an API key in clear or a secret.
 */

/** A REST request as the exchange core sees it (already read off the wire). */
export interface CoreRequest {
  method: string;
  path: string;
  /** Raw query string without the leading `?` (kept raw: signatures cover exact bytes). */
  rawQuery: string;
  rawBody: string;
  contentType: string | undefined;
  apiKey: string | undefined;
  ip: string;
  /** Which API the request came through; WebSocket API calls map onto the REST routes. */
  transport?: "rest" | "ws-api";
}

/** A REST response produced by the core. */
export interface CoreResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** Sent as-is instead of JSON (a WAF page); `contentType` goes with it. */
  rawText?: string;
  contentType?: string;
  /** Answer only after this many ms of the mock's clock (a slow exchange). */
  delayMs?: number;
  /** Never answer (a hanging exchange); the connection ends only when the mock closes. */
  hang?: boolean;
}

/** One entry of the request log. API keys are masked; query strings are not kept. */
export interface LoggedRequest {
  at: number;
  method: string;
  path: string;
  status: number;
  code?: number;
  apiKey?: string;
  weight: number;
  usedWeight: number;
  injected?: boolean;
  transport?: "rest" | "ws-api";
}

/** Per-socket facts exposed by `state()`. */
export interface SocketState {
  id: number;
  listenKeys: string[];
  account: string | undefined;
  combined: boolean;
  openedAt: number;
  pingsSent: number;
  pongsReceived: number;
  pingsReceived: number;
  pongsSent: number;
  messagesReceived: number;
  eventsDelivered: number;
  lastPongAt: number | undefined;
  awaitingPongSince: number | undefined;
  silenced: boolean;
  incomingLimitHits: number;
  /** `"stream"` for user-data sockets, `"ws-api"` for WebSocket API connections. */
  kind: "stream" | "ws-api";
}

/** Per-key facts exposed by `state()`. */
export interface ListenKeyState {
  listenKey: string;
  account: string;
  createdAt: number;
  expiresAt: number;
  sockets: number;
}

/** Counters of REST traffic, by route (`"POST /api/v3/userDataStream"`) and status. */
export interface RequestCounters {
  total: number;
  byRoute: Record<string, number>;
  byStatus: Record<string, number>;
}

/** How and why a socket ended, for assertions on cuts and drops. */
export interface ClosedSocketState {
  id: number;
  kind: "stream" | "ws-api";
  listenKeys: string[];
  openedAt: number;
  closedAt: number;
  reason: string;
}

/** Snapshot of everything a test may want to assert on. Contains no API key or secret. */
export interface MockState {
  now: number;
  keys: ListenKeyState[];
  sockets: SocketState[];
  accounts: string[];
  switches: { pings: boolean; pongs: boolean };
  pendingErrors: number;
  requests: LoggedRequest[];
  counters: RequestCounters;
  closedSockets: ClosedSocketState[];
}

/** Why a listen key stopped existing. */
export type KeyEndReason = "expired" | "deleted" | "expired-by-control" | "invalidated-by-control";

/**
 * Notifications a test can subscribe to with `control.on(type, listener)`, so it can await
 * "the client reconnected" or "the keepalive arrived" instead of polling `state()`.
 */
export interface MockNotifications {
  request: LoggedRequest;
  socketOpen: SocketState;
  socketClose: ClosedSocketState;
  keyCreated: ListenKeyState;
  keyEnded: { listenKey: string; account: string; reason: KeyEndReason };
}
