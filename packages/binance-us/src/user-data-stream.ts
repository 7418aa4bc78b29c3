import { z } from "zod";
import { TypedEmitter } from "./emitter.js";
import { BinanceUsError, toTypedError as toTyped } from "./errors.js";
import { type BufferedEntry, EventBuffer, type EventPage } from "./event-buffer.js";
import { type ParsedUserDataEvent, parseUserDataMessage, userDataEventIdentity } from "./events.js";
import { ListenKeyManager } from "./listen-key-manager.js";
import { createRedactingLogger, type Logger, maskListenKey, silentLogger } from "./logger.js";
import {
  type AccountSnapshot,
  BinanceUsRestClient,
  type OpenOrder,
  optionsError,
  RestClientOptionsSchema,
} from "./rest-client.js";
import { type StreamSocket, type WebSocketFactory, wsWebSocketFactory } from "./socket.js";
import { fullJitterBackoff, type Scheduler, systemScheduler } from "./time.js";
import { BinanceUsWsApiClient, type WsApiStatus } from "./ws-api-client.js";

const positiveMs = z.number().int().positive();

/**
 * Options of {@link UserDataStream} (zod-validated at construction; every error names the
 * path). Besides the REST options: WebSocket base URL, keepalive, watchdog, backoff,
 * rotation, ownership, resync and buffer settings, plus the injected seams.
 */
export const UserDataStreamOptionsSchema = RestClientOptionsSchema.extend({
  wsBaseUrl: z
    .string()
    .regex(/^wss?:\/\//, "wsBaseUrl must start with ws:// or wss://")
    .default("wss://stream.binance.us:9443"),
  /**
   * How listen keys are created and kept alive: REST (`POST/PUT/DELETE
   * /api/v3/userDataStream`) or the WebSocket API (`userDataStream.start/ping/stop` on one
   * long-lived connection). Events always arrive on the stream socket.
   */
  listenKeyTransport: z.enum(["rest", "ws-api"]).default("rest"),
  wsApiUrl: z
    .string()
    .regex(/^wss?:\/\//, "wsApiUrl must start with ws:// or wss://")
    .default("wss://ws-api.binance.us:443/ws-api/v3"),
  keepaliveIntervalMs: positiveMs.default(30 * 60_000),
  keepaliveJitterMs: z.number().int().nonnegative().default(60_000),
  watchdog: z
    .object({
      pingIntervalMs: positiveMs.default(30_000),
      deadAfterMs: positiveMs.default(75_000),
    })
    .refine((w) => w.deadAfterMs > w.pingIntervalMs, {
      message: "watchdog.deadAfterMs must exceed watchdog.pingIntervalMs so a pong can arrive",
    })
    .default({ pingIntervalMs: 30_000, deadAfterMs: 75_000 }),
  backoff: z
    .object({ baseMs: positiveMs.default(500), maxMs: positiveMs.default(30_000) })
    .refine((b) => b.maxMs >= b.baseMs, { message: "backoff.maxMs must be >= backoff.baseMs" })
    .default({ baseMs: 500, maxMs: 30_000 }),
  rotateAfterMs: positiveMs
    .max(24 * 3_600_000 - 60_000, "rotateAfterMs must leave time before the 24 h cut")
    .default(23 * 3_600_000),
  rotationOverlapMs: z.number().int().nonnegative().default(5_000),
  ownsStream: z.boolean().default(false),
  resync: z.boolean().optional(),
  buffer: z
    .object({
      size: positiveMs.default(1_000),
      overflow: z.enum(["drop_oldest", "drop_newest"]).default("drop_oldest"),
    })
    .default({ size: 1_000, overflow: "drop_oldest" }),
  dedupeWindow: positiveMs.default(4_096),
  scheduler: z
    .custom<Scheduler>(
      (v) =>
        typeof v === "object" &&
        v !== null &&
        typeof (v as Scheduler).setTimeout === "function" &&
        typeof (v as Scheduler).clearTimeout === "function",
      "scheduler must have setTimeout(fn, ms) and clearTimeout(handle)",
    )
    .optional(),
  random: z.custom<() => number>((v) => typeof v === "function").optional(),
  webSocketFactory: z.custom<WebSocketFactory>((v) => typeof v === "function").optional(),
  restClient: z.custom<BinanceUsRestClient>((v) => typeof v === "object" && v !== null).optional(),
  /** A WebSocket API client to share (with `listenKeyTransport: "ws-api"`); the caller closes it. */
  wsApiClient: z
    .custom<BinanceUsWsApiClient>(
      (v) => v instanceof BinanceUsWsApiClient,
      "wsApiClient must be a BinanceUsWsApiClient",
    )
    .optional(),
}).refine((o) => !(o.resync === true && o.apiSecret === undefined && o.restClient === undefined), {
  path: ["resync"],
  message: "resync needs the signed account endpoint: set apiSecret, or drop resync",
});

/** Input accepted by {@link UserDataStream}. */
export type UserDataStreamOptions = z.input<typeof UserDataStreamOptionsSchema>;

/** One delivered event with its stream cursor. */
export type UserDataEntry = BufferedEntry<ParsedUserDataEvent>;

/** Snapshot announced by `resynced` after a (re)connect. */
export interface ResyncSnapshot {
  at: number;
  reason: "initial" | "reconnect";
  account: AccountSnapshot;
  openOrders: OpenOrder[] | undefined;
}

/** Events of {@link UserDataStream}. */
export interface UserDataStreamEvents {
  /** A parsed user-data event, exactly once, with a monotonically increasing cursor. */
  event: UserDataEntry;
  connected: { at: number; listenKeyMasked: string | undefined; reconnect: boolean };
  disconnected: { at: number; reason: string };
  reconnecting: { attempt: number; delayMs: number };
  keyChanged: { previousMasked: string | undefined; listenKeyMasked: string | undefined };
  /** A fresh socket replaced the old one without a gap (24 h rotation or key change). */
  rotated: { at: number; reason: "rotation" | "keyChanged" };
  resynced: ResyncSnapshot;
  /** Something went wrong that the stream recovers from by itself. */
  warning: { code: string; message: string };
  /** The stream stopped for good (-2014/-2015). */
  fatal: BinanceUsError;
}

/** Status of the managed stream, safe to show to an agent (no keys). */
export interface UserDataStreamStatus {
  state: "idle" | "connecting" | "connected" | "reconnecting" | "failed" | "closed";
  connected: boolean;
  connectedSince: number | undefined;
  listenKeyMasked: string | undefined;
  keyAgeMs: number | undefined;
  lastKeepaliveAt: number | undefined;
  nextKeepaliveAt: number | undefined;
  reconnects: number;
  rotations: number;
  reconnectAttempt: number;
  lastEventAt: number | undefined;
  lastCursor: number;
  bufferedEvents: number;
  droppedEvents: number;
  usedWeight1m: number | undefined;
  /** Which API manages the listen key: `rest` or `ws-api`. */
  listenKeyTransport: "rest" | "ws-api";
  /** The WebSocket API connection, when `listenKeyTransport` is `ws-api`. */
  wsApi: WsApiStatus | undefined;
  /**
   * The error behind the current trouble; cleared once the stream is healthy again
   * (connected with keepalives succeeding), so it always describes the present.
   */
  lastError: { code: string; message: string } | undefined;
  /** When the stream stopped on a fatal error (state `failed`); cleared by `restart()`. */
  failedAt: number | undefined;
  /** When and why the last socket was lost (kept after a reconnect, as history). */
  lastDisconnect: { at: number; reason: string } | undefined;
  /** When the next reconnect attempt runs, while one is scheduled (state `reconnecting`). */
  nextReconnectAt: number | undefined;
  /**
   * Until when the exchange holds the key: the last successful POST or PUT plus its
   * 60-minute validity, as seen from here; undefined once the exchange said the key
   * expired, until a new one is obtained.
   */
  keyValidUntil: number | undefined;
  /** Since when keepalives (or the key's re-creation) have been failing; undefined when fine. */
  keepaliveFailingSince: number | undefined;
}

/**
 * A stretch of time in which no event could arrive: no socket, or a socket left open on a
 * key the exchange had ended. The exchange does not replay user-data events, so
 * whatever it sent then is lost: a consumer must rebuild from the account snapshot.
 */
export interface StreamGap {
  /** The gap comes after this cursor: events up to it arrived before, later ones after. */
  afterCursor: number;
  /** When the socket was lost (or the stream stopped). */
  from: number;
  /** When a socket was up again; undefined while the gap lasts. */
  to: number | undefined;
  reason: string;
}

// Enough gaps for any reader who polls at least once in a while, bounded so a flapping
// connection cannot grow memory without limit.
const MAX_GAPS = 100;

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
  readonly #seen = new Set<string>();
  readonly #seenOrder: (string | undefined)[];
  #seenPos = 0;

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
  readonly #gaps: StreamGap[] = [];
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
    this.#rest =
      o.restClient ??
      new BinanceUsRestClient({
        apiKey: o.apiKey,
        apiSecret: o.apiSecret,
        restBaseUrl: o.restBaseUrl,
        requestTimeoutMs: o.requestTimeoutMs,
        recvWindowMs: o.recvWindowMs,
        now: this.#now,
        fetch: o.fetch,
        logger: this.#logger,
      });
    this.#ownsWsApi = o.listenKeyTransport === "ws-api" && o.wsApiClient === undefined;
    this.#wsApi =
      o.listenKeyTransport !== "ws-api"
        ? undefined
        : (o.wsApiClient ??
          new BinanceUsWsApiClient({
            apiKey: o.apiKey,
            wsApiUrl: o.wsApiUrl,
            requestTimeoutMs: o.requestTimeoutMs,
            watchdog: o.watchdog,
            backoff: o.backoff,
            now: this.#now,
            scheduler: this.#scheduler,
            random: this.#random,
            webSocketFactory: this.#factory,
            logger: this.#logger,
          }));
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
    this.#seenOrder = new Array(o.dedupeWindow);
    this.#emitter = new TypedEmitter((error) =>
      this.#logger.error("user-data listener threw", { error }),
    );
    this.#keys.on("keyChanged", ({ previous, listenKey, reason }) => {
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
    });
    this.#keys.on("fatal", (error) => this.#fail(error));
    // A keepalive that succeeds while connected ends the trouble the last error described.
    this.#keys.on("keepalive", () => {
      if (this.#primary?.state === "open") this.#lastError = undefined;
    });
    this.#keys.on("retrying", ({ error }) => this.#warn(error.code, error.message));
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
   * Times no event could arrive after `cursor` (the last {@link MAX_GAPS} kept), oldest
   * first: events the exchange sent during a gap never arrive, so a reader that sees one
   * should rebuild its view from the account snapshot.
   */
  gaps(cursor = 0): StreamGap[] {
    return this.#gaps.filter((g) => g.afterCursor >= cursor).map((g) => ({ ...g }));
  }

  #openGap(at: number, reason: string): void {
    const last = this.#gaps.at(-1);
    if (last && last.to === undefined) return;
    this.#gaps.push({ afterCursor: this.#buffer.lastCursor, from: at, to: undefined, reason });
    if (this.#gaps.length > MAX_GAPS) this.#gaps.shift();
  }

  #closeGap(at: number): void {
    const last = this.#gaps.at(-1);
    if (last && last.to === undefined) last.to = at;
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
      this.#remember(identity);
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

  #remember(identity: string): void {
    const evicted = this.#seenOrder[this.#seenPos];
    if (evicted !== undefined) this.#seen.delete(evicted);
    this.#seenOrder[this.#seenPos] = identity;
    this.#seenPos = (this.#seenPos + 1) % this.#seenOrder.length;
    this.#seen.add(identity);
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
