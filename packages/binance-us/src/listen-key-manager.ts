import { TypedEmitter } from "./emitter.js";
import { BinanceUsError, toTypedError as toTyped } from "./errors.js";
import { type Logger, maskListenKey, silentLogger } from "./logger.js";
import type { RestResult } from "./rest-client.js";
import {
  type BackoffSettings,
  fullJitterBackoff,
  type Scheduler,
  systemScheduler,
} from "./time.js";

/** The three REST calls the manager needs; {@link BinanceUsRestClient} implements them. */
export interface ListenKeyApi {
  createListenKey(): Promise<RestResult<{ listenKey: string }>>;
  keepaliveListenKey(listenKey: string): Promise<RestResult<unknown>>;
  closeListenKey(listenKey: string): Promise<RestResult<unknown>>;
}

/** Events of {@link ListenKeyManager}. */
export interface ListenKeyManagerEvents {
  /** A different key is now current (first creation, or re-creation after -1125). */
  keyChanged: { previous: string | undefined; listenKey: string; reason: "created" | "recreated" };
  /** A keepalive (PUT) succeeded. */
  keepalive: { listenKey: string; at: number };
  /** A REST call failed but will be retried. */
  retrying: {
    operation: "create" | "keepalive";
    attempt: number;
    delayMs: number;
    error: BinanceUsError;
  };
  /** -2014/-2015 (or an invalid configuration): the manager stopped and will not retry. */
  fatal: BinanceUsError;
}

/** Settings of {@link ListenKeyManager}; every field has a safe default except `api`. */
export interface ListenKeyManagerOptions {
  api: ListenKeyApi;
  /** Keepalive period; Binance recommends ~30 min against a 60 min validity. Default 30 min. */
  keepaliveIntervalMs?: number;
  /** Uniform ± spread around the period so fleets do not PUT in lockstep. Default 60 s. */
  keepaliveJitterMs?: number;
  /** Retry backoff for failed keepalives/creates. Default 1 s doubling to 60 s. */
  backoff?: BackoffSettings;
  /** DELETE the key on `close()`. Only for the account's sole consumer. Default false. */
  ownsStream?: boolean;
  now?: () => number;
  scheduler?: Scheduler;
  random?: () => number;
  logger?: Logger;
}

/** Snapshot of the manager for status reporting (no full key: it is a bearer credential). */
export interface ListenKeyStatus {
  state: "idle" | "active" | "recovering" | "failed" | "closed";
  listenKeyMasked: string | undefined;
  keyObtainedAt: number | undefined;
  lastKeepaliveAt: number | undefined;
  nextKeepaliveAt: number | undefined;
  keyChanges: number;
  /** The last successful POST or PUT plus the exchange's 60-minute validity. */
  keyValidUntil: number | undefined;
  /** First failure of a keepalive or re-creation since the last success; undefined when fine. */
  failingSince: number | undefined;
}

// Binance.US documents a 60-minute validity from creation or the last keepalive.
const KEY_VALIDITY_MS = 60 * 60_000;

/**
 * Keeps the account's single listen key alive.
 *
 * - `acquire()` is POST, which on Binance is get-or-extend: it returns the account's
 *   existing key (extended 60 min) or a new one, and reports a change via `keyChanged`.
 * - One keepalive timer for the current key, ~30 min ± jitter; replaced, never added to.
 * - Transient failures (network, 5xx, 429/418, 403) retry with capped full-jitter backoff,
 *   never sooner than `Retry-After`.
 * - -1125 (key gone) re-creates the key instead of retrying the dead one.
 * - -2014/-2015 are fatal: emitted as `fatal`, never retried.
 * - `close()` DELETEs only when `ownsStream` is true, because DELETE kills the stream for
 *   every process sharing the account.
 *
 * @example
 * ```ts
 * const keys = new ListenKeyManager({ api: rest });
 * keys.on("keyChanged", ({ listenKey }) => reconnect(listenKey));
 * const key = await keys.acquire();
 * ```
 */
export class ListenKeyManager {
  readonly #api: ListenKeyApi;
  readonly #intervalMs: number;
  readonly #jitterMs: number;
  readonly #backoff: BackoffSettings;
  readonly #ownsStream: boolean;
  readonly #now: () => number;
  readonly #scheduler: Scheduler;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #emitter: TypedEmitter<ListenKeyManagerEvents>;

  #key: string | undefined;
  #keyObtainedAt: number | undefined;
  #lastKeepaliveAt: number | undefined;
  #nextKeepaliveAt: number | undefined;
  #extendedAt: number | undefined;
  #failingSince: number | undefined;
  #timer: unknown;
  #retryAttempt = 0;
  #keyChanges = 0;
  #state: ListenKeyStatus["state"] = "idle";
  #inflight: Promise<string> | undefined;
  readonly #seenKeys = new Set<string>();

  constructor(options: ListenKeyManagerOptions) {
    this.#api = options.api;
    this.#intervalMs = options.keepaliveIntervalMs ?? 30 * 60_000;
    this.#jitterMs = options.keepaliveJitterMs ?? 60_000;
    this.#backoff = options.backoff ?? { baseMs: 1_000, maxMs: 60_000 };
    this.#ownsStream = options.ownsStream ?? false;
    this.#now = options.now ?? Date.now;
    this.#scheduler = options.scheduler ?? systemScheduler;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger ?? silentLogger;
    this.#emitter = new TypedEmitter((error) =>
      this.#logger.error("listen-key listener threw", { error }),
    );
  }

  /** Subscribe to manager events; returns an unsubscribe function. */
  on<K extends keyof ListenKeyManagerEvents>(
    event: K,
    listener: (payload: ListenKeyManagerEvents[K]) => void,
  ): () => void {
    return this.#emitter.on(event, listener);
  }

  /** The current key, if any. Treat it as a credential. */
  get listenKey(): string | undefined {
    return this.#key;
  }

  /** Every key this manager has held (for log redaction). */
  get knownKeys(): Iterable<string> {
    return this.#seenKeys;
  }

  /** Status snapshot, safe to show to an agent. */
  status(): ListenKeyStatus {
    return {
      state: this.#state,
      listenKeyMasked: maskListenKey(this.#key),
      keyObtainedAt: this.#keyObtainedAt,
      lastKeepaliveAt: this.#lastKeepaliveAt,
      nextKeepaliveAt: this.#nextKeepaliveAt,
      keyChanges: this.#keyChanges,
      keyValidUntil:
        this.#extendedAt === undefined ? undefined : this.#extendedAt + KEY_VALIDITY_MS,
      failingSince: this.#failingSince,
    };
  }

  /**
   * POSTs for the account's key (get-or-extend) and restarts the keepalive clock. Concurrent
   * callers share one request. Rejects with the typed error; fatal errors also stop the
   * manager and emit `fatal`.
   */
  acquire(): Promise<string> {
    if (this.#state === "closed") {
      return Promise.reject(new BinanceUsError("CLOSED", "listen-key manager is closed"));
    }
    if (this.#state === "failed") {
      return Promise.reject(
        new BinanceUsError("CLOSED", "listen-key manager stopped after a fatal error"),
      );
    }
    this.#inflight ??= this.#create().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #create(): Promise<string> {
    // The exchange extends the key somewhere between sending and the answer; counting from
    // the send keeps keyValidUntil on the safe side.
    const sentAt = this.#now();
    try {
      const { data } = await this.#api.createListenKey();
      if (this.#isStopped()) return data.listenKey;
      this.#adopt(data.listenKey);
      this.#extendedAt = sentAt;
      this.#failingSince = undefined;
      this.#retryAttempt = 0;
      this.#state = "active";
      this.#scheduleKeepalive(this.#nextDelay());
      return data.listenKey;
    } catch (error) {
      const typed = toTyped(error);
      if (typed.fatal) this.#fail(typed);
      throw typed;
    }
  }

  #adopt(listenKey: string): void {
    const previous = this.#key;
    this.#seenKeys.add(listenKey);
    if (previous === listenKey) return;
    this.#key = listenKey;
    this.#keyObtainedAt = this.#now();
    this.#keyChanges++;
    this.#logger.info("listen key changed", {
      previous: maskListenKey(previous),
      listenKey: maskListenKey(listenKey),
    });
    this.#emitter.emit("keyChanged", {
      previous,
      listenKey,
      reason: previous === undefined ? "created" : "recreated",
    });
  }

  #nextDelay(): number {
    const spread = (this.#random() * 2 - 1) * this.#jitterMs;
    return Math.max(1_000, Math.round(this.#intervalMs + spread));
  }

  #scheduleKeepalive(delayMs: number): void {
    this.#scheduler.clearTimeout(this.#timer);
    this.#nextKeepaliveAt = this.#now() + delayMs;
    this.#timer = this.#scheduler.setTimeout(() => {
      this.#timer = undefined;
      void this.#tick();
    }, delayMs);
  }

  async #tick(): Promise<void> {
    if (this.#isStopped()) return;
    const key = this.#key;
    if (key === undefined || this.#state === "recovering") {
      await this.#recreate();
      return;
    }
    const sentAt = this.#now();
    try {
      await this.#api.keepaliveListenKey(key);
      if (this.#isStopped() || this.#key !== key) return;
      this.#retryAttempt = 0;
      this.#lastKeepaliveAt = this.#now();
      this.#extendedAt = sentAt;
      this.#failingSince = undefined;
      this.#logger.debug("listen key kept alive", { listenKey: maskListenKey(key) });
      this.#emitter.emit("keepalive", { listenKey: key, at: this.#lastKeepaliveAt });
      this.#scheduleKeepalive(this.#nextDelay());
    } catch (error) {
      const typed = toTyped(error);
      if (this.#isStopped()) return;
      if (typed.fatal) return this.#fail(typed);
      if (typed.code === "LISTEN_KEY_NOT_FOUND" || typed.code === "MANDATORY_PARAM_MISSING") {
        this.#logger.warn("listen key no longer exists; re-creating", {
          listenKey: maskListenKey(key),
        });
        this.#state = "recovering";
        await this.#recreate();
        return;
      }
      this.#retry("keepalive", typed);
    }
  }

  async #recreate(): Promise<void> {
    try {
      await this.acquire();
    } catch (error) {
      const typed = toTyped(error);
      if (typed.fatal || this.#isStopped()) return;
      this.#state = "recovering";
      this.#retry("create", typed);
    }
  }

  #retry(operation: "create" | "keepalive", error: BinanceUsError): void {
    this.#failingSince ??= this.#now();
    const attempt = this.#retryAttempt++;
    const delayMs = Math.max(
      fullJitterBackoff(attempt, this.#backoff, this.#random),
      error.retryAfterMs ?? 0,
    );
    this.#logger.warn("listen-key request failed; retrying", {
      operation,
      code: error.code,
      attempt,
      delayMs,
    });
    this.#emitter.emit("retrying", { operation, attempt, delayMs, error });
    this.#scheduleKeepalive(delayMs);
  }

  #isStopped(): boolean {
    return this.#state === "closed" || this.#state === "failed";
  }

  #stopTimer(): void {
    this.#scheduler.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextKeepaliveAt = undefined;
  }

  #fail(error: BinanceUsError): void {
    this.#state = "failed";
    this.#stopTimer();
    this.#logger.error("listen-key manager stopped: fatal error", {
      code: error.code,
      message: error.message,
    });
    this.#emitter.emit("fatal", error);
  }

  /**
   * The exchange said `listenKey` expired (`listenKeyExpired`): it is no longer valid, so
   * status stops showing a validity for it. The next `acquire()` POSTs for a key again.
   */
  markEnded(listenKey: string): void {
    if (this.#key !== listenKey) return;
    this.#extendedAt = undefined;
  }

  /**
   * Leaves the `failed` state so the next `acquire()` POSTs again. For a person who fixed the
   * cause of a -2014/-2015 (IP whitelist, permissions); without a fix it fails again at once.
   * No effect unless the manager failed.
   */
  reset(): void {
    if (this.#state !== "failed") return;
    this.#state = "idle";
    this.#retryAttempt = 0;
    this.#failingSince = undefined;
  }

  /**
   * Stops the keepalive timer. DELETEs the key only when `ownsStream` is true; a failed
   * DELETE is logged, not thrown (the key expires by itself within 60 minutes).
   */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#stopTimer();
    const key = this.#key;
    if (this.#ownsStream && key !== undefined) {
      try {
        await this.#api.closeListenKey(key);
      } catch (error) {
        this.#logger.warn("closing the listen key failed; it will expire on its own", {
          code: toTyped(error).code,
        });
      }
    }
    this.#emitter.clear();
  }
}
