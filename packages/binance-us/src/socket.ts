import WebSocket from "ws";

/** Callbacks a {@link StreamSocket} reports to. Text frames arrive decoded as UTF-8. */
export interface StreamSocketHandlers {
  onOpen(): void;
  onMessage(text: string): void;
  /** A server ping; the connector answers it with a pong carrying the same payload. */
  onPing(data: Uint8Array): void;
  onPong(): void;
  onClose(code: number, reason: string): void;
  onError(error: Error): void;
}

/** The few socket operations the connector uses. */
export interface StreamSocket {
  ping(): void;
  pong(data?: Uint8Array): void;
  /**
   * Sends a text frame. The user-data stream never sends; the WebSocket API client needs
   * it, so a factory used for the WebSocket API must provide it.
   */
  send?(text: string): void;
  /** Graceful close with a close frame. */
  close(code?: number, reason?: string): void;
  /** Immediate teardown without a close frame (used for dead sockets). */
  terminate(): void;
}

/**
 * Opens a socket to `url` and reports to `handlers`. Inject a fake in tests; the default,
 * {@link wsWebSocketFactory}, uses the `ws` package.
 */
export type WebSocketFactory = (url: string, handlers: StreamSocketHandlers) => StreamSocket;

/**
 * Default factory on `ws`. Automatic pongs are switched off so the connector answers pings
 * itself (and counts them as liveness); errors are routed to `onError` so an unreachable
 * host never becomes an unhandled `error` event.
 */
export const wsWebSocketFactory: WebSocketFactory = (url, handlers) => {
  const ws = new WebSocket(url, { autoPong: false, handshakeTimeout: 10_000 });
  ws.on("open", () => handlers.onOpen());
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    handlers.onMessage(
      Array.isArray(data) ? Buffer.concat(data).toString("utf8") : data.toString("utf8"),
    );
  });
  ws.on("ping", (data) => handlers.onPing(data));
  ws.on("pong", () => handlers.onPong());
  ws.on("close", (code, reason) => handlers.onClose(code, reason.toString("utf8")));
  ws.on("error", (error) => handlers.onError(error));
  const guard = (fn: () => void) => {
    try {
      fn();
    } catch {
      // Sending on a socket that is closing throws; the close handler does the cleanup.
    }
  };
  return {
    ping: () => guard(() => ws.readyState === WebSocket.OPEN && ws.ping()),
    pong: (data) => guard(() => ws.readyState === WebSocket.OPEN && ws.pong(data)),
    send: (text) => guard(() => ws.readyState === WebSocket.OPEN && ws.send(text)),
    close: (code, reason) =>
      guard(() => {
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else ws.close(code, reason);
      }),
    terminate: () => guard(() => ws.terminate()),
  };
};
