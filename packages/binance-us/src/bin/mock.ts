#!/usr/bin/env node
/**
 * Runs the Binance.US mock exchange on its own, for the offline demo, manual poking and
 * bots written in any language. Every option of the mock has a flag (`--help` lists them);
 * the same options can be changed at run time with `PUT /__mock/options`.
 *
 * Prints the REST/WebSocket URLs and the control API; SIGINT/SIGTERM close it cleanly.
 */
import { type MockCli, mockUsage, parseMockArgs } from "../mock/cli.js";
import {
  BinanceUsMockError,
  CONTROL_ROUTES,
  createMockClock,
  type MockLogger,
  maskApiKey,
  startBinanceUsMock,
} from "../mock/index.js";

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${mockUsage()}\n`);
  process.exit(2);
}

function loggerFor(verbose: boolean): MockLogger {
  const write = (level: string, fields: Record<string, unknown>, msg?: string): void => {
    process.stderr.write(`${JSON.stringify({ level, msg, ...fields })}\n`);
  };
  return {
    info: (f, m) => write("info", f, m),
    warn: (f, m) => write("warn", f, m),
    ...(verbose ? { debug: (f: Record<string, unknown>, m?: string) => write("debug", f, m) } : {}),
  };
}

async function main(): Promise<void> {
  let cli: MockCli;
  try {
    cli = parseMockArgs(process.argv.slice(2));
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  if (cli.help) {
    process.stdout.write(`${mockUsage()}\n`);
    return;
  }
  const logger = loggerFor(cli.verbose);
  const clock = cli.fakeClock ? createMockClock(Date.now()) : undefined;
  let mock: Awaited<ReturnType<typeof startBinanceUsMock>>;
  try {
    mock = await startBinanceUsMock({
      ...(cli.host !== undefined ? { host: cli.host } : {}),
      ...(cli.port !== undefined ? { port: cli.port } : {}),
      ...(Object.keys(cli.apiKeys).length > 0 ? { apiKeys: cli.apiKeys } : {}),
      ...cli.tunables,
      ...(clock ? { clock } : {}),
      logger,
    });
    for (const f of cli.faults) mock.control.injectError(f);
  } catch (err) {
    if (err instanceof BinanceUsMockError) fail(err.message);
    throw err;
  }

  const keys = Object.entries(cli.apiKeys).map(
    ([k, v]) => `${maskApiKey(k)}${v.secret ? " (with secret)" : ""}`,
  );
  process.stdout.write(
    [
      "Binance.US mock exchange",
      `  REST:      ${mock.restUrl}/api/v3/userDataStream (also exchangeInfo, order, openOrders, account)`,
      `  WebSocket: ${mock.wsUrl}/ws/<listenKey>   combined: ${mock.wsUrl}/stream?streams=<listenKey>`,
      `  WS API:    ${mock.wsApiUrl}   (userDataStream.start/ping/stop, ping, time)`,
      `  API keys:  ${keys.length > 0 ? keys.join(", ") : "any well-formed key"}`,
      `  Clock:     ${clock ? "fake (POST /__mock/clock/advance)" : "real time"}`,
      `  Options:   ${JSON.stringify(mock.control.options())}`,
      `  Control API (${mock.restUrl}):`,
      ...CONTROL_ROUTES.map((r) => `    ${r}`),
      "",
    ].join("\n"),
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "closing mock exchange");
    void mock.close().then(() => process.exit(0));
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

void main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
