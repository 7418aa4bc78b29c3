#!/usr/bin/env node
import { parseArgs } from "node:util";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createBinanceUsConnector } from "../connector.js";
import { isBinanceUsError } from "../errors.js";
import { startBinanceUsHttpServer } from "../http.js";
import { createJsonLogger, createRedactingLogger, type LogLevel } from "../logger.js";
import { BinanceUsMcpServer } from "../server.js";

const USAGE = `binance-us-mcp-server — the binance_us_* MCP tools over stdio or Streamable HTTP

Usage:
  binance-us-mcp-server [--stdio]                      serve on stdin/stdout (default)
  binance-us-mcp-server --http [--host H] [--port N]   serve at http://H:N/mcp

Options:
  --rest-url URL          REST base (default https://api.binance.us)
  --ws-url URL            WebSocket base (default wss://stream.binance.us:9443)
  --listen-key-transport T  rest (default) | ws-api: manage the listen key over the WebSocket API
  --ws-api-url URL        WebSocket API (default wss://ws-api.binance.us:443/ws-api/v3)
  --managed-stream MODE   lazy (default) | eager | off
  --owns-stream           DELETE the listen key on shutdown (only if nothing else uses it)
  --log-level LEVEL       debug | info | warn | error (default info; logs go to stderr)

Environment: BINANCE_US_API_KEY (required), BINANCE_US_API_SECRET (optional, enables resync).`;

function oneOf<T extends string>(value: string, allowed: readonly T[]): value is T {
  return (allowed as readonly string[]).includes(value);
}

/** The command line, checked; undefined for --help. */
function parseCli() {
  const { values } = parseArgs({
    options: {
      stdio: { type: "boolean" },
      http: { type: "boolean" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "3333" },
      "rest-url": { type: "string" },
      "ws-url": { type: "string" },
      "listen-key-transport": { type: "string" },
      "ws-api-url": { type: "string" },
      "managed-stream": { type: "string", default: "lazy" },
      "owns-stream": { type: "boolean", default: false },
      "log-level": { type: "string", default: "info" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const level = values["log-level"] as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(level)) {
    throw new Error(`--log-level must be debug, info, warn or error (got ${level})`);
  }
  const mode = values["managed-stream"];
  if (!oneOf(mode, ["lazy", "eager", "off"] as const)) {
    throw new Error(`--managed-stream must be lazy, eager or off (got ${mode})`);
  }
  const transport = values["listen-key-transport"];
  if (transport !== undefined && !oneOf(transport, ["rest", "ws-api"] as const)) {
    throw new Error(`--listen-key-transport must be rest or ws-api (got ${transport})`);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`--port must be an integer 0-65535 (got ${values.port})`);
  }
  return { values, level, mode, transport, port };
}

async function main(): Promise<void> {
  const cli = parseCli();
  if (cli === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { values, level, mode, transport, port } = cli;
  const logger = createRedactingLogger(createJsonLogger({ level }), {
    secrets: () => [process.env.BINANCE_US_API_KEY, process.env.BINANCE_US_API_SECRET],
  });
  const connector = createBinanceUsConnector({
    ...(values["rest-url"] ? { restBaseUrl: values["rest-url"] } : {}),
    ...(values["ws-url"] ? { wsBaseUrl: values["ws-url"] } : {}),
    ...(values["ws-api-url"] ? { wsApiUrl: values["ws-api-url"] } : {}),
    ...(transport ? { listenKeyTransport: transport } : {}),
    managedStream: mode,
    ownsStream: values["owns-stream"],
    logger,
  });

  let stop: () => Promise<void>;
  if (values.http) {
    const http = await startBinanceUsHttpServer(connector, { host: values.host, port, logger });
    logger.info("binance-us MCP server listening", { url: http.url });
    stop = async () => {
      await http.close();
      await connector.close();
    };
  } else {
    const server = new BinanceUsMcpServer(connector);
    const transport = new StdioServerTransport();
    await server.connect(transport);
    logger.info("binance-us MCP server on stdio");
    stop = async () => {
      await server.close();
      await connector.close();
    };
    process.stdin.on("end", () => void shutdown());
  }

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown());
  process.on("SIGTERM", () => void shutdown());
}

main().catch((error: unknown) => {
  const message = isBinanceUsError(error)
    ? `${error.code}: ${error.message}`
    : error instanceof Error
      ? error.message
      : String(error);
  process.stderr.write(`binance-us-mcp-server: ${message}\n\n${USAGE}\n`);
  process.exit(1);
});
