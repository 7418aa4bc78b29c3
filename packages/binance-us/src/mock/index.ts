export {
  type Clock,
  createMockClock,
  createRealClock,
  type MockClock,
  type MockTimerHandle,
  type Scheduler,
} from "./clock.js";
export {
  CONTROL_ROUTES,
  type MockControl,
} from "./control.js";
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
  executionReportFill,
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
export type {
  AccountSnapshotInput,
  BinanceUsMockOptions,
  InjectErrorSpec,
  MockLogger,
  MockTarget,
  OpenOrderInput,
  SocketFilter,
} from "./options.js";
export { type BinanceUsMock, startBinanceUsMock } from "./server.js";
