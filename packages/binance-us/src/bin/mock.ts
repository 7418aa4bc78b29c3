#!/usr/bin/env node
/**
 * Runs the Binance.US mock exchange on its own, for the offline demo and manual poking.
 *
 *   mock --host 127.0.0.1 --port 9443 --api-key KEY[:SECRET] [--api-key ...] [--fake-clock]
 *
 * Prints the REST/WebSocket URLs and the control API; SIGINT/SIGTERM close it cleanly.
 */
import { parseArgs } from "node:util";
import {
  BinanceUsMockError,
  CONTROL_ROUTES,
  createMockClock,
  type MockLogger,
  maskApiKey,
  startBinanceUsMock,
} from "../mock/index.js";

const USAGE = `Usage: binance-us-mock [options]
  --host <host>             interface to listen on (default 127.0.0.1)
  --port <port>             port, 0 for a free one (default 0)
  --api-key <KEY[:SECRET]>  accept this API key (repeatable); a SECRET enables the signed
                            /api/v3/account and /api/v3/openOrders. Without any --api-key,
                            every well-formed key (64 letters/digits) is accepted.
  --key-validity-ms <ms>    listen key validity (default 3600000)
  --ping-interval-ms <ms>   server ping interval (default 180000)
  --pong-timeout-ms <ms>    disconnect without pong after (default 600000)
  --max-age-ms <ms>         connection cut (default 86400000)
  --fake-clock              time moves only via POST /__mock/clock/advance
  --verbose                 log every request (API keys masked)
  --help`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function intOption(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) fail(`--${name} must be an integer, got "${raw}"`);
  return n;
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions();
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const apiKeys: Record<string, { secret?: string }> = {};
  for (const spec of values["api-key"] ?? []) {
    const at = spec.indexOf(":");
    const key = at < 0 ? spec : spec.slice(0, at);
    const secret = at < 0 ? undefined : spec.slice(at + 1);
    if (key === "") fail("--api-key needs a key before the colon: --api-key KEY[:SECRET]");
    apiKeys[key] = secret ? { secret } : {};
  }
  const verbose = values.verbose === true;
  const write = (level: string, fields: Record<string, unknown>, msg?: string): void => {
    process.stderr.write(`${JSON.stringify({ level, msg, ...fields })}\n`);
  };
  const logger: MockLogger = {
    info: (f, m) => write("info", f, m),
    warn: (f, m) => write("warn", f, m),
    ...(verbose ? { debug: (f: Record<string, unknown>, m?: string) => write("debug", f, m) } : {}),
  };
  const clock = values["fake-clock"] ? createMockClock(Date.now()) : undefined;
  const options = {
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(values.port !== undefined ? { port: intOption("port", values.port) } : {}),
    ...(Object.keys(apiKeys).length > 0 ? { apiKeys } : {}),
    ...(values["key-validity-ms"] !== undefined
      ? { keyValidityMs: intOption("key-validity-ms", values["key-validity-ms"]) }
      : {}),
    ...(values["ping-interval-ms"] !== undefined
      ? { pingIntervalMs: intOption("ping-interval-ms", values["ping-interval-ms"]) }
      : {}),
    ...(values["pong-timeout-ms"] !== undefined
      ? { pongTimeoutMs: intOption("pong-timeout-ms", values["pong-timeout-ms"]) }
      : {}),
    ...(values["max-age-ms"] !== undefined
      ? { connectionMaxAgeMs: intOption("max-age-ms", values["max-age-ms"]) }
      : {}),
    ...(clock ? { clock } : {}),
    logger,
  };

  let mock: Awaited<ReturnType<typeof startBinanceUsMock>>;
  try {
    mock = await startBinanceUsMock(options);
  } catch (err) {
    if (err instanceof BinanceUsMockError) fail(err.message);
    throw err;
  }

  const keys = Object.entries(apiKeys).map(
    ([k, v]) => `${maskApiKey(k)}${v.secret ? " (with secret)" : ""}`,
  );
  process.stdout.write(
    [
      "Binance.US mock exchange",
      `  REST:      ${mock.restUrl}/api/v3/userDataStream`,
      `  WebSocket: ${mock.wsUrl}/ws/<listenKey>   combined: ${mock.wsUrl}/stream?streams=<listenKey>`,
      `  API keys:  ${keys.length > 0 ? keys.join(", ") : "any well-formed key"}`,
      `  Clock:     ${clock ? "fake (POST /__mock/clock/advance)" : "real time"}`,
      `  Control API (${mock.restUrl}):`,
      ...CONTROL_ROUTES.map((r) => `    ${r}`),
      "",
    ].join("\n"),
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    write("info", { signal }, "closing mock exchange");
    void mock.close().then(() => process.exit(0));
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

function parseOptions() {
  return parseArgs({
    options: {
      host: { type: "string" },
      port: { type: "string" },
      "api-key": { type: "string", multiple: true },
      "key-validity-ms": { type: "string" },
      "ping-interval-ms": { type: "string" },
      "pong-timeout-ms": { type: "string" },
      "max-age-ms": { type: "string" },
      "fake-clock": { type: "boolean" },
      verbose: { type: "boolean" },
      help: { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
}

void main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
