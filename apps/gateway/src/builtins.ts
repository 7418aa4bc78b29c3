import { randomBytes } from "node:crypto";
import {
  type BinanceUsConnector,
  createBinanceUsConnector,
  createBinanceUsMcpServer,
} from "@toolgate/binance-us/mcp";
import { type BinanceUsMock, startBinanceUsMock } from "@toolgate/binance-us/mock";
import { GatewayError } from "./errors.js";
import type { BuiltinFactory, BuiltinUpstream } from "./gateway.js";

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A 64-character key in the exchange's API-key format, for the mock. */
function demoExchangeKey(): string {
  const bytes = randomBytes(64);
  let out = "";
  for (const b of bytes) out += ALNUM[b % ALNUM.length];
  return out;
}

/**
 * Starts the built-in `binance-us` upstream: the Binance.US tools as an in-process MCP
 * server (no network hop). Without `BINANCE_US_API_KEY` it also starts the mock exchange
 * in-process with a generated demo key, so the demo works offline; with it, the tools talk
 * to the real exchange (`BINANCE_US_API_SECRET` optional, only for signed resync calls;
 * `BINANCE_US_REST_URL` / `BINANCE_US_WS_URL` point them elsewhere).
 * All sessions share one connector: Binance allows one listen key per account anyway.
 */
export const binanceBuiltin: BuiltinFactory = async (entry, { env }) => {
  if (entry.builtin !== "binance-us") {
    throw new GatewayError("CONFIG_INVALID", `unknown built-in upstream "${entry.builtin}"`, [
      {
        path: "upstreams",
        message: `builtin: ${entry.builtin} does not exist`,
        fix: 'use builtin: "binance-us"',
      },
    ]);
  }
  let mock: BinanceUsMock | undefined;
  let connector: BinanceUsConnector;
  let description: string;
  const realKey = env.BINANCE_US_API_KEY;
  if (realKey) {
    // Base URLs may be overridden (a proxy, a staging exchange, or the mock run on its own
    // with a key of yours); the defaults are the real exchange.
    const restBaseUrl = env.BINANCE_US_REST_URL || undefined;
    const wsBaseUrl = env.BINANCE_US_WS_URL || undefined;
    connector = createBinanceUsConnector({
      env,
      managedStream: "lazy",
      ...(restBaseUrl ? { restBaseUrl } : {}),
      ...(wsBaseUrl ? { wsBaseUrl } : {}),
    });
    description = restBaseUrl
      ? `Binance.US     the exchange at ${restBaseUrl} (BINANCE_US_REST_URL)`
      : "Binance.US      the real exchange (BINANCE_US_API_KEY is set)";
  } else {
    const apiKey = demoExchangeKey();
    mock = await startBinanceUsMock({ port: 0, apiKeys: { [apiKey]: {} } });
    connector = createBinanceUsConnector({
      apiKey,
      env: {},
      restBaseUrl: mock.restUrl,
      wsBaseUrl: mock.wsUrl,
      managedStream: "lazy",
    });
    description = `Binance.US     mock exchange at ${mock.restUrl} (set BINANCE_US_API_KEY for the real one)`;
  }
  const timers: NodeJS.Timeout[] = [];
  const builtin: BuiltinUpstream = {
    upstream: { name: entry.name, server: () => createBinanceUsMcpServer(connector) },
    description,
    onReconnect(listener) {
      // The managed stream starts lazily; poll its status instead of starting it here.
      let seen = 0;
      const t = setInterval(() => {
        if (!connector.streamStarted) return;
        const n = connector.stream()?.status().reconnects ?? 0;
        for (; seen < n; seen++) listener();
      }, 5_000);
      t.unref();
      timers.push(t);
    },
    async close() {
      for (const t of timers) clearInterval(t);
      await connector.close();
      await mock?.close();
    },
  };
  return builtin;
};
