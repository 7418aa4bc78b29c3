import type { ServerResponse } from "node:http";
import { SessionEventStore } from "./event-store.js";
import type { RpcId, RpcMessage } from "./jsonrpc.js";

/** How a POST answers: decided per request (see `ToolgateMcpOptions.responseMode`). */
export type ResponseMode = "auto" | "sse" | "json";

/** An SSE stream of a session: a POST's response stream or the standalone GET stream. */
interface Stream {
  readonly id: string;
  res: ServerResponse | undefined;
  /** False once the request(s) it carries are answered (POST) or the session ended. */
  live: boolean;
}

/**
 * One open client request: where its response and related messages go. Starts
 * `pending` (nothing written yet); becomes `json` or `sse` on the first write.
 */
export interface Slot {
  readonly clientId: RpcId;
  readonly key: string;
  res: ServerResponse | undefined;
  mode: "pending" | "sse" | "json" | "done";
  stream: Stream | undefined;
}

const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache, no-transform",
  connection: "keep-alive",
};

/**
 * Server side of Streamable HTTP for one session: answers POSTs as JSON or SSE, keeps
 * the standalone GET stream, stores SSE events for resumption and replays them on
 * `Last-Event-ID`. Knows nothing about MCP methods or upstreams.
 */
export class ClientStreams {
  private readonly store: SessionEventStore;
  private standalone: Stream | undefined;
  private readonly streams = new Map<string, Stream>();
  /** Unrelated messages sent before the client opened its GET stream (bounded). */
  private early: string[] | undefined = [];
  private streamSeq = 0;

  constructor(
    private readonly sessionId: string,
    private readonly mode: ResponseMode,
    eventCapacity = 1000,
    /** SSE `retry:` hint sent on every new stream: how long a client waits to reconnect. */
    private readonly retryMs = 1000,
    /**
     * MCP 2026-07-28 answers: an SSE answer carries only the request's notifications (no
     * session header, no event ids, nothing stored for resumption, no requests to the
     * client), and there is no standalone stream.
     */
    readonly stateless = false,
  ) {
    this.store = new SessionEventStore(stateless ? 0 : eventCapacity);
    if (stateless) this.early = undefined;
  }

  /** Registers a POSTed request whose answer goes to `res`. */
  open(clientId: RpcId, key: string, res: ServerResponse): Slot {
    const slot: Slot = { clientId, key, res, mode: "pending", stream: undefined };
    res.on("close", () => {
      // A dropped connection is not a cancellation: later events stay in the store.
      if (slot.stream && slot.stream.res === res) slot.stream.res = undefined;
      slot.res = undefined;
    });
    if (this.mode === "sse") this.toSse(slot);
    return slot;
  }

  /** Sends the final response of a slot and ends its stream. */
  respond(slot: Slot, message: RpcMessage): void {
    if (slot.mode === "done") return;
    const res = slot.res;
    if (slot.mode === "pending") {
      slot.mode = "done";
      if (res && !res.headersSent) {
        const body = JSON.stringify(message);
        const headers: Record<string, string | number> = {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        };
        // A stateless answer names no session (the held one is the gateway's own).
        if (!this.stateless) headers["mcp-session-id"] = this.sessionId;
        res.writeHead(200, headers);
        res.end(body);
      }
      return;
    }
    slot.mode = "done";
    const stream = slot.stream;
    if (!stream) return;
    this.writeEvent(stream, JSON.stringify(message));
    this.streams.delete(stream.id);
    end(stream);
  }

  /**
   * Sends a notification or request that belongs to an open request (progress,
   * sampling during a tool call). Switches the POST to SSE if it was still pending.
   * Falls back to the standalone stream when the slot cannot stream.
   */
  sendRelated(slot: Slot | undefined, message: RpcMessage): void {
    if (!slot || slot.mode === "done" || this.mode === "json" || slot.mode === "json") {
      this.sendUnrelated(message);
      return;
    }
    if (this.stateless && message.id !== undefined) return;
    if (slot.mode === "pending") this.toSse(slot);
    if (slot.stream) this.writeEvent(slot.stream, JSON.stringify(message));
  }

  /** Sends a message on the standalone GET stream (queued until the client opens it). */
  sendUnrelated(message: RpcMessage): void {
    const data = JSON.stringify(message);
    if (this.standalone) {
      this.writeEvent(this.standalone, data);
      return;
    }
    if (this.early && this.early.length < 100) this.early.push(data);
  }

  /** True while a GET stream is attached. */
  get hasStandalone(): boolean {
    return this.standalone?.res !== undefined;
  }

  /**
   * Handles GET: opens the standalone stream or resumes one with `Last-Event-ID`.
   * Returns an HTTP status to answer with when it refuses, or undefined when streaming.
   */
  attach(
    res: ServerResponse,
    lastEventId: string | undefined,
  ): { code: "EVENT_NOT_FOUND" | "STREAM_CONFLICT"; message: string } | undefined {
    if (lastEventId !== undefined) {
      const events = this.store.after(lastEventId);
      const streamId = SessionEventStore.streamOf(lastEventId);
      if (events === undefined || streamId === undefined) {
        return {
          code: "EVENT_NOT_FOUND",
          message: "unknown or expired Last-Event-ID; re-issue the request",
        };
      }
      res.writeHead(200, { ...SSE_HEADERS, "mcp-session-id": this.sessionId });
      for (const e of events) res.write(`id: ${e.id}\ndata: ${e.data}\n\n`);
      const stream = streamId === "g" ? this.standalone : this.streams.get(streamId);
      if (stream?.live) {
        stream.res?.end();
        bind(stream, res);
      } else {
        res.end();
      }
      return undefined;
    }
    if (this.standalone?.res) {
      return { code: "STREAM_CONFLICT", message: "a GET stream is already open for this session" };
    }
    const stream: Stream = this.standalone ?? { id: "g", res: undefined, live: true };
    this.standalone = stream;
    bind(stream, res);
    res.writeHead(200, { ...SSE_HEADERS, "mcp-session-id": this.sessionId });
    this.writeEvent(stream, "", true);
    const early = this.early;
    this.early = undefined;
    if (early) for (const data of early) this.writeEvent(stream, data);
    return undefined;
  }

  /** Ends every stream (session deleted or gateway closing). */
  close(): void {
    for (const s of this.streams.values()) end(s);
    this.streams.clear();
    if (this.standalone) end(this.standalone);
  }

  private toSse(slot: Slot): void {
    const stream: Stream = { id: `p${++this.streamSeq}`, res: slot.res, live: true };
    slot.mode = "sse";
    slot.stream = stream;
    this.streams.set(stream.id, stream);
    const res = slot.res;
    if (res && !res.headersSent && this.stateless) {
      res.writeHead(200, SSE_HEADERS);
    } else if (res && !res.headersSent) {
      res.writeHead(200, { ...SSE_HEADERS, "mcp-session-id": this.sessionId });
      // Priming event: gives the client an event id to resume from before any data, and
      // the reconnection delay (the spec's SHOULD: clients otherwise guess their own).
      this.writeEvent(stream, "", true);
    }
  }

  private writeEvent(stream: Stream, data: string, priming = false): void {
    if (this.stateless) {
      if (stream.res && !stream.res.writableEnded) stream.res.write(`data: ${data}\n\n`);
      return;
    }
    const id = this.store.store(stream.id, data);
    const res = stream.res;
    if (res && !res.writableEnded) {
      res.write(
        priming
          ? `id: ${id}\nretry: ${this.retryMs}\ndata: ${data}\n\n`
          : `id: ${id}\ndata: ${data}\n\n`,
      );
    }
  }
}

/** Points a stream at a (re)connected response; a later drop detaches only that one. */
function bind(stream: Stream, res: ServerResponse): void {
  stream.res = res;
  res.on("close", () => {
    if (stream.res === res) stream.res = undefined;
  });
}

/** Ends a stream for good: nothing more is written to it, resumption replays only. */
function end(stream: Stream): void {
  stream.live = false;
  stream.res?.end();
  stream.res = undefined;
}
