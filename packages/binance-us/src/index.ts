// The connector: REST and WebSocket API clients, listen-key manager, user-data stream,
// typed events. The MCP tools are at "@toolgate/binance-us/mcp", the mock exchange at
// "@toolgate/binance-us/mock", so importing the connector loads neither.
export {
  BINANCE_US_ERRORS,
  BinanceUsError,
  type BinanceUsErrorCode,
  type BinanceUsErrorData,
  isBinanceUsError,
} from "./errors.js";
export {
  type BufferedEntry,
  EventBuffer,
  type EventPage,
  type OverflowPolicy,
} from "./event-buffer.js";
export {
  type BalanceUpdate,
  BalanceUpdateSchema,
  type ExecutionReport,
  ExecutionReportSchema,
  type ExtraFields,
  type ListenKeyExpired,
  ListenKeyExpiredSchema,
  type ListStatus,
  ListStatusSchema,
  type OutboundAccountPosition,
  OutboundAccountPositionSchema,
  type ParsedUserDataEvent,
  parseUserDataMessage,
  parseUserDataPayload,
  userDataEventIdentity,
} from "./events.js";
export {
  type ListenKeyApi,
  ListenKeyManager,
  type ListenKeyManagerEvents,
  type ListenKeyManagerOptions,
  type ListenKeyStatus,
} from "./listen-key-manager.js";
export {
  createJsonLogger,
  createRedactingLogger,
  type Logger,
  type LogLevel,
  maskListenKey,
  type RedactionSources,
  silentLogger,
} from "./logger.js";
export {
  type AccountSnapshot,
  AccountSnapshotSchema,
  BinanceUsRestClient,
  type FetchLike,
  type OpenOrder,
  OpenOrdersSchema,
  type RestClientOptions,
  RestClientOptionsSchema,
  type RestResult,
} from "./rest-client.js";
export {
  type StreamSocket,
  type StreamSocketHandlers,
  type WebSocketFactory,
  wsWebSocketFactory,
} from "./socket.js";
export {
  type BackoffSettings,
  fullJitterBackoff,
  type Scheduler,
  systemScheduler,
} from "./time.js";
export {
  type ResyncSnapshot,
  type StreamGap,
  type UserDataEntry,
  UserDataStream,
  type UserDataStreamEvents,
  type UserDataStreamOptions,
  UserDataStreamOptionsSchema,
  type UserDataStreamStatus,
} from "./user-data-stream.js";
export {
  BinanceUsWsApiClient,
  type WsApiClientOptions,
  WsApiClientOptionsSchema,
  type WsApiStatus,
} from "./ws-api-client.js";
