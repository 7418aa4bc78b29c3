import { z } from "zod";
import { BinanceUsError, type BinanceUsErrorCode } from "./errors.js";
import type { ListenKeyApi } from "./listen-key-manager.js";
import { type Logger, silentLogger } from "./logger.js";
import { CODE_BY_BINANCE, optionsError, type RestResult } from "./rest-client.js";
import { type StreamSocket, type WebSocketFactory, wsWebSocketFactory } from "./socket.js";
import { fullJitterBackoff, type Scheduler, systemScheduler } from "./time.js";

const fn = <T>(name: string) =>
  z.custom<T>((v) => typeof v === "function", { message: `${name} must be a function` });
const positiveMs = z.number().int().positive();

/** Options of {@link BinanceUsWsApiClient}, validated with zod at construction. */
export const WsApiClientOptionsSchema = z.object({
  apiKey: z
    .string({ message: "apiKey is required: pass your Binance.US API key" })
    .min(1, "apiKey must not be empty: pass your Binance.US API key"),
  wsApiUrl: z
    .url("wsApiUrl must be an absolute URL like wss://ws-api.binance.us:443/ws-api/v3")
    .default("wss://ws-api.binance.us:443/ws-api/v3"),
  requestTimeoutMs: positiveMs.default(10_000),
  watchdog: z
    .object({ pingIntervalMs: positiveMs.default(30_000), deadAfterMs: positiveMs.default(75_000) })
    .refine((w) => w.deadAfterMs > w.pingIntervalMs, {
      message: "watchdog.deadAfterMs must exceed watchdog.pingIntervalMs so a pong can arrive",
    })
    .default({ pingIntervalMs: 30_000, deadAfterMs: 75_000 }),
  backoff: z
    .object({ baseMs: positiveMs.default(500), maxMs: positiveMs.default(30_000) })
    .refine((b) => b.maxMs >= b.baseMs, { message: "backoff.maxMs must be >= backoff.baseMs" })
    .default({ baseMs: 500, maxMs: 30_000 }),
  now: fn<() => number>("now").optional(),
  scheduler: z.custom<Scheduler>((v) => typeof v === "object" && v !== null).optional(),
  random: fn<() => number>("random").optional(),
  webSocketFactory: fn<WebSocketFactory>("webSocketFactory").optional(),
  logger: z.custom<Logger>().optional(),
});

/** Input accepted by {@link BinanceUsWsApiClient}. */
export type WsApiClientOptions = z.input<typeof WsApiClientOptionsSchema>;

/** What {@link BinanceUsWsApiClient.status} reports; no key or secret. */
export interface WsApiStatus {
  connected: boolean;
  connects: number;
  reconnects: number;
  pendingRequests: number;
  nextConnectAt: number | undefined;
  lastDisconnect: { at: number; reason: string } | undefined;
}

interface Pending {
  method: string;
  resolve: (frame: WsApiFrame) => void;
  reject: (error: BinanceUsError) => void;
  timer: ReturnType<typeof setTimeout>;
}

const WsApiFrameSchema = z.looseObject({
  id: z.union([z.number(), z.string(), z.null()]),
  status: z.number().int(),
  result: z.unknown().optional(),
  // The docs show `response` on userDataStream.ping/stop where other methods say `result`.
  response: z.unknown().optional(),
  error: z
    .looseObject({
      code: z.number().optional(),
      msg: z.string().optional(),
      data: z.looseObject({ retryAfter: z.number().optional() }).optional(),
    })
    .optional(),
  rateLimits: z
    .array(z.looseObject({ rateLimitType: z.string(), count: z.number().optional() }))
    .optional(),
});
type WsApiFrame = z.infer<typeof WsApiFrameSchema>;

const ListenKeyResult = z.looseObject({ listenKey: z.string().min(1) });
const TimeResult = z.looseObject({ serverTime: z.number() });

/**
 * The listen-key lifecycle over the Binance.US WebSocket API (`userDataStream.start`,
 * `.ping`, `.stop`, plus `ping` and `time`) instead of REST, on one long-lived connection.
 *
 * - Implements {@link ListenKeyApi}, so {@link ListenKeyManager} (and the managed stream)
 *   use it unchanged; failures are the same typed errors as over REST (-1125, -2014/-2015,
 *   `RATE_LIMITED`/`IP_BANNED` with `retryAfterMs`, `WAF_BLOCKED`, 5xx outcome unknown).
 * - Requests carry increasing ids; a response is matched by id; each request times out on a
 *   real timer (`requestTimeoutMs`), like the REST client.
 * - Own liveness: answers server pings, pings every `watchdog.pingIntervalMs`, and
 *   terminates a connection silent for `watchdog.deadAfterMs`.
 * - Reconnects after a loss with capped full-jitter backoff; a request made while the
 *   connection is down connects at once unless the backoff after repeated failures runs.
 * - After a 429/418 nothing is sent until `retryAfter` has passed.
 */
export class BinanceUsWsApiClient implements ListenKeyApi {
  readonly #o: z.output<typeof WsApiClientOptionsSchema>;
  readonly #now: () => number;
  readonly #scheduler: Scheduler;
  readonly #random: () => number;
  readonly #factory: WebSocketFactory;
  readonly #logger: Logger;
  readonly #pending = new Map<number, Pending>();
  #socket: StreamSocket | undefined;
  #opening: Promise<StreamSocket> | undefined;
  #open = false;
  #closed = false;
  #nextId = 1;
  #attempt = 0;
  #connects = 0;
  #openedAt = 0;
  #lastSeen = 0;
  #reconnectTimer: unknown;
  #nextConnectAt: number | undefined;
  #watchdogTimer: unknown;
  #lastDisconnect: WsApiStatus["lastDisconnect"];
  #blockedUntil = 0;
  #blockedCode: BinanceUsErrorCode = "RATE_LIMITED";
  #usedWeight: number | undefined;

  constructor(options: WsApiClientOptions) {
    const parsed = WsApiClientOptionsSchema.safeParse(options);
    if (!parsed.success) throw optionsError(parsed.error);
    this.#o = parsed.data;
    this.#now = this.#o.now ?? Date.now;
    this.#scheduler = this.#o.scheduler ?? systemScheduler;
    this.#random = this.#o.random ?? Math.random;
    this.#factory = this.#o.webSocketFactory ?? wsWebSocketFactory;
    this.#logger = this.#o.logger ?? silentLogger;
  }

  /** `userDataStream.start`: get-or-extend the account's listen key. */
  async createListenKey(): Promise<RestResult<{ listenKey: string }>> {
    const frame = await this.#call("userDataStream.start", { apiKey: this.#o.apiKey });
    return { data: this.#result(ListenKeyResult, frame), usedWeight1m: this.#usedWeight };
  }

  /** `userDataStream.ping`: extend the key by 60 minutes. */
  async keepaliveListenKey(listenKey: string): Promise<RestResult<Record<string, never>>> {
    await this.#call("userDataStream.ping", { listenKey, apiKey: this.#o.apiKey });
    return { data: {}, usedWeight1m: this.#usedWeight };
  }

  /** `userDataStream.stop`: close the stream for every consumer of the account. */
  async closeListenKey(listenKey: string): Promise<RestResult<Record<string, never>>> {
    await this.#call("userDataStream.stop", { listenKey, apiKey: this.#o.apiKey });
    return { data: {}, usedWeight1m: this.#usedWeight };
  }

  /** `ping`: a round trip on the connection (weight 1). */
  async ping(): Promise<RestResult<Record<string, never>>> {
    await this.#call("ping", {});
    return { data: {}, usedWeight1m: this.#usedWeight };
  }

  /** `time`: the exchange's clock. */
  async time(): Promise<RestResult<{ serverTime: number }>> {
    const frame = await this.#call("time", {});
    return { data: this.#result(TimeResult, frame), usedWeight1m: this.#usedWeight };
  }

  /** Last `REQUEST_WEIGHT` count the exchange reported. */
  get usedWeight1m(): number | undefined {
    return this.#usedWeight;
  }

  /** Epoch ms until which requests are refused after a 429/418 (0 if none). */
  get blockedUntil(): number {
    return this.#blockedUntil;
  }

  /** Connection facts for status reporting. */
  status(): WsApiStatus {
    return {
      connected: this.#open,
      connects: this.#connects,
      reconnects: Math.max(0, this.#connects - 1),
      pendingRequests: this.#pending.size,
      nextConnectAt: this.#nextConnectAt,
      lastDisconnect: this.#lastDisconnect,
    };
  }

  /** Closes the connection and every timer; pending requests fail with `CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduler.clearTimeout(this.#reconnectTimer);
    this.#scheduler.clearTimeout(this.#watchdogTimer);
    this.#failPending(new BinanceUsError("CLOSED", "WebSocket API client closed"));
    this.#socket?.close(1000, "client closing");
    this.#socket = undefined;
    this.#open = false;
  }

  async #call(method: string, params: Record<string, unknown>): Promise<WsApiFrame> {
    if (this.#closed) throw new BinanceUsError("CLOSED", "WebSocket API client closed");
    const now = this.#now();
    if (now < this.#blockedUntil) {
      const retryAfterMs = this.#blockedUntil - now;
      throw new BinanceUsError(
        this.#blockedCode,
        `${method} not sent: retryAfter still running for ${Math.ceil(retryAfterMs / 1000)} s`,
        { retryAfterMs },
      );
    }
    const socket = await this.#ensure();
    if (socket.send === undefined) {
      throw new BinanceUsError(
        "OPTIONS_INVALID",
        "webSocketFactory sockets must implement send(text) to carry WebSocket API requests",
      );
    }
    const send = socket.send.bind(socket);
    const id = this.#nextId++;
    const frame = await new Promise<WsApiFrame>((resolve, reject) => {
      // Real network time, like the REST client: fake time must not abort a live request.
      const timer = globalThis.setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new BinanceUsError(
            "TIMEOUT",
            `${method} timed out after ${this.#o.requestTimeoutMs} ms; the outcome is unknown`,
          ),
        );
      }, this.#o.requestTimeoutMs);
      timer.unref?.();
      this.#pending.set(id, { method, resolve, reject, timer });
      send(JSON.stringify({ id, method, params }));
    });
    return this.#check(method, frame);
  }

  #ensure(): Promise<StreamSocket> {
    if (this.#open && this.#socket) return Promise.resolve(this.#socket);
    if (this.#opening) return this.#opening;
    const now = this.#now();
    // Right after a single loss a request reconnects at once; after repeated losses without
    // a connection that proved itself, it waits for the backoff like the background retry.
    if (this.#attempt > 1 && this.#nextConnectAt !== undefined && now < this.#nextConnectAt) {
      return Promise.reject(
        new BinanceUsError(
          "NETWORK_ERROR",
          `WebSocket API connection down; next attempt in ${Math.ceil((this.#nextConnectAt - now) / 1000)} s`,
        ),
      );
    }
    return this.#connect();
  }

  #connect(): Promise<StreamSocket> {
    this.#scheduler.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#nextConnectAt = undefined;
    const opening = new Promise<StreamSocket>((resolve, reject) => {
      let settled = false;
      const socket = this.#factory(this.#o.wsApiUrl, {
        onOpen: () => {
          settled = true;
          this.#onOpen(socket);
          resolve(socket);
        },
        onMessage: (text) => this.#onMessage(text),
        onPing: (data) => {
          this.#lastSeen = this.#now();
          socket.pong(data);
        },
        onPong: () => {
          this.#lastSeen = this.#now();
        },
        onClose: (code, reason) => {
          const why = `closed ${code}${reason ? ` ${reason}` : ""}`;
          if (!settled) {
            settled = true;
            reject(new BinanceUsError("NETWORK_ERROR", `WebSocket API connection failed: ${why}`));
          }
          this.#onClose(socket, why);
        },
        onError: (error) => {
          this.#logger.debug("WebSocket API socket error", { error: error.message });
        },
      });
      this.#socket = socket;
    });
    this.#opening = opening;
    const clear = () => {
      if (this.#opening === opening) this.#opening = undefined;
    };
    opening.then(clear, clear);
    return opening;
  }

  #onOpen(socket: StreamSocket): void {
    if (this.#closed) {
      socket.close(1000, "client closing");
      return;
    }
    this.#open = true;
    this.#connects += 1;
    this.#openedAt = this.#now();
    this.#lastSeen = this.#openedAt;
    this.#armWatchdog(socket);
  }

  #armWatchdog(socket: StreamSocket): void {
    this.#scheduler.clearTimeout(this.#watchdogTimer);
    this.#watchdogTimer = this.#scheduler.setTimeout(() => {
      if (this.#socket !== socket || !this.#open) return;
      if (this.#now() - this.#lastSeen >= this.#o.watchdog.deadAfterMs) {
        this.#logger.warn("WebSocket API connection silent; terminating", {});
        socket.terminate();
        this.#onClose(socket, "watchdog: no frame or pong in time");
        return;
      }
      socket.ping();
      this.#armWatchdog(socket);
    }, this.#o.watchdog.pingIntervalMs);
  }

  #onClose(socket: StreamSocket, reason: string): void {
    if (this.#socket !== socket) return;
    const lasted = this.#open ? this.#now() - this.#openedAt : 0;
    this.#socket = undefined;
    this.#open = false;
    this.#scheduler.clearTimeout(this.#watchdogTimer);
    this.#lastDisconnect = { at: this.#now(), reason };
    this.#failPending(
      new BinanceUsError(
        "NETWORK_ERROR",
        `WebSocket API connection lost (${reason}); the outcome is unknown`,
      ),
    );
    if (this.#closed) return;
    // The ladder starts over only after a connection that proved itself.
    if (lasted >= this.#o.watchdog.pingIntervalMs) this.#attempt = 0;
    const delayMs = fullJitterBackoff(this.#attempt++, this.#o.backoff, this.#random);
    this.#nextConnectAt = this.#now() + delayMs;
    this.#reconnectTimer = this.#scheduler.setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.#closed && !this.#open && !this.#opening) this.#connect().catch(() => {});
    }, delayMs);
  }

  #onMessage(text: string): void {
    this.#lastSeen = this.#now();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.#logger.warn("WebSocket API sent a frame that is not JSON", {});
      return;
    }
    const parsed = WsApiFrameSchema.safeParse(json);
    if (!parsed.success || typeof parsed.data.id !== "number") {
      this.#logger.warn("WebSocket API frame without a known id", {});
      return;
    }
    const pending = this.#pending.get(parsed.data.id);
    if (!pending) return;
    this.#pending.delete(parsed.data.id);
    globalThis.clearTimeout(pending.timer);
    const weight = parsed.data.rateLimits?.find((r) => r.rateLimitType === "REQUEST_WEIGHT");
    if (weight?.count !== undefined) this.#usedWeight = weight.count;
    pending.resolve(parsed.data);
  }

  #failPending(error: BinanceUsError): void {
    for (const [id, p] of this.#pending) {
      globalThis.clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(error);
    }
  }

  /** Maps a response frame to the same typed errors the REST client throws. */
  #check(method: string, frame: WsApiFrame): WsApiFrame {
    const { status } = frame;
    if (status >= 200 && status < 300) return frame;
    const usedWeight1m = this.#usedWeight;
    const binanceCode = frame.error?.code;
    const msg = this.#scrub(frame.error?.msg ?? `status ${status}`);
    if (status === 429 || status === 418) {
      const until = frame.error?.data?.retryAfter;
      const fallback = status === 418 ? 120_000 : 60_000;
      const retryAfterMs = until !== undefined ? Math.max(0, until - this.#now()) : fallback;
      this.#blockedUntil = this.#now() + retryAfterMs;
      this.#blockedCode = status === 418 ? "IP_BANNED" : "RATE_LIMITED";
      throw new BinanceUsError(
        this.#blockedCode,
        `${method} ${status === 418 ? "refused: IP banned" : "rate limited"}; retry after ${Math.ceil(retryAfterMs / 1000)} s`,
        clean({ status, retryAfterMs, usedWeight1m, binanceCode }),
      );
    }
    if (status >= 500) {
      throw new BinanceUsError(
        "SERVER_ERROR_OUTCOME_UNKNOWN",
        `${method} returned status ${status}; the request may or may not have taken effect`,
        clean({ status, usedWeight1m }),
      );
    }
    if (status === 403) {
      throw new BinanceUsError(
        "WAF_BLOCKED",
        `${method} blocked by the exchange's web application firewall (status 403)`,
        clean({ status, usedWeight1m }),
      );
    }
    const code = (binanceCode !== undefined && CODE_BY_BINANCE[binanceCode]) || "BINANCE_API_ERROR";
    throw new BinanceUsError(
      code,
      `${method} failed: ${binanceCode ?? status} ${msg}`,
      clean({ status, binanceCode, usedWeight1m }),
    );
  }

  #result<T>(schema: z.ZodType<T>, frame: WsApiFrame): T {
    const parsed = schema.safeParse(frame.result ?? frame.response);
    if (!parsed.success) {
      throw new BinanceUsError(
        "INVALID_RESPONSE",
        `unexpected WebSocket API result: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
      );
    }
    return parsed.data;
  }

  #scrub(text: string): string {
    return text.split(this.#o.apiKey).join("[redacted]");
  }
}

function clean<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
