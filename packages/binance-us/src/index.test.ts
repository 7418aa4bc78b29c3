import { describe, expect, it } from "vitest";
import * as connector from "./index.js";
import * as mcp from "./mcp.js";
import * as mock from "./mock/index.js";

// Each entry is a public API: guard it against an export going missing, and keep the
// connector entry free of the MCP surface and the mock (they are subpath exports).
describe("public API", () => {
  it("exports the connector at the package root", () => {
    for (const name of [
      "BinanceUsRestClient",
      "BinanceUsWsApiClient",
      "ListenKeyManager",
      "UserDataStream",
      "UserDataStreamOptionsSchema",
      "EventBuffer",
      "parseUserDataMessage",
      "ExecutionReportSchema",
      "BinanceUsError",
      "BINANCE_US_ERRORS",
      "createRedactingLogger",
      "wsWebSocketFactory",
      "fullJitterBackoff",
      "systemScheduler",
    ]) {
      expect(connector, name).toHaveProperty(name);
    }
  });

  it("exports the MCP surface at ./mcp", () => {
    for (const name of [
      "registerBinanceUsTools",
      "createBinanceUsConnector",
      "createBinanceUsMcpServer",
      "BinanceUsMcpServer",
      "startBinanceUsHttpServer",
      "BINANCE_US_TOOL_NAMES",
    ]) {
      expect(mcp, name).toHaveProperty(name);
    }
  });

  it("exports the mock at ./mock", () => {
    for (const name of [
      "startBinanceUsMock",
      "createMockClock",
      "mockEvents",
      "executionReportCanceled",
      "CONTROL_ROUTES",
      "WS_API_PATH",
    ]) {
      expect(mock, name).toHaveProperty(name);
    }
  });

  it("keeps the mock and the MCP tools out of the connector entry", () => {
    for (const name of [
      "startBinanceUsMock",
      "createMockClock",
      "mockEvents",
      "registerBinanceUsTools",
      "createBinanceUsMcpServer",
    ]) {
      expect(connector, name).not.toHaveProperty(name);
    }
  });
});
