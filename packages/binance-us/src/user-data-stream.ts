import type { z } from "zod";
import { TypedEmitter } from "./emitter.js";
import { BinanceUsError, toTypedError as toTyped } from "./errors.js";
import { EventBuffer, type EventPage } from "./event-buffer.js";
import { type ParsedUserDataEvent, parseUserDataMessage, userDataEventIdentity } from "./events.js";
import { ListenKeyManager, type ListenKeyManagerEvents } from "./listen-key-manager.js";
import { createRedactingLogger, type Logger, maskListenKey, silentLogger } from "./logger.js";
import { BinanceUsRestClient, type OpenOrder, optionsError } from "./rest-client.js";
import { type StreamSocket, type WebSocketFactory, wsWebSocketFactory } from "./socket.js";
import { DedupeWindow, GapLog } from "./stream-gaps.js";
import {
  type StreamGap,
  type UserDataStreamEvents,
  type UserDataStreamOptions,
  UserDataStreamOptionsSchema,
  type UserDataStreamStatus,
} from "./stream-types.js";
import { fullJitterBackoff, type Scheduler, systemScheduler } from "./time.js";
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

interface Connection {
  id: number;
  key: string;
  socket: StreamSocket | undefined;
  state: "connecting" | "open" | "closed";
  swap: "rotation" | "keyChanged" | undefined;
  openedAt: number;
  lastActivity: number;
  nextPingAt: number;
  watchdogTimer: unknown;
  drainTimer: unknown;
}

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
  readonly #o: z.output<typeof UserDataStreamOptionsSchema>;
  readonly #now: () => number;
  readonly #scheduler: Scheduler;
  readonly #random: () => number;
  readonly #factory: WebSocketFactory;
  readonly #logger: Logger;
  readonly #rest: BinanceUsRestClient;
  readonly #wsApi: BinanceUsWsApiClient | undefined;
  readonly #ownsWsApi: boolean;
  readonly #keys: ListenKeyManager;
  readonly #buffer: EventBuffer<ParsedUserDataEvent>;
  readonly #emitter: TypedEmitter<UserDataStreamEvents>;
  readonly #resync: boolean;
  readonly #seen: DedupeWindow;

  #state: UserDataStreamStatus["state"] = "idle";
  #primary: Connection | undefined;
  #pending: Connection | undefined;
  readonly #draining = new Set<Connection>();
  #connectInFlight = false;
  #nextId = 1;
  #attempt = 0;
  // Failed make-before-break attempts in a row; kept apart from #attempt because the old
  // socket is still up, yet repeated failures must still back off.
  #swapAttempt = 0;
  #reconnectTimer: unknown;
  #rotateTimer: unknown;
  #everConnected = false;
  #reconnects = 0;
  #rotations = 0;
  #connectedSince: number | undefined;
  #lastEventAt: number | undefined;
  #lastError: { code: string; message: string } | undefined;
  #lastDisconnect: { at: number; reason: string } | undefined;
  readonly #gaps = new GapLog();
  #nextReconnectAt: number | undefined;
  #failedAt: number | undefined;
  #fatalError: BinanceUsError | undefined;
  #startPromise: Promise<void> | undefined;
  #startSettle: { resolve: () => void; reject: (e: unknown) => void } | undefined;

  constructor(options: UserDataStreamOptions) {
    const parsed = UserDataStreamOptionsSchema.safeParse(options);
    if (!parsed.success) throw optionsError(parsed.error);
    const o = parsed.data;
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#scheduler = o.scheduler ?? systemScheduler;
    this.#random = o.random ?? Math.random;
    this.#factory = o.webSocketFactory ?? wsWebSocketFactory;
    const keys: { current?: ListenKeyManager } = {};
    this.#logger = createRedactingLogger(o.logger ?? silentLogger, {
      secrets: () => [o.apiKey, o.apiSecret],
      listenKeys: () => keys.current?.knownKeys ?? [],
    });
    this.#rest = o.restClient ?? restClientFor(o, this.#now, this.#logger);
    this.#ownsWsApi = o.listenKeyTransport === "ws-api" && o.wsApiClient === undefined;
    this.#wsApi =
      o.listenKeyTransport === "ws-api"
        ? (o.wsApiClient ??
          new BinanceUsWsApiClient({
            ...wsApiOptionsOf(o),
            now: this.#now,
            scheduler: this.#scheduler,
            random: this.#random,
            webSocketFactory: this.#factory,
            logger: this.#logger,
          }))
        : undefined;
    this.#keys = new ListenKeyManager({
      api: this.#wsApi ?? this.#rest,
      keepaliveIntervalMs: o.keepaliveIntervalMs,
      keepaliveJitterMs: o.keepaliveJitterMs,
      backoff: o.backoff,
      ownsStream: o.ownsStream,
      now: this.#now,
      scheduler: this.#scheduler,
      random: this.#random,
      logger: this.#logger,
    });
    keys.current = this.#keys;
    this.#resync = o.resync ?? o.apiSecret !== undefined;
    this.#buffer = new EventBuffer({ size: o.buffer.size, overflow: o.buffer.overflow });
    this.#seen = new DedupeWindow(o.dedupeWindow);
    this.#emitter = new TypedEmitter((error) =>
      this.#logger.error("user-data listener threw", { error }),
    );
    this.#keys.on("keyChanged", (change) => this.#onKeyChanged(change));
    this.#keys.on("fatal", (error) => this.#fail(error));
    // A keepalive that succeeds while connected ends the trouble the last error described.
    this.#keys.on("keepalive", () => {
      if (this.#primary?.state === "open") this.#lastError = undefined;
    });
    this.#keys.on("retrying", ({ error }) => this.#warn(error.code, error.message));
  }

  /** The manager has a different key: report it, and move or drop sockets on the old one. */
  #onKeyChanged({ previous, listenKey, reason }: ListenKeyManagerEvents["keyChanged"]): void {
    // Re-created while a socket is still open on the old key: the exchange ended that key
    // under the socket (it may keep such a socket open and silent), so nothing arrived
    // since the key lapsed. Report that as a gap from the last known validity; it closes
    // when the socket on the new key is up.
    const primary = this.#primary;
    if (reason === "recreated" && primary?.state === "open" && primary.key === previous) {
      const lapsed = this.#keys.status().keyValidUntil ?? this.#now();
      this.#openGap(
        Math.min(lapsed, this.#now()),
        "listen key ended on the exchange while its socket stayed open",
      );
    }
    this.#emitter.emit("keyChanged", {
      previousMasked: maskListenKey(previous),
      listenKeyMasked: maskListenKey(listenKey),
    });
    // A socket still opening on the old key would land on a dead key (the exchange may
    // accept the upgrade and then send nothing): drop it and open on the new key instead.
    const stale = this.#pending?.key === listenKey ? undefined : this.#pending;
    if (stale) {
      this.#pending = undefined;
      this.#retire(stale, undefined, "key changed while opening");
    }
    if (this.#connectInFlight) return;
    // A keepalive found the key gone and re-created it: move the socket over without a gap.
    if (this.#primary && this.#primary.key !== listenKey) void this.#connect("keyChanged");
    else if (stale && !this.#primary) void this.#connect("reconnect");
  }

  /** Subscribe to stream events; returns an unsubscribe function. */
  on<K extends keyof UserDataStreamEvents>(
    event: K,
    listener: (payload: UserDataStreamEvents[K]) => void,
  ): () => void {
    return this.#emitter.on(event, listener);
  }

  /**
   * Starts the stream (idempotent). Resolves on the first connection; rejects with the
   * fatal error (also when called after one: use `restart()` to try again) or `CLOSED`. Transient failures keep retrying in the background.
   */
  start(): Promise<void> {
    if (this.#state === "failed" && this.#fatalError) {
      return Promise.reject(this.#fatalError);
    }
    if (this.#state === "closed") {
      return Promise.reject(
        new BinanceUsError("CLOSED", "user-data stream is closed; create a new one"),
      );
    }
    if (this.#startPromise) return this.#startPromise;
    this.#startPromise = new Promise<void>((resolve, reject) => {
      this.#startSettle = { resolve, reject };
    });
    this.#startPromise.catch(() => {});
    this.#state = "connecting";
    void this.#connect("initial");
    return this.#startPromise;
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
    if (this.#state !== "failed") return this.start();
    this.#keys.reset();
    this.#startPromise = undefined;
    this.#failedAt = undefined;
    this.#fatalError = undefined;
    this.#attempt = 0;
    this.#swapAttempt = 0;
    this.#state = "idle";
    this.#logger.info("user-data stream restarting after a fatal error", {
      code: this.#lastError?.code,
    });
    return this.start();
  }

  /** Buffered events after `cursor`, at most `limit`, with overflow information. */
  events(cursor = 0, limit = 100): EventPage<ParsedUserDataEvent> {
    return this.#buffer.since(cursor, limit);
  }

  /**
   * Times no event could arrive after `cursor` (the last 100 kept), oldest
   * first: events the exchange sent during a gap never arrive, so a reader that sees one
   * should rebuild its view from the account snapshot.
   */
  gaps(cursor = 0): StreamGap[] {
    return this.#gaps.after(cursor);
  }

  #openGap(at: number, reason: string): void {
    this.#gaps.open(this.#buffer.lastCursor, at, reason);
  }

  #closeGap(at: number): void {
    this.#gaps.close(at);
  }

  /** The current listen key, if any (a credential: do not log it). */
  get listenKey(): string | undefined {
    return this.#keys.listenKey;
  }

  /** Status snapshot. */
  status(): UserDataStreamStatus {
    const keys = this.#keys.status();
    const now = this.#now();
    return {
      state: this.#state,
      connected: this.#primary?.state === "open",
      connectedSince: this.#connectedSince,
      listenKeyMasked: keys.listenKeyMasked,
      keyAgeMs: keys.keyObtainedAt === undefined ? undefined : now - keys.keyObtainedAt,
      lastKeepaliveAt: keys.lastKeepaliveAt,
      nextKeepaliveAt: keys.nextKeepaliveAt,
      reconnects: this.#reconnects,
      rotations: this.#rotations,
      reconnectAttempt: this.#primary?.state === "open" ? 0 : this.#attempt,
      lastEventAt: this.#lastEventAt,
      lastCursor: this.#buffer.lastCursor,
      bufferedEvents: this.#buffer.length,
      droppedEvents: this.#buffer.droppedTotal,
      usedWeight1m: this.#wsApi?.usedWeight1m ?? this.#rest.usedWeight1m,
      listenKeyTransport: this.#o.listenKeyTransport,
      wsApi: this.#wsApi?.status(),
      lastError: this.#lastError,
      failedAt: this.#failedAt,
      lastDisconnect: this.#lastDisconnect,
      nextReconnectAt: this.#nextReconnectAt,
      keyValidUntil: keys.keyValidUntil,
      keepaliveFailingSince: keys.failingSince,
    };
  }

  async #connect(reason: "initial" | "reconnect" | "rotation" | "keyChanged"): Promise<void> {
    if (this.#isStopped() || this.#connectInFlight || this.#pending) return;
    this.#connectInFlight = true;
    let key: string;
    try {
      key = await this.#keys.acquire();
    } catch (error) {
      this.#connectInFlight = false;
      if (this.#isStopped()) return;
      const typed = toTyped(error);
      if (typed.fatal) return this.#fail(typed);
      this.#warn(typed.code, typed.message);
      if (reason === "rotation" || reason === "keyChanged") {
        if (this.#primary) return this.#scheduleRotation(this.#swapBackoff(typed));
      }
      return this.#scheduleReconnect(typed.retryAfterMs ?? 0);
    }
    this.#connectInFlight = false;
    if (this.#isStopped()) return;
    const primaryOpen = this.#primary?.state === "open";
    const swap =
      primaryOpen && (reason === "rotation" || reason === "keyChanged") ? reason : undefined;
    if (primaryOpen && swap === undefined) return;
    if (swap === "keyChanged" && this.#primary?.key === key) return;
    this.#open(key, swap);
  }

  #open(key: string, swap: Connection["swap"]): void {
    const now = this.#now();
    const conn: Connection = {
      id: this.#nextId++,
      key,
      socket: undefined,
      state: "connecting",
      swap,
      openedAt: now,
      lastActivity: now,
      nextPingAt: now,
      watchdogTimer: undefined,
      drainTimer: undefined,
    };
    this.#pending = conn;
    const base = this.#o.wsBaseUrl.replace(/\/+$/, "");
    this.#logger.debug("opening user-data socket", {
      conn: conn.id,
      listenKey: maskListenKey(key),
      swap,
    });
    try {
      conn.socket = this.#factory(`${base}/ws/${key}`, {
        onOpen: () => this.#onOpen(conn),
        onMessage: (text) => this.#onMessage(conn, text),
        onPing: (data) => {
          conn.lastActivity = this.#now();
          conn.socket?.pong(data);
        },
        onPong: () => {
          conn.lastActivity = this.#now();
        },
        onClose: (code, why) =>
          this.#onSocketGone(
            conn,
            // 1006 is never sent on the wire: it means the TCP connection ended without a
            // close frame, so "closed by server" would not be true.
            code === 1006
              ? "connection lost without a close frame (1006)"
              : `closed by server (${code}${why ? ` ${why}` : ""})`,
          ),
        onError: (error) => this.#onSocketGone(conn, `socket error: ${error.message}`),
      });
    } catch (error) {
      this.#onSocketGone(
        conn,
        `socket factory failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  #onOpen(conn: Connection): void {
    if (conn.state !== "connecting") return;
    if (this.#isStopped()) {
      conn.state = "closed";
      conn.socket?.close(1000, "closing");
      return;
    }
    const now = this.#now();
    conn.state = "open";
    conn.openedAt = now;
    conn.lastActivity = now;
    conn.nextPingAt = now + this.#o.watchdog.pingIntervalMs;
    if (this.#pending === conn) this.#pending = undefined;
    this.#armWatchdog(conn);

    const old = this.#primary;
    this.#primary = conn;
    this.#state = "connected";
    this.#scheduleRotation(this.#o.rotateAfterMs);
    // The key changed while this socket was opening (a keepalive found the old one gone):
    // the move to the new key was skipped because this socket was pending, so make it now,
    // or the stream would sit on a dead key that may never send a frame again.
    const current = this.#keys.listenKey;
    if (current !== undefined && current !== conn.key) {
      queueMicrotask(() => void this.#connect("keyChanged"));
    }
    if (old && old.state === "open" && conn.swap) {
      // Make before break: keep the old socket a little longer so events already in flight
      // on it still arrive; duplicates are removed by the de-duplication window.
      this.#draining.add(old);
      old.drainTimer = this.#scheduler.setTimeout(() => {
        old.drainTimer = undefined;
        this.#retire(old, 1000, "rotated");
      }, this.#o.rotationOverlapMs);
      this.#rotations++;
      this.#swapAttempt = 0;
      if (conn.swap === "keyChanged") this.#closeGap(now);
      this.#logger.info("user-data socket rotated", { conn: conn.id, reason: conn.swap });
      this.#emitter.emit("rotated", { at: now, reason: conn.swap });
      return;
    }
    const reconnect = this.#everConnected;
    this.#everConnected = true;
    this.#closeGap(now);
    if (reconnect) this.#reconnects++;
    this.#connectedSince = now;
    // Healthy again: a past failure is history (lastDisconnect keeps what happened), unless
    // keepalives are still failing.
    if (this.#keys.status().failingSince === undefined) this.#lastError = undefined;
    this.#logger.info("user-data socket connected", {
      conn: conn.id,
      listenKey: maskListenKey(conn.key),
      reconnect,
    });
    this.#emitter.emit("connected", {
      at: now,
      listenKeyMasked: maskListenKey(conn.key),
      reconnect,
    });
    this.#startSettle?.resolve();
    this.#startSettle = undefined;
    if (this.#resync) void this.#runResync(reconnect ? "reconnect" : "initial");
  }

  #onMessage(conn: Connection, text: string): void {
    if (conn.state !== "open") return;
    const now = this.#now();
    conn.lastActivity = now;
    const event = parseUserDataMessage(text);
    if (event === undefined) {
      this.#logger.debug("ignored a non-event frame", { conn: conn.id, bytes: text.length });
      return;
    }
    // Duplicates can only come from two sockets overlapping (rotation or key change), so
    // identities are tracked just while a second socket is opening or draining.
    if (this.#draining.size > 0 || this.#pending?.swap !== undefined) {
      const identity = userDataEventIdentity(event);
      if (this.#seen.has(identity)) return;
      this.#seen.add(identity);
    }
    if (event.kind === "invalid") {
      this.#warn("EVENT_INVALID", `${event.type} failed validation: ${event.reason}`);
    }
    this.#lastEventAt = now;
    const entry = this.#buffer.push(event, now) ?? {
      cursor: this.#buffer.lastCursor,
      receivedAt: now,
      event,
    };
    this.#emitter.emit("event", entry);
    if (event.kind === "listenKeyExpired") {
      const expired = event.data.listenKey;
      if (expired === undefined || expired === conn.key) {
        this.#logger.warn("server reported listenKeyExpired", { conn: conn.id });
        // The exchange sends nothing more on this key and may leave the socket open: act on
        // the event itself, and stop reporting the dead key as valid.
        this.#keys.markEnded(conn.key);
        // A rotation socket opening on the same key is as dead as this one.
        const pending = this.#pending;
        if (pending && pending.key === conn.key) {
          this.#pending = undefined;
          this.#retire(pending, undefined, "listenKeyExpired");
        }
        this.#retire(conn, 1000, "listenKeyExpired");
        this.#afterGone(conn, "listenKeyExpired");
      }
    }
  }

  #armWatchdog(conn: Connection): void {
    const now = this.#now();
    const deadline = conn.lastActivity + this.#o.watchdog.deadAfterMs;
    const wake = Math.min(conn.nextPingAt, deadline);
    this.#scheduler.clearTimeout(conn.watchdogTimer);
    conn.watchdogTimer = this.#scheduler.setTimeout(
      () => this.#watchdogTick(conn),
      Math.max(0, wake - now),
    );
  }

  #watchdogTick(conn: Connection): void {
    conn.watchdogTimer = undefined;
    if (conn.state !== "open" || this.#isStopped()) return;
    const now = this.#now();
    const silentFor = now - conn.lastActivity;
    if (silentFor >= this.#o.watchdog.deadAfterMs) {
      this.#logger.warn("user-data socket silent; terminating", { conn: conn.id, silentFor });
      this.#warn("SOCKET_DEAD", `no frame for ${silentFor} ms; reconnecting`);
      this.#retire(conn, undefined, "watchdog");
      this.#afterGone(conn, `watchdog: silent for ${silentFor} ms`);
      return;
    }
    if (now >= conn.nextPingAt) {
      conn.socket?.ping();
      conn.nextPingAt = now + this.#o.watchdog.pingIntervalMs;
    }
    this.#armWatchdog(conn);
  }

  /** Closes a connection's socket and timers; `code` undefined means terminate. */
  #retire(conn: Connection, code: number | undefined, reason: string): void {
    if (conn.state === "closed") return;
    conn.state = "closed";
    this.#scheduler.clearTimeout(conn.watchdogTimer);
    this.#scheduler.clearTimeout(conn.drainTimer);
    conn.watchdogTimer = undefined;
    conn.drainTimer = undefined;
    this.#draining.delete(conn);
    if (code === undefined) conn.socket?.terminate();
    else conn.socket?.close(code, reason);
  }

  #onSocketGone(conn: Connection, reason: string): void {
    if (conn.state === "closed") return;
    // Socket errors may quote the URL, which holds the listen key; the reason ends up in
    // status() and tool results, so only the key's prefix may remain.
    const safe = reason.split(conn.key).join(maskListenKey(conn.key) ?? "");
    this.#retire(conn, undefined, safe);
    this.#afterGone(conn, safe);
  }

  #afterGone(conn: Connection, reason: string): void {
    if (this.#isStopped()) return;
    if (conn === this.#pending) {
      this.#pending = undefined;
      this.#logger.warn("user-data socket failed to open", { conn: conn.id, reason });
      // Without this the status would keep showing an older, unrelated reason (or none)
      // while every attempt fails to open.
      this.#warn("SOCKET_OPEN_FAILED", reason);
      if (this.#primary?.state === "open" && conn.swap) {
        this.#scheduleRotation(this.#swapBackoff());
      } else {
        this.#scheduleReconnect(0);
      }
      return;
    }
    if (conn === this.#primary) {
      this.#primary = undefined;
      this.#connectedSince = undefined;
      this.#scheduler.clearTimeout(this.#rotateTimer);
      this.#rotateTimer = undefined;
      const at = this.#now();
      // The backoff ladder starts over only after a connection that lasted a ping interval.
      // Opening is no proof the path works: an exchange that drops every socket right after
      // the upgrade would otherwise get a re-POST (and a resync, weight 51) every few hundred
      // milliseconds and the IP would soon be rate limited.
      if (at - conn.openedAt >= this.#o.watchdog.pingIntervalMs) this.#attempt = 0;
      this.#lastDisconnect = { at, reason };
      this.#openGap(at, reason);
      this.#logger.warn("user-data socket lost", { conn: conn.id, reason });
      this.#emitter.emit("disconnected", { at, reason });
      if (!this.#pending) this.#scheduleReconnect(0);
    }
  }

  #swapBackoff(error?: BinanceUsError): number {
    return Math.max(
      fullJitterBackoff(this.#swapAttempt++, this.#o.backoff, this.#random),
      error?.retryAfterMs ?? 0,
    );
  }

  #scheduleReconnect(minDelayMs: number): void {
    if (this.#isStopped() || this.#reconnectTimer !== undefined || this.#connectInFlight) return;
    const delayMs = Math.max(
      fullJitterBackoff(this.#attempt, this.#o.backoff, this.#random),
      minDelayMs,
    );
    this.#attempt++;
    this.#state = "reconnecting";
    this.#nextReconnectAt = this.#now() + delayMs;
    this.#logger.info("reconnecting user-data socket", { attempt: this.#attempt, delayMs });
    this.#emitter.emit("reconnecting", { attempt: this.#attempt, delayMs });
    this.#reconnectTimer = this.#scheduler.setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#nextReconnectAt = undefined;
      void this.#connect("reconnect");
    }, delayMs);
  }

  #scheduleRotation(delayMs: number): void {
    this.#scheduler.clearTimeout(this.#rotateTimer);
    this.#rotateTimer = this.#scheduler.setTimeout(() => {
      this.#rotateTimer = undefined;
      void this.#connect("rotation");
    }, delayMs);
  }

  async #runResync(reason: "initial" | "reconnect"): Promise<void> {
    try {
      const { data: account } = await this.#rest.getAccount();
      let openOrders: OpenOrder[] | undefined;
      try {
        openOrders = (await this.#rest.getOpenOrders()).data;
      } catch (error) {
        const typed = toTyped(error);
        this.#warn(typed.code, `open-orders snapshot failed: ${typed.message}`);
      }
      if (this.#isStopped()) return;
      this.#emitter.emit("resynced", { at: this.#now(), reason, account, openOrders });
    } catch (error) {
      const typed = toTyped(error);
      if (this.#isStopped()) return;
      this.#warn(typed.code, `resync failed: ${typed.message}`);
    }
  }

  #warn(code: string, message: string): void {
    this.#lastError = { code, message };
    this.#emitter.emit("warning", { code, message });
  }

  #isStopped(): boolean {
    return this.#state === "closed" || this.#state === "failed";
  }

  #fail(error: BinanceUsError): void {
    if (this.#isStopped()) return;
    this.#lastError = { code: error.code, message: error.message };
    if (this.#primary?.state === "open") {
      this.#openGap(this.#now(), `stopped by ${error.code}`);
    }
    this.#teardown();
    this.#state = "failed";
    this.#failedAt = this.#now();
    this.#fatalError = error;
    this.#logger.error("user-data stream stopped", { code: error.code, message: error.message });
    this.#emitter.emit("fatal", error);
    this.#startSettle?.reject(error);
    this.#startSettle = undefined;
  }

  #teardown(): void {
    this.#scheduler.clearTimeout(this.#reconnectTimer);
    this.#scheduler.clearTimeout(this.#rotateTimer);
    this.#reconnectTimer = undefined;
    this.#nextReconnectAt = undefined;
    this.#rotateTimer = undefined;
    for (const conn of [this.#pending, this.#primary, ...this.#draining]) {
      if (conn) this.#retire(conn, 1000, "client closing");
    }
    this.#pending = undefined;
    this.#primary = undefined;
    this.#connectedSince = undefined;
  }

  /**
   * Stops everything: timers, sockets, keepalive. DELETEs the listen key only when
   * `ownsStream` is true. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#teardown();
    this.#state = "closed";
    this.#startSettle?.reject(new BinanceUsError("CLOSED", "user-data stream closed"));
    this.#startSettle = undefined;
    await this.#keys.close();
    if (this.#ownsWsApi) this.#wsApi?.close();
    this.#emitter.clear();
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
