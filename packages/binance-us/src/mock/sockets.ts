import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import { listenKeyExpired, type MockEvent } from "./events.js";
import type { ExpiryMode } from "./keys.js";
import type { SocketFilter } from "./options.js";
import type { MockRuntime } from "./runtime.js";
import { handleStreamCommand } from "./stream-commands.js";
import type { ClosedSocketState, SocketState } from "./types.js";

/** A connected socket. Internal; tests see {@link SocketState}. */
export interface SocketRecord extends SocketState {
  ws: WebSocket;
  raw: Duplex;
  pingTimer: unknown;
  pongDeadline: unknown;
  maxAgeTimer: unknown;
  windowSecond: number;
  windowCount: number;
  closed: boolean;
  /** Keys that sent `listenKeyExpired` here: nothing more is delivered for them. */
  mutedKeys: Set<string>;
}

/** How a new socket is set up. */
export interface AddSocketSpec {
  ws: WebSocket;
  raw: Duplex;
  listenKeys: string[];
  combined: boolean;
  account: string | undefined;
  kind: SocketState["kind"];
  /** Text frames of a WebSocket API connection go here instead of the stream commands. */
  onText?: (rec: SocketRecord, text: string) => void;
}

/**
 * Every open socket (user-data streams and WebSocket API connections): server pings and
 * the pong deadline, the 24-hour cut, the incoming message limit, delivery, and the
 * faults that act on sockets (drops, silence, switched-off pings/pongs).
 */
export class SocketHub {
  private readonly rt: MockRuntime;
  private readonly sockets = new Map<number, SocketRecord>();
  private readonly closedSockets: ClosedSocketState[] = [];
  private readonly accountOf: (apiKey: string) => string;
  private nextSocketId = 1;
  pingsOn = true;
  pongsOn = true;

  constructor(rt: MockRuntime, accountOf: (apiKey: string) => string) {
    this.rt = rt;
    this.accountOf = accountOf;
  }

  /** Registers an accepted socket and starts its ping and max-age timers. */
  add(spec: AddSocketSpec): SocketRecord {
    const rec: SocketRecord = {
      id: this.nextSocketId++,
      ws: spec.ws,
      raw: spec.raw,
      listenKeys: spec.listenKeys,
      account: spec.account,
      combined: spec.combined,
      kind: spec.kind,
      openedAt: this.rt.clock.now(),
      pingsSent: 0,
      pongsReceived: 0,
      pingsReceived: 0,
      pongsSent: 0,
      messagesReceived: 0,
      eventsDelivered: 0,
      lastPongAt: undefined,
      awaitingPongSince: undefined,
      silenced: false,
      incomingLimitHits: 0,
      pingTimer: undefined,
      pongDeadline: undefined,
      maxAgeTimer: undefined,
      windowSecond: -1,
      windowCount: 0,
      closed: false,
      mutedKeys: new Set(),
    };
    this.sockets.set(rec.id, rec);
    this.schedulePing(rec);
    rec.maxAgeTimer = this.rt.arm(
      () => this.close(rec, 1000, "connection max age reached"),
      this.rt.opts.connectionMaxAgeMs,
    );
    this.wire(rec, spec.onText);
    this.rt.emit("socketOpen", this.view(rec));
    return rec;
  }

  private schedulePing(rec: SocketRecord): void {
    rec.pingTimer = this.rt.arm(() => {
      this.serverPing(rec);
      if (!rec.closed) this.schedulePing(rec);
    }, this.rt.opts.pingIntervalMs);
  }

  private wire(rec: SocketRecord, onText: AddSocketSpec["onText"]): void {
    const { ws } = rec;
    ws.on("ping", (data) => {
      rec.pingsReceived += 1;
      if (!this.countIncoming(rec)) return;
      if (this.pongsOn && !rec.silenced && ws.readyState === ws.OPEN) {
        ws.pong(data);
        rec.pongsSent += 1;
      }
    });
    ws.on("pong", () => {
      if (rec.silenced) return;
      rec.pongsReceived += 1;
      rec.lastPongAt = this.rt.clock.now();
      rec.awaitingPongSince = undefined;
      this.rt.disarm(rec.pongDeadline);
      rec.pongDeadline = undefined;
      this.countIncoming(rec);
    });
    ws.on("message", (data, isBinary) => {
      rec.messagesReceived += 1;
      if (!this.countIncoming(rec) || isBinary || rec.silenced) return;
      const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : data.toString();
      if (onText) onText(rec, text);
      else this.sendJson(rec, handleStreamCommand(rec, text));
    });
    ws.on("error", () => {
      // A peer that vanished mid-frame; the close handler below does the cleanup.
    });
    ws.on("close", () => this.forget(rec, "closed"));
  }

  /** Applies the per-connection incoming message limit; false when it disconnected. */
  private countIncoming(rec: SocketRecord): boolean {
    // The 5-per-second rule is documented for stream connections; the WebSocket API
    // limits by request weight instead.
    if (rec.kind === "ws-api") return true;
    const second = Math.floor(this.rt.clock.now() / 1000);
    if (second !== rec.windowSecond) {
      rec.windowSecond = second;
      rec.windowCount = 0;
    }
    rec.windowCount += 1;
    if (rec.windowCount > this.rt.opts.maxIncomingMessagesPerSec) {
      rec.incomingLimitHits += 1;
      if (this.rt.opts.onIncomingLimit === "disconnect") {
        this.close(rec, 1008, "too many messages");
        return false;
      }
    }
    return true;
  }

  private serverPing(rec: SocketRecord): void {
    if (rec.closed || !this.pingsOn || rec.silenced || rec.ws.readyState !== rec.ws.OPEN) return;
    rec.ws.ping();
    rec.pingsSent += 1;
    if (rec.awaitingPongSince === undefined) {
      rec.awaitingPongSince = this.rt.clock.now();
      rec.pongDeadline = this.rt.arm(() => {
        rec.pongDeadline = undefined;
        this.close(rec, 1008, "pong timeout");
      }, this.rt.opts.pongTimeoutMs);
    }
  }

  private forget(rec: SocketRecord, reason: string): void {
    if (rec.closed) return;
    rec.closed = true;
    this.rt.disarm(rec.pingTimer);
    this.rt.disarm(rec.pongDeadline);
    this.rt.disarm(rec.maxAgeTimer);
    this.sockets.delete(rec.id);
    const closed: ClosedSocketState = {
      id: rec.id,
      kind: rec.kind,
      listenKeys: [...rec.listenKeys],
      openedAt: rec.openedAt,
      closedAt: this.rt.clock.now(),
      reason,
    };
    this.closedSockets.push(closed);
    this.rt.emit("socketClose", { ...closed, listenKeys: [...closed.listenKeys] });
    if (this.closedSockets.length > this.rt.opts.requestLogLimit) this.closedSockets.shift();
  }

  /** Sends a close frame and forgets the socket at once (its timers stop now). */
  close(rec: SocketRecord, code: number, reason: string): void {
    if (rec.closed) return;
    this.forget(rec, reason);
    try {
      rec.ws.close(code, reason);
    } catch {
      rec.ws.terminate();
    }
  }

  /** Destroys the TCP connection without a close frame: the client sees code 1006. */
  drop(rec: SocketRecord): void {
    this.forget(rec, "dropped without close frame");
    rec.raw.destroy();
    rec.ws.terminate();
  }

  /** Stream sockets listening to `listenKey`. */
  ofKey(listenKey: string): SocketRecord[] {
    return [...this.sockets.values()].filter((s) => s.listenKeys.includes(listenKey));
  }

  /** Sockets matching every given field of the filter. */
  select(filter: SocketFilter = {}): SocketRecord[] {
    const account =
      filter.account ?? (filter.apiKey !== undefined ? this.accountOf(filter.apiKey) : undefined);
    return [...this.sockets.values()].filter(
      (s) =>
        (filter.socketId === undefined || s.id === filter.socketId) &&
        (filter.listenKey === undefined || s.listenKeys.includes(filter.listenKey)) &&
        (account === undefined || s.account === account),
    );
  }

  /** Sends a JSON frame unless the socket is closed or silenced. */
  sendJson(rec: SocketRecord, payload: unknown): boolean {
    if (rec.closed || rec.silenced || rec.ws.readyState !== rec.ws.OPEN) return false;
    rec.ws.send(JSON.stringify(payload));
    return true;
  }

  private sendEvent(rec: SocketRecord, listenKey: string, event: MockEvent): boolean {
    if (rec.mutedKeys.has(listenKey)) return false;
    const payload = rec.combined ? { stream: listenKey, data: event } : event;
    if (!this.sendJson(rec, payload)) return false;
    rec.eventsDelivered += 1;
    return true;
  }

  /** Delivers an event to every open socket of an active key; returns the count. */
  deliver(listenKey: string, event: MockEvent): number {
    let delivered = 0;
    for (const s of this.ofKey(listenKey)) if (this.sendEvent(s, listenKey, event)) delivered += 1;
    return delivered;
  }

  /**
   * What a key's sockets see when it ends. After `listenKeyExpired` the exchange sends
   * nothing more for the key but leaves the connection up (see {@link ExpiryMode}).
   */
  keyEnded(listenKey: string, mode: ExpiryMode): number {
    const targets = this.ofKey(listenKey);
    for (const s of targets) {
      if (mode === "event" || mode === "event-close") {
        this.sendEvent(s, listenKey, listenKeyExpired(listenKey, this.rt.clock.now()));
      }
      s.mutedKeys.add(listenKey);
      if (mode === "event-close" || mode === "close") this.close(s, 1000, "listen key expired");
    }
    return targets.length;
  }

  /** Makes matching sockets silently dead (or alive again); returns the count. */
  silence(filter: SocketFilter, on: boolean): number {
    const picked = this.select(filter);
    for (const s of picked) {
      s.silenced = on;
      if (on) {
        this.rt.disarm(s.pongDeadline);
        s.pongDeadline = undefined;
        s.awaitingPongSince = undefined;
      }
    }
    return picked.length;
  }

  /** Undoes stopped pings/pongs and silenced sockets. */
  resume(): void {
    this.pingsOn = true;
    this.pongsOn = true;
    for (const s of this.sockets.values()) s.silenced = false;
  }

  /** A `state()` row. */
  view(rec: SocketRecord): SocketState {
    return {
      id: rec.id,
      listenKeys: [...rec.listenKeys],
      account: rec.account,
      combined: rec.combined,
      kind: rec.kind,
      openedAt: rec.openedAt,
      pingsSent: rec.pingsSent,
      pongsReceived: rec.pongsReceived,
      pingsReceived: rec.pingsReceived,
      pongsSent: rec.pongsSent,
      messagesReceived: rec.messagesReceived,
      eventsDelivered: rec.eventsDelivered,
      lastPongAt: rec.lastPongAt,
      awaitingPongSince: rec.awaitingPongSince,
      silenced: rec.silenced,
      incomingLimitHits: rec.incomingLimitHits,
    };
  }

  /** Every open socket's row. */
  views(): SocketState[] {
    return [...this.sockets.values()].map((rec) => this.view(rec));
  }

  /** The last closed sockets, oldest first. */
  closed(): ClosedSocketState[] {
    return this.closedSockets.map((c) => ({ ...c, listenKeys: [...c.listenKeys] }));
  }

  /** Terminates every socket. */
  shutdown(): void {
    for (const s of [...this.sockets.values()]) {
      this.forget(s, "mock closed");
      s.ws.terminate();
    }
  }
}
