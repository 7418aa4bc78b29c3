import { createRequire } from "node:module";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  type BinanceUsConnector,
  type BinanceUsConnectorOptions,
  registerBinanceUsTools,
} from "./tools.js";

/** Server name and version announced in `initialize`. */
export const BINANCE_US_SERVER_INFO = {
  name: "toolgate-binance-us",
  // The package's own version (package.json sits above both src/ and dist/).
  version: (createRequire(import.meta.url)("../package.json") as { version: string }).version,
} as const;

/**
 * An `McpServer` with the `binance_us_*` tools whose `close()` also stops the managed
 * stream it owns (a shared connector passed in is left running for its owner to close).
 */
export class BinanceUsMcpServer extends McpServer {
  readonly connector: BinanceUsConnector;
  readonly #closeTools: () => Promise<void>;

  constructor(options: BinanceUsConnectorOptions | BinanceUsConnector = {}) {
    super(BINANCE_US_SERVER_INFO, {
      instructions:
        "Binance.US user-data tools. Create a listen key, keep it alive about every 30 minutes, or let this server manage the stream and poll binance_us_user_stream_events with a cursor.",
    });
    const handle = registerBinanceUsTools(this, options);
    this.connector = handle.connector;
    this.#closeTools = handle.close;
  }

  override async close(): Promise<void> {
    await super.close();
    await this.#closeTools();
  }
}

/**
 * Builds a ready MCP server with the five Binance.US tools; connect it to any transport
 * (stdio, Streamable HTTP, or in-process for the gateway).
 *
 * @example
 * ```ts
 * const server = createBinanceUsMcpServer({ apiKey: "demo...", restBaseUrl: mock.restUrl, wsBaseUrl: mock.wsUrl });
 * await server.connect(new StdioServerTransport());
 * ```
 */
export function createBinanceUsMcpServer(
  options: BinanceUsConnectorOptions | BinanceUsConnector = {},
): BinanceUsMcpServer {
  return new BinanceUsMcpServer(options);
}
