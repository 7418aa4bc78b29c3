import { z } from "zod";
import type { TypedEmitter } from "./emitter.js";
import type { BinanceUsError } from "./errors.js";
import type { BufferedEntry, EventBuffer } from "./event-buffer.js";
import type { ParsedUserDataEvent } from "./events.js";
import type { ListenKeyManager } from "./listen-key-manager.js";
import type { Logger } from "./logger.js";
import {
  type AccountSnapshot,
  type BinanceUsRestClient,
  type OpenOrder,
  RestClientOptionsSchema,
} from "./rest-client.js";
import type { StreamSocket, WebSocketFactory } from "./socket.js";
import type { DedupeWindow } from "./stream-gaps.js";
import type { Scheduler } from "./time.js";
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

/** One user-data socket and its timers. */
export interface Connection {
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

/** What a {@link StreamRuntime} is built from: options and the seams. */
export interface StreamDeps {
  o: z.output<typeof UserDataStreamOptionsSchema>;
  now: () => number;
  scheduler: Scheduler;
  random: () => number;
  factory: WebSocketFactory;
  logger: Logger;
  rest: BinanceUsRestClient;
  wsApi: BinanceUsWsApiClient | undefined;
  keys: ListenKeyManager;
  buffer: EventBuffer<ParsedUserDataEvent>;
  emitter: TypedEmitter<UserDataStreamEvents>;
  resync: boolean;
  seen: DedupeWindow;
}
