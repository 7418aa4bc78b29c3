// Connector: REST client, listen-key manager, user-data stream, typed events.
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
export { type BinanceUsHttpServer, startBinanceUsHttpServer } from "./http.js";
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
// Mock exchange (tests and the offline demo). Its `Scheduler` has the same shape as the
// connector's, which is exported once, from time.js.
export {
  type AccountSnapshotInput,
  BINANCE_US_WIRE_ERRORS,
  type BinanceUsMock,
  BinanceUsMockError,
  type BinanceUsMockOptions,
  balanceUpdate,
  type Clock,
  type ClosedSocketState,
  CONTROL_ROUTES,
  createEventBuilders,
  createMockClock,
  createRealClock,
  executionReport,
  executionReportFill,
  type InjectErrorSpec,
  type KeyEndReason,
  type ListenKeyState,
  type LoggedRequest,
  listenKeyExpired,
  listStatus,
  type MockClock,
  type MockControl,
  MockErrorCode,
  type MockEvent,
  type MockEventBuilders,
  type MockLogger,
  type MockNotifications,
  type MockState,
  type MockTarget,
  type MockTimerHandle,
  maskApiKey,
  mockEvents,
  type OpenOrderInput,
  outboundAccountPosition,
  type RequestCounters,
  type SocketFilter,
  type SocketState,
  startBinanceUsMock,
  type WireError,
} from "./mock/index.js";
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
export { BINANCE_US_SERVER_INFO, BinanceUsMcpServer, createBinanceUsMcpServer } from "./server.js";
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
  BINANCE_US_TOOL_NAMES,
  type BinanceUsConnector,
  type BinanceUsConnectorOptions,
  createBinanceUsConnector,
  registerBinanceUsTools,
} from "./tools.js";
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
