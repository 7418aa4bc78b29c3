import { type BinanceUsError, toTypedError as toTyped } from "./errors.js";
import { parseUserDataMessage, userDataEventIdentity } from "./events.js";
import { maskListenKey } from "./logger.js";
import type { OpenOrder } from "./rest-client.js";
import { GapLog } from "./stream-gaps.js";
import type { Connection, StreamDeps, UserDataStreamStatus } from "./stream-types.js";
import { fullJitterBackoff } from "./time.js";

/**
 * The inside of a {@link UserDataStream}: its state and the socket lifecycle (open, watch,
 * rotate, reconnect, fail). Not exported from the package; the stream is its only user and
 * keeps the public API.
 */
export class StreamRuntime {
  readonly o: StreamDeps["o"];
  readonly now: StreamDeps["now"];
  readonly scheduler: StreamDeps["scheduler"];
  readonly random: StreamDeps["random"];
  readonly factory: StreamDeps["factory"];
  readonly logger: StreamDeps["logger"];
  readonly rest: StreamDeps["rest"];
  readonly wsApi: StreamDeps["wsApi"];
  readonly keys: StreamDeps["keys"];
  readonly buffer: StreamDeps["buffer"];
  readonly emitter: StreamDeps["emitter"];
  readonly resync: StreamDeps["resync"];
  readonly seen: StreamDeps["seen"];

  state: UserDataStreamStatus["state"] = "idle";
  primary: Connection | undefined;
  pending: Connection | undefined;
  readonly draining = new Set<Connection>();
  connectInFlight = false;
  nextId = 1;
  attempt = 0;
  // Failed make-before-break attempts in a row; kept apart from #attempt because the old
  // socket is still up, yet repeated failures must still back off.
  swapAttempt = 0;
  reconnectTimer: unknown;
  rotateTimer: unknown;
  everConnected = false;
  reconnects = 0;
  rotations = 0;
  connectedSince: number | undefined;
  lastEventAt: number | undefined;
  lastError: { code: string; message: string } | undefined;
  lastDisconnect: { at: number; reason: string } | undefined;
  readonly gaps = new GapLog();
  nextReconnectAt: number | undefined;
  failedAt: number | undefined;
  fatalError: BinanceUsError | undefined;
  startPromise: Promise<void> | undefined;
  startSettle: { resolve: () => void; reject: (e: unknown) => void } | undefined;

  constructor(deps: StreamDeps) {
    this.o = deps.o;
    this.now = deps.now;
    this.scheduler = deps.scheduler;
    this.random = deps.random;
    this.factory = deps.factory;
    this.logger = deps.logger;
    this.rest = deps.rest;
    this.wsApi = deps.wsApi;
    this.keys = deps.keys;
    this.buffer = deps.buffer;
    this.emitter = deps.emitter;
    this.resync = deps.resync;
    this.seen = deps.seen;
  }

  openGap(at: number, reason: string): void {
    this.gaps.open(this.buffer.lastCursor, at, reason);
  }

  closeGap(at: number): void {
    this.gaps.close(at);
  }

  async connect(reason: "initial" | "reconnect" | "rotation" | "keyChanged"): Promise<void> {
    if (this.isStopped() || this.connectInFlight || this.pending) return;
    this.connectInFlight = true;
    let key: string;
    try {
      key = await this.keys.acquire();
    } catch (error) {
      this.connectInFlight = false;
      if (this.isStopped()) return;
      const typed = toTyped(error);
      if (typed.fatal) return this.fail(typed);
      this.warn(typed.code, typed.message);
      if (reason === "rotation" || reason === "keyChanged") {
        if (this.primary) return this.scheduleRotation(this.swapBackoff(typed));
      }
      return this.scheduleReconnect(typed.retryAfterMs ?? 0);
    }
    this.connectInFlight = false;
    if (this.isStopped()) return;
    const primaryOpen = this.primary?.state === "open";
    const swap =
      primaryOpen && (reason === "rotation" || reason === "keyChanged") ? reason : undefined;
    if (primaryOpen && swap === undefined) return;
    if (swap === "keyChanged" && this.primary?.key === key) return;
    this.open(key, swap);
  }

  open(key: string, swap: Connection["swap"]): void {
    const now = this.now();
    const conn: Connection = {
      id: this.nextId++,
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
    this.pending = conn;
    const base = this.o.wsBaseUrl.replace(/\/+$/, "");
    this.logger.debug("opening user-data socket", {
      conn: conn.id,
      listenKey: maskListenKey(key),
      swap,
    });
    try {
      conn.socket = this.factory(`${base}/ws/${key}`, {
        onOpen: () => this.onOpen(conn),
        onMessage: (text) => this.onMessage(conn, text),
        onPing: (data) => {
          conn.lastActivity = this.now();
          conn.socket?.pong(data);
        },
        onPong: () => {
          conn.lastActivity = this.now();
        },
        onClose: (code, why) =>
          this.onSocketGone(
            conn,
            // 1006 is never sent on the wire: it means the TCP connection ended without a
            // close frame, so "closed by server" would not be true.
            code === 1006
              ? "connection lost without a close frame (1006)"
              : `closed by server (${code}${why ? ` ${why}` : ""})`,
          ),
        onError: (error) => this.onSocketGone(conn, `socket error: ${error.message}`),
      });
    } catch (error) {
      this.onSocketGone(
        conn,
        `socket factory failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  onOpen(conn: Connection): void {
    if (conn.state !== "connecting") return;
    if (this.isStopped()) {
      conn.state = "closed";
      conn.socket?.close(1000, "closing");
      return;
    }
    const now = this.now();
    conn.state = "open";
    conn.openedAt = now;
    conn.lastActivity = now;
    conn.nextPingAt = now + this.o.watchdog.pingIntervalMs;
    if (this.pending === conn) this.pending = undefined;
    this.armWatchdog(conn);

    const old = this.primary;
    this.primary = conn;
    this.state = "connected";
    this.scheduleRotation(this.o.rotateAfterMs);
    // The key changed while this socket was opening (a keepalive found the old one gone):
    // the move to the new key was skipped because this socket was pending, so make it now,
    // or the stream would sit on a dead key that may never send a frame again.
    const current = this.keys.listenKey;
    if (current !== undefined && current !== conn.key) {
      queueMicrotask(() => void this.connect("keyChanged"));
    }
    if (old && old.state === "open" && conn.swap) {
      // Make before break: keep the old socket a little longer so events already in flight
      // on it still arrive; the de-duplication window drops events seen twice.
      this.draining.add(old);
      old.drainTimer = this.scheduler.setTimeout(() => {
        old.drainTimer = undefined;
        this.retire(old, 1000, "rotated");
      }, this.o.rotationOverlapMs);
      this.rotations++;
      this.swapAttempt = 0;
      if (conn.swap === "keyChanged") this.closeGap(now);
      this.logger.info("user-data socket rotated", { conn: conn.id, reason: conn.swap });
      this.emitter.emit("rotated", { at: now, reason: conn.swap });
      return;
    }
    const reconnect = this.everConnected;
    this.everConnected = true;
    this.closeGap(now);
    if (reconnect) this.reconnects++;
    this.connectedSince = now;
    // Healthy again: a past failure is history (lastDisconnect keeps what happened), unless
    // keepalives are still failing.
    if (this.keys.status().failingSince === undefined) this.lastError = undefined;
    this.logger.info("user-data socket connected", {
      conn: conn.id,
      listenKey: maskListenKey(conn.key),
      reconnect,
    });
    this.emitter.emit("connected", {
      at: now,
      listenKeyMasked: maskListenKey(conn.key),
      reconnect,
    });
    this.startSettle?.resolve();
    this.startSettle = undefined;
    if (this.resync) void this.runResync(reconnect ? "reconnect" : "initial");
  }

  onMessage(conn: Connection, text: string): void {
    if (conn.state !== "open") return;
    const now = this.now();
    conn.lastActivity = now;
    const event = parseUserDataMessage(text);
    if (event === undefined) {
      this.logger.debug("ignored a non-event frame", { conn: conn.id, bytes: text.length });
      return;
    }
    // Repeats can only come from two sockets overlapping (rotation or key change), so
    // identities are tracked just while a second socket is opening or draining.
    if (this.draining.size > 0 || this.pending?.swap !== undefined) {
      const identity = userDataEventIdentity(event);
      if (this.seen.has(identity)) return;
      this.seen.add(identity);
    }
    if (event.kind === "invalid") {
      this.warn("EVENT_INVALID", `${event.type} failed validation: ${event.reason}`);
    }
    this.lastEventAt = now;
    const entry = this.buffer.push(event, now) ?? {
      cursor: this.buffer.lastCursor,
      receivedAt: now,
      event,
    };
    this.emitter.emit("event", entry);
    if (event.kind === "listenKeyExpired") {
      const expired = event.data.listenKey;
      if (expired === undefined || expired === conn.key) {
        this.logger.warn("server reported listenKeyExpired", { conn: conn.id });
        // The exchange sends nothing more on this key and may leave the socket open: act on
        // the event itself, and stop reporting the dead key as valid.
        this.keys.markEnded(conn.key);
        // A rotation socket opening on the same key is as dead as this one.
        const pending = this.pending;
        if (pending && pending.key === conn.key) {
          this.pending = undefined;
          this.retire(pending, undefined, "listenKeyExpired");
        }
        this.retire(conn, 1000, "listenKeyExpired");
        this.afterGone(conn, "listenKeyExpired");
      }
    }
  }

  armWatchdog(conn: Connection): void {
    const now = this.now();
    const deadline = conn.lastActivity + this.o.watchdog.deadAfterMs;
    const wake = Math.min(conn.nextPingAt, deadline);
    this.scheduler.clearTimeout(conn.watchdogTimer);
    conn.watchdogTimer = this.scheduler.setTimeout(
      () => this.watchdogTick(conn),
      Math.max(0, wake - now),
    );
  }

  watchdogTick(conn: Connection): void {
    conn.watchdogTimer = undefined;
    if (conn.state !== "open" || this.isStopped()) return;
    const now = this.now();
    const silentFor = now - conn.lastActivity;
    if (silentFor >= this.o.watchdog.deadAfterMs) {
      this.logger.warn("user-data socket silent; terminating", { conn: conn.id, silentFor });
      this.warn("SOCKET_DEAD", `no frame for ${silentFor} ms; reconnecting`);
      this.retire(conn, undefined, "watchdog");
      this.afterGone(conn, `watchdog: silent for ${silentFor} ms`);
      return;
    }
    if (now >= conn.nextPingAt) {
      conn.socket?.ping();
      conn.nextPingAt = now + this.o.watchdog.pingIntervalMs;
    }
    this.armWatchdog(conn);
  }

  /** Closes a connection's socket and timers; `code` undefined means terminate. */
  retire(conn: Connection, code: number | undefined, reason: string): void {
    if (conn.state === "closed") return;
    conn.state = "closed";
    this.scheduler.clearTimeout(conn.watchdogTimer);
    this.scheduler.clearTimeout(conn.drainTimer);
    conn.watchdogTimer = undefined;
    conn.drainTimer = undefined;
    this.draining.delete(conn);
    if (code === undefined) conn.socket?.terminate();
    else conn.socket?.close(code, reason);
  }

  onSocketGone(conn: Connection, reason: string): void {
    if (conn.state === "closed") return;
    // Socket errors may quote the URL, which holds the listen key; the reason ends up in
    // status() and tool results, so only the key's prefix may remain.
    const safe = reason.split(conn.key).join(maskListenKey(conn.key) ?? "");
    this.retire(conn, undefined, safe);
    this.afterGone(conn, safe);
  }

  afterGone(conn: Connection, reason: string): void {
    if (this.isStopped()) return;
    if (conn === this.pending) {
      this.pending = undefined;
      this.logger.warn("user-data socket failed to open", { conn: conn.id, reason });
      // Without this the status would keep showing an older, unrelated reason (or none)
      // while every attempt fails to open.
      this.warn("SOCKET_OPEN_FAILED", reason);
      if (this.primary?.state === "open" && conn.swap) {
        this.scheduleRotation(this.swapBackoff());
      } else {
        this.scheduleReconnect(0);
      }
      return;
    }
    if (conn === this.primary) {
      this.primary = undefined;
      this.connectedSince = undefined;
      this.scheduler.clearTimeout(this.rotateTimer);
      this.rotateTimer = undefined;
      const at = this.now();
      // The backoff ladder starts over only after a connection that lasted a ping interval.
      // Opening is no proof the path works: an exchange that drops every socket right after
      // the upgrade would otherwise get a re-POST (and a resync, weight 51) every few hundred
      // milliseconds and the IP would soon be rate limited.
      if (at - conn.openedAt >= this.o.watchdog.pingIntervalMs) this.attempt = 0;
      this.lastDisconnect = { at, reason };
      this.openGap(at, reason);
      this.logger.warn("user-data socket lost", { conn: conn.id, reason });
      this.emitter.emit("disconnected", { at, reason });
      if (!this.pending) this.scheduleReconnect(0);
    }
  }

  swapBackoff(error?: BinanceUsError): number {
    return Math.max(
      fullJitterBackoff(this.swapAttempt++, this.o.backoff, this.random),
      error?.retryAfterMs ?? 0,
    );
  }

  scheduleReconnect(minDelayMs: number): void {
    if (this.isStopped() || this.reconnectTimer !== undefined || this.connectInFlight) return;
    const delayMs = Math.max(
      fullJitterBackoff(this.attempt, this.o.backoff, this.random),
      minDelayMs,
    );
    this.attempt++;
    this.state = "reconnecting";
    this.nextReconnectAt = this.now() + delayMs;
    this.logger.info("reconnecting user-data socket", { attempt: this.attempt, delayMs });
    this.emitter.emit("reconnecting", { attempt: this.attempt, delayMs });
    this.reconnectTimer = this.scheduler.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.nextReconnectAt = undefined;
      void this.connect("reconnect");
    }, delayMs);
  }

  scheduleRotation(delayMs: number): void {
    this.scheduler.clearTimeout(this.rotateTimer);
    this.rotateTimer = this.scheduler.setTimeout(() => {
      this.rotateTimer = undefined;
      void this.connect("rotation");
    }, delayMs);
  }

  async runResync(reason: "initial" | "reconnect"): Promise<void> {
    try {
      const { data: account } = await this.rest.getAccount();
      let openOrders: OpenOrder[] | undefined;
      try {
        openOrders = (await this.rest.getOpenOrders()).data;
      } catch (error) {
        const typed = toTyped(error);
        this.warn(typed.code, `open-orders snapshot failed: ${typed.message}`);
      }
      if (this.isStopped()) return;
      this.emitter.emit("resynced", { at: this.now(), reason, account, openOrders });
    } catch (error) {
      const typed = toTyped(error);
      if (this.isStopped()) return;
      this.warn(typed.code, `resync failed: ${typed.message}`);
    }
  }

  warn(code: string, message: string): void {
    this.lastError = { code, message };
    this.emitter.emit("warning", { code, message });
  }

  isStopped(): boolean {
    return this.state === "closed" || this.state === "failed";
  }

  fail(error: BinanceUsError): void {
    if (this.isStopped()) return;
    this.lastError = { code: error.code, message: error.message };
    if (this.primary?.state === "open") {
      this.openGap(this.now(), `stopped by ${error.code}`);
    }
    this.teardown();
    this.state = "failed";
    this.failedAt = this.now();
    this.fatalError = error;
    this.logger.error("user-data stream stopped", { code: error.code, message: error.message });
    this.emitter.emit("fatal", error);
    this.startSettle?.reject(error);
    this.startSettle = undefined;
  }

  teardown(): void {
    this.scheduler.clearTimeout(this.reconnectTimer);
    this.scheduler.clearTimeout(this.rotateTimer);
    this.reconnectTimer = undefined;
    this.nextReconnectAt = undefined;
    this.rotateTimer = undefined;
    for (const conn of [this.pending, this.primary, ...this.draining]) {
      if (conn) this.retire(conn, 1000, "client closing");
    }
    this.pending = undefined;
    this.primary = undefined;
    this.connectedSince = undefined;
  }
}
