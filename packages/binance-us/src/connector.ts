import { BinanceUsError } from "./errors.js";
import type { ListenKeyApi } from "./listen-key-manager.js";
import { createRedactingLogger, type Logger, silentLogger } from "./logger.js";
import { BinanceUsRestClient, optionsError } from "./rest-client.js";
import {
  UserDataStream,
  type UserDataStreamOptions,
  UserDataStreamOptionsSchema,
  wsApiOptionsOf,
} from "./user-data-stream.js";
import { BinanceUsWsApiClient } from "./ws-api-client.js";

/**
 * Options of {@link createBinanceUsConnector} / {@link registerBinanceUsTools}: the
 * {@link UserDataStream} options with `apiKey` optional (falls back to `env`), plus when to
 * start the managed stream.
 */
export type BinanceUsConnectorOptions = Omit<UserDataStreamOptions, "apiKey"> & {
  apiKey?: string;
  /** Where `BINANCE_US_API_KEY` / `BINANCE_US_API_SECRET` are read from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * `lazy` (default): the managed stream starts on the first status/events call.
   * `eager`: it starts when the connector is created. `off`: the two stream tools report
   * that the managed stream is disabled.
   */
  managedStream?: "lazy" | "eager" | "off";
  /**
   * After a fatal error (-2014/-2015) the managed stream stays stopped; the first
   * status/events call at least this long after the failure restarts it, in case the cause
   * (IP whitelist, key permissions) was fixed on the exchange. Default 60 s, so agents
   * polling often cost at most one weight-1 POST a minute. `connector.restart()` retries at
   * once.
   */
  fatalRetryAfterMs?: number;
};

/**
 * The shared state behind the tools: one REST client (one `Retry-After` gate) and one
 * lazily started managed stream. Several MCP sessions can share one connector, which is
 * what you want: Binance allows one listen key per account anyway.
 */
export interface BinanceUsConnector {
  readonly rest: BinanceUsRestClient;
  /**
   * The listen-key calls the tools make: the REST client, or the WebSocket API client when
   * `listenKeyTransport` is `ws-api` (one connection shared with the managed stream).
   */
  readonly listenKeys: ListenKeyApi;
  /** Which API manages listen keys. */
  readonly listenKeyTransport: "rest" | "ws-api";
  readonly managedStream: "lazy" | "eager" | "off";
  /** The connector's clock (options.now, else `Date.now`). */
  readonly now: () => number;
  /** The managed stream, started on first use. Undefined when `managedStream` is `off`. */
  stream(): UserDataStream | undefined;
  /** Whether the managed stream has been started. */
  readonly streamStarted: boolean;
  /**
   * Epoch ms from which a status/events call restarts a stream stopped by a fatal error;
   * undefined unless the stream is in state `failed`.
   */
  retryAt(): number | undefined;
  /**
   * Restarts the managed stream now (after a fatal error, once its cause is fixed), or
   * starts it if it never ran. Resolves on connection, rejects with the typed error.
   */
  restart(): Promise<void>;
  /** Closes the managed stream (no DELETE unless `ownsStream`). */
  close(): Promise<void>;
}

/** Validates the connector's options now, so a bad configuration fails at start-up. */
function connectorSettings(options: BinanceUsConnectorOptions) {
  const env = options.env ?? process.env;
  const { env: _env, managedStream: mode = "lazy", fatalRetryAfterMs = 60_000, ...rest } = options;
  if (!Number.isFinite(fatalRetryAfterMs) || fatalRetryAfterMs < 0) {
    throw new BinanceUsError(
      "OPTIONS_INVALID",
      "invalid options: fatalRetryAfterMs must be a number of milliseconds >= 0",
    );
  }
  const streamOptions: UserDataStreamOptions = {
    ...rest,
    apiKey: options.apiKey ?? env.BINANCE_US_API_KEY ?? "",
    apiSecret: options.apiSecret ?? (env.BINANCE_US_API_SECRET || undefined),
  };
  const parsed = UserDataStreamOptionsSchema.safeParse(streamOptions);
  if (!parsed.success) {
    if (!streamOptions.apiKey) {
      throw new BinanceUsError(
        "OPTIONS_INVALID",
        "apiKey is missing: pass options.apiKey or set BINANCE_US_API_KEY",
      );
    }
    throw optionsError(parsed.error);
  }
  return { mode, fatalRetryAfterMs, streamOptions, parsed: parsed.data };
}

/**
 * Builds a connector, validating the options now so a bad configuration fails at start-up.
 *
 * @example
 * ```ts
 * const connector = createBinanceUsConnector({ restBaseUrl: mock.restUrl, wsBaseUrl: mock.wsUrl, apiKey });
 * ```
 */
export function createBinanceUsConnector(
  options: BinanceUsConnectorOptions = {},
): BinanceUsConnector {
  const { mode, fatalRetryAfterMs, streamOptions, parsed: o } = connectorSettings(options);
  const now = options.now ?? Date.now;
  const logger: Logger = createRedactingLogger(options.logger ?? silentLogger, {
    secrets: () => [streamOptions.apiKey, streamOptions.apiSecret],
  });
  const restClient =
    options.restClient ??
    new BinanceUsRestClient({
      apiKey: streamOptions.apiKey,
      apiSecret: streamOptions.apiSecret,
      restBaseUrl: options.restBaseUrl,
      requestTimeoutMs: options.requestTimeoutMs,
      recvWindowMs: options.recvWindowMs,
      now: options.now,
      fetch: options.fetch,
      logger,
    });
  const wsApiClient =
    o.listenKeyTransport === "ws-api"
      ? new BinanceUsWsApiClient({
          ...wsApiOptionsOf(o),
          now: options.now,
          scheduler: options.scheduler,
          random: options.random,
          webSocketFactory: options.webSocketFactory,
          logger,
        })
      : undefined;
  let stream: UserDataStream | undefined;
  let closed = false;
  // Failures are reported by status() (state "failed", lastError), not by these promises.
  const ignore = () => {};
  const retryAt = (): number | undefined => {
    const failedAt = stream?.status().failedAt;
    return failedAt === undefined ? undefined : failedAt + fatalRetryAfterMs;
  };
  const connector: BinanceUsConnector = {
    rest: restClient,
    listenKeys: wsApiClient ?? restClient,
    listenKeyTransport: o.listenKeyTransport,
    managedStream: mode,
    now,
    get streamStarted() {
      return stream !== undefined;
    },
    stream() {
      if (mode === "off" || closed) return stream;
      if (!stream) {
        stream = new UserDataStream({ ...streamOptions, restClient, wsApiClient, logger });
        stream.start().catch(ignore);
        return stream;
      }
      const at = retryAt();
      if (at !== undefined && now() >= at) stream.restart().catch(ignore);
      return stream;
    },
    retryAt,
    async restart() {
      if (mode === "off") {
        throw new BinanceUsError("CLOSED", "the managed stream is disabled (managedStream: off)");
      }
      if (closed) throw new BinanceUsError("CLOSED", "the connector is closed");
      const current = stream ?? connector.stream();
      await current?.restart();
    },
    async close() {
      closed = true;
      await stream?.close();
      wsApiClient?.close();
    },
  };
  if (mode === "eager") connector.stream();
  return connector;
}
