import { describe, expect, it } from "vitest";
import * as api from "./index.js";

// The package entry is the public API: guard it against an export going missing.
describe("public API", () => {
  it("exports the connector, the MCP surface and the mock", () => {
    for (const name of [
      "BinanceUsRestClient",
      "ListenKeyManager",
      "UserDataStream",
      "UserDataStreamOptionsSchema",
      "EventBuffer",
      "parseUserDataMessage",
      "ExecutionReportSchema",
      "BinanceUsError",
      "BINANCE_US_ERRORS",
      "registerBinanceUsTools",
      "createBinanceUsConnector",
      "createBinanceUsMcpServer",
      "BinanceUsMcpServer",
      "startBinanceUsHttpServer",
      "BINANCE_US_TOOL_NAMES",
      "createRedactingLogger",
      "wsWebSocketFactory",
      "fullJitterBackoff",
      "systemScheduler",
      "startBinanceUsMock",
      "createMockClock",
      "mockEvents",
    ]) {
      expect(api, name).toHaveProperty(name);
    }
  });
});
