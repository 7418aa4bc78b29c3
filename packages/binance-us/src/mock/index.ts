export {
  type Clock,
  createMockClock,
  createRealClock,
  type MockClock,
  type MockTimerHandle,
  type Scheduler,
} from "./clock.js";
export type { BookSide, MockControl } from "./control.js";
export { CONTROL_ROUTES } from "./control-http.js";
export {
  BINANCE_US_WIRE_ERRORS,
  BinanceUsMockError,
  MockErrorCode,
  type WireError,
} from "./errors.js";
export {
  balanceUpdate,
  createEventBuilders,
  executionReport,
  executionReportCanceled,
  executionReportExpired,
  executionReportFill,
  executionReportPartialFill,
  executionReportPrevented,
  executionReportTrailing,
  listenKeyExpired,
  listStatus,
  type MockEvent,
  type MockEventBuilders,
  mockEvents,
  outboundAccountPosition,
} from "./events.js";
export {
  type ClosedSocketState,
  type KeyEndReason,
  type ListenKeyState,
  type LoggedRequest,
  type MockNotifications,
  type MockState,
  maskApiKey,
  type RequestCounters,
  type SocketState,
} from "./exchange.js";
export type { ExpiryMode } from "./keys.js";
export type {
  AccountSnapshotInput,
  BinanceUsMockOptions,
  InjectErrorSpec,
  MockLogger,
  MockTarget,
  MockTunables,
  OpenOrderInput,
  SocketFilter,
} from "./options.js";
export { type BinanceUsMock, startBinanceUsMock } from "./server.js";
export { WS_API_PATH } from "./ws-api.js";
