import type { z } from "zod";
import { TypedEmitter } from "./emitter.js";
import { BinanceUsError } from "./errors.js";
import { EventBuffer, type EventPage } from "./event-buffer.js";
import type { ParsedUserDataEvent } from "./events.js";
import { ListenKeyManager, type ListenKeyManagerEvents } from "./listen-key-manager.js";
import { createRedactingLogger, type Logger, maskListenKey, silentLogger } from "./logger.js";
import { BinanceUsRestClient, optionsError } from "./rest-client.js";
import { wsWebSocketFactory } from "./socket.js";
import { DedupeWindow } from "./stream-gaps.js";
import { StreamRuntime } from "./stream-runtime.js";
import {
  type StreamGap,
  type UserDataStreamEvents,
  type UserDataStreamOptions,
  UserDataStreamOptionsSchema,
  type UserDataStreamStatus,
} from "./stream-types.js";
import { systemScheduler } from "./time.js";
import { BinanceUsWsApiClient } from "./ws-api-client.js";

export {
  type ResyncSnapshot,
  type StreamGap,
  type UserDataEntry,
  type UserDataStreamEvents,
  type UserDataStreamOptions,
  UserDataStreamOptionsSchema,
  type UserDataStreamStatus,
} from "./stream-types.js";

/**
 * A Binance.US user-data stream that does not silently lose events.
 *
 * - Keeps the listen key alive through a {@link ListenKeyManager} (one timer per key).
 * - Answers server pings and runs its own ping watchdog: a socket silent for
 *   `watchdog.deadAfterMs` is terminated, instead of waiting the server's 10 minutes.
 * - Reconnects with capped exponential backoff and full jitter, re-POSTing for the key
 *   before every attempt, and never sooner than a `Retry-After`.
 * - Rotates before the 24 h cut: the new socket is up before the old one closes; events
 *   seen on both are delivered once (bounded de-duplication window).
 * - Handles `listenKeyExpired` and plain server closes; -2014/-2015 end the stream with
 *   `fatal`.
 * - Optionally resyncs from the signed account snapshot after every (re)connect.
 * - `close()` leaves no timer or socket behind.
 *
 * @example
 * ```ts
 * const stream = new UserDataStream({ apiKey: process.env.BINANCE_US_API_KEY! });
 * stream.on("event", ({ cursor, event }) => console.log(cursor, event.kind));
 * await stream.start();
 * ```
 */
export class UserDataStream {
  readonly #rt: StreamRuntime;
  readonly #ownsWsApi: boolean;

  constructor(options: UserDataStreamOptions) {
    const parsed = UserDataStreamOptionsSchema.safeParse(options);
    if (!parsed.success) throw optionsError(parsed.error);
    const o = parsed.data;
    const now = o.now ?? Date.now;
    const scheduler = o.scheduler ?? systemScheduler;
    const random = o.random ?? Math.random;
    const factory = o.webSocketFactory ?? wsWebSocketFactory;
    const held: { keys?: ListenKeyManager } = {};
    const logger = createRedactingLogger(o.logger ?? silentLogger, {
      secrets: () => [o.apiKey, o.apiSecret],
      listenKeys: () => held.keys?.knownKeys ?? [],
    });
    const rest = o.restClient ?? restClientFor(o, now, logger);
    this.#ownsWsApi = o.listenKeyTransport === "ws-api" && o.wsApiClient === undefined;
    const wsApi =
      o.listenKeyTransport === "ws-api"
        ? (o.wsApiClient ??
          new BinanceUsWsApiClient({
            ...wsApiOptionsOf(o),
            now,
            scheduler,
            random,
            webSocketFactory: factory,
            logger,
          }))
        : undefined;
    const keys = new ListenKeyManager({
      api: wsApi ?? rest,
      keepaliveIntervalMs: o.keepaliveIntervalMs,
      keepaliveJitterMs: o.keepaliveJitterMs,
      backoff: o.backoff,
      ownsStream: o.ownsStream,
      now,
      scheduler,
      random,
      logger,
    });
    held.keys = keys;
    this.#rt = new StreamRuntime({
      o,
      now,
      scheduler,
      random,
      factory,
      logger,
      rest,
      wsApi,
      keys,
      resync: o.resync ?? o.apiSecret !== undefined,
      buffer: new EventBuffer({ size: o.buffer.size, overflow: o.buffer.overflow }),
      seen: new DedupeWindow(o.dedupeWindow),
      emitter: new TypedEmitter((error) => logger.error("user-data listener threw", { error })),
    });
    this.#rt.keys.on("keyChanged", (change) => this.#onKeyChanged(change));
    this.#rt.keys.on("fatal", (error) => this.#rt.fail(error));
    // A keepalive that succeeds while connected ends the trouble the last error described.
    this.#rt.keys.on("keepalive", () => {
      if (this.#rt.primary?.state === "open") this.#rt.lastError = undefined;
    });
    this.#rt.keys.on("retrying", ({ error }) => this.#rt.warn(error.code, error.message));
  }

  /** The manager has a different key: report it, and move or drop sockets on the old one. */
  #onKeyChanged({ previous, listenKey, reason }: ListenKeyManagerEvents["keyChanged"]): void {
    // Re-created while a socket is still open on the old key: the exchange ended that key
    // under the socket (it may keep such a socket open and silent), so nothing arrived
    // since the key lapsed. Report that as a gap from the last known validity; it closes
    // when the socket on the new key is up.
    const primary = this.#rt.primary;
    if (reason === "recreated" && primary?.state === "open" && primary.key === previous) {
      const lapsed = this.#rt.keys.status().keyValidUntil ?? this.#rt.now();
      this.#rt.openGap(
        Math.min(lapsed, this.#rt.now()),
        "listen key ended on the exchange while its socket stayed open",
      );
    }
    this.#rt.emitter.emit("keyChanged", {
      previousMasked: maskListenKey(previous),
      listenKeyMasked: maskListenKey(listenKey),
    });
    // A socket still opening on the old key would land on a dead key (the exchange may
    // accept the upgrade and then send nothing): drop it and open on the new key instead.
    const stale = this.#rt.pending?.key === listenKey ? undefined : this.#rt.pending;
    if (stale) {
      this.#rt.pending = undefined;
      this.#rt.retire(stale, undefined, "key changed while opening");
    }
    if (this.#rt.connectInFlight) return;
    // A keepalive found the key gone and re-created it: move the socket over without a gap.
    if (this.#rt.primary && this.#rt.primary.key !== listenKey) void this.#rt.connect("keyChanged");
    else if (stale && !this.#rt.primary) void this.#rt.connect("reconnect");
  }

  /** Subscribe to stream events; returns an unsubscribe function. */
  on<K extends keyof UserDataStreamEvents>(
    event: K,
    listener: (payload: UserDataStreamEvents[K]) => void,
  ): () => void {
    return this.#rt.emitter.on(event, listener);
  }

  /**
   * Starts the stream (idempotent). Resolves on the first connection; rejects with the
   * fatal error (also when called after one: use `restart()` to try again) or `CLOSED`. Transient failures keep retrying in the background.
   */
  start(): Promise<void> {
    if (this.#rt.state === "failed" && this.#rt.fatalError) {
      return Promise.reject(this.#rt.fatalError);
    }
    if (this.#rt.state === "closed") {
      return Promise.reject(
        new BinanceUsError("CLOSED", "user-data stream is closed; create a new one"),
      );
    }
    if (this.#rt.startPromise) return this.#rt.startPromise;
    this.#rt.startPromise = new Promise<void>((resolve, reject) => {
      this.#rt.startSettle = { resolve, reject };
    });
    this.#rt.startPromise.catch(() => {});
    this.#rt.state = "connecting";
    void this.#rt.connect("initial");
    return this.#rt.startPromise;
  }

  /**
   * Starts again after a fatal error (-2014/-2015), for when the cause may have been fixed
   * outside this process (IP whitelist, key permissions). Resets the backoff and POSTs
   * afresh; buffered events and cursors are kept. Behaves like `start()` unless the stream
   * failed; rejects with `CLOSED` after `close()`.
   *
   * @example
   * ```ts
   * if (stream.status().state === "failed") await stream.restart();
   * ```
   */
  restart(): Promise<void> {
    if (this.#rt.state !== "failed") return this.start();
    this.#rt.keys.reset();
    this.#rt.startPromise = undefined;
    this.#rt.failedAt = undefined;
    this.#rt.fatalError = undefined;
    this.#rt.attempt = 0;
    this.#rt.swapAttempt = 0;
    this.#rt.state = "idle";
    this.#rt.logger.info("user-data stream restarting after a fatal error", {
      code: this.#rt.lastError?.code,
    });
    return this.start();
  }

  /** Buffered events after `cursor`, at most `limit`, with overflow information. */
  events(cursor = 0, limit = 100): EventPage<ParsedUserDataEvent> {
    return this.#rt.buffer.since(cursor, limit);
  }

  /**
   * Times no event could arrive after `cursor` (the last 100 kept), oldest
   * first: events the exchange sent during a gap never arrive, so a reader that sees one
   * should rebuild its view from the account snapshot.
   */
  gaps(cursor = 0): StreamGap[] {
    return this.#rt.gaps.after(cursor);
  }

  /** The current listen key, if any (a credential: do not log it). */
  get listenKey(): string | undefined {
    return this.#rt.keys.listenKey;
  }

  /** Status snapshot. */
  status(): UserDataStreamStatus {
    const keys = this.#rt.keys.status();
    const now = this.#rt.now();
    return {
      state: this.#rt.state,
      connected: this.#rt.primary?.state === "open",
      connectedSince: this.#rt.connectedSince,
      listenKeyMasked: keys.listenKeyMasked,
      keyAgeMs: keys.keyObtainedAt === undefined ? undefined : now - keys.keyObtainedAt,
      lastKeepaliveAt: keys.lastKeepaliveAt,
      nextKeepaliveAt: keys.nextKeepaliveAt,
      reconnects: this.#rt.reconnects,
      rotations: this.#rt.rotations,
      reconnectAttempt: this.#rt.primary?.state === "open" ? 0 : this.#rt.attempt,
      lastEventAt: this.#rt.lastEventAt,
      lastCursor: this.#rt.buffer.lastCursor,
      bufferedEvents: this.#rt.buffer.length,
      droppedEvents: this.#rt.buffer.droppedTotal,
      usedWeight1m: this.#rt.wsApi?.usedWeight1m ?? this.#rt.rest.usedWeight1m,
      listenKeyTransport: this.#rt.o.listenKeyTransport,
      wsApi: this.#rt.wsApi?.status(),
      lastError: this.#rt.lastError,
      failedAt: this.#rt.failedAt,
      lastDisconnect: this.#rt.lastDisconnect,
      nextReconnectAt: this.#rt.nextReconnectAt,
      keyValidUntil: keys.keyValidUntil,
      keepaliveFailingSince: keys.failingSince,
    };
  }

  /**
   * Stops everything: timers, sockets, keepalive. DELETEs the listen key only when
   * `ownsStream` is true. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#rt.state === "closed") return;
    this.#rt.teardown();
    this.#rt.state = "closed";
    this.#rt.startSettle?.reject(new BinanceUsError("CLOSED", "user-data stream closed"));
    this.#rt.startSettle = undefined;
    await this.#rt.keys.close();
    if (this.#ownsWsApi) this.#rt.wsApi?.close();
    this.#rt.emitter.clear();
  }
}

/** The REST client a stream builds when none is injected. */
function restClientFor(
  o: z.output<typeof UserDataStreamOptionsSchema>,
  now: () => number,
  logger: Logger,
): BinanceUsRestClient {
  return new BinanceUsRestClient({
    apiKey: o.apiKey,
    apiSecret: o.apiSecret,
    restBaseUrl: o.restBaseUrl,
    requestTimeoutMs: o.requestTimeoutMs,
    recvWindowMs: o.recvWindowMs,
    now,
    fetch: o.fetch,
    logger,
  });
}

/**
 * The WebSocket API client settings a stream (or connector) derives from its own options:
 * same key, timeout, watchdog and backoff as the stream socket.
 */
export function wsApiOptionsOf(o: z.output<typeof UserDataStreamOptionsSchema>) {
  return {
    apiKey: o.apiKey,
    wsApiUrl: o.wsApiUrl,
    requestTimeoutMs: o.requestTimeoutMs,
    watchdog: o.watchdog,
    backoff: o.backoff,
  };
}
