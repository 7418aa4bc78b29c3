// The MCP surface: the binance_us_* tools, the connector behind them, a ready MCP server
// and its Streamable HTTP runner. The connector itself is at "@toolgate/binance-us".
export {
  type BinanceUsConnector,
  type BinanceUsConnectorOptions,
  createBinanceUsConnector,
} from "./connector.js";
export { type BinanceUsHttpServer, startBinanceUsHttpServer } from "./http.js";
export { BINANCE_US_SERVER_INFO, BinanceUsMcpServer, createBinanceUsMcpServer } from "./server.js";
export { BINANCE_US_TOOL_NAMES, registerBinanceUsTools } from "./tools.js";
