import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { type Clock, createRealClock } from "./clock.js";
import { createControl, type MockControl } from "./control.js";
import { handleControlHttp } from "./control-http.js";
import { BINANCE_US_WIRE_ERRORS } from "./errors.js";
import { MockExchange } from "./exchange.js";
import { type BinanceUsMockOptions, parseMockOptions } from "./options.js";
import type { CoreResponse } from "./types.js";
import { handleWsApiText, WS_API_PATH } from "./ws-api.js";

/** A running mock exchange. */
export interface BinanceUsMock {
  /** REST base, e.g. `http://127.0.0.1:54321` (endpoints under `/api/v3/...`). */
  readonly restUrl: string;
  /**
   * WebSocket base, e.g. `ws://127.0.0.1:54321`: raw stream `/ws/<listenKey>`, combined
   * stream `/stream?streams=<listenKey>` (events wrapped as `{stream, data}`).
   */
  readonly wsUrl: string;
  /** The WebSocket API endpoint, e.g. `ws://127.0.0.1:54321/ws-api/v3`. */
  readonly wsApiUrl: string;
  readonly port: number;
  /** The clock the mock runs on (the fake one you passed, or the real clock). */
  readonly clock: Clock;
  /** Fault injection, event pushing and state inspection. */
  readonly control: MockControl;
  /** Closes every socket, timer and the server. Idempotent. */
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json;charset=UTF-8",
    "Content-Length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Writes a core response: JSON, or a raw (non-JSON) body such as a WAF page. */
function sendCore(res: ServerResponse, out: CoreResponse): void {
  if (out.rawText === undefined) {
    sendJson(res, out.status, out.body, out.headers);
    return;
  }
  res.writeHead(out.status, {
    "Content-Type": out.contentType ?? "text/plain",
    "Content-Length": String(Buffer.byteLength(out.rawText)),
    ...out.headers,
  });
  res.end(out.rawText);
}

function rejectUpgrade(socket: Duplex, status: number, statusText: string, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

function httpHandler(
  ex: MockExchange,
  control: MockControl,
  clock: Clock,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://mock.invalid");
      const method = (req.method ?? "GET").toUpperCase();
      let rawBody: string;
      try {
        rawBody = await readBody(req);
      } catch {
        sendJson(res, 413, { code: -1000, msg: "Request body too large." });
        return;
      }
      if (url.pathname === "/__mock" || url.pathname.startsWith("/__mock/")) {
        const out = await handleControlHttp(
          control,
          clock,
          method,
          url.pathname,
          rawBody,
          url.searchParams,
        );
        sendJson(res, out.status, out.body);
        return;
      }
      const header = req.headers["x-mbx-apikey"];
      const out = ex.handle({
        method,
        path: url.pathname,
        rawQuery: url.search.startsWith("?") ? url.search.slice(1) : url.search,
        rawBody,
        contentType: req.headers["content-type"],
        apiKey: Array.isArray(header) ? header[0] : header,
        ip: req.socket.remoteAddress ?? "unknown",
      });
      // A hanging fault never answers: the connection ends when the client gives up or
      // the mock closes. A slow one answers after `delayMs` of the mock's clock.
      if (out.hang) return;
      if (out.delayMs !== undefined) ex.rt.arm(() => sendCore(res, out), out.delayMs);
      else sendCore(res, out);
    })().catch((err: unknown) => {
      ex.opts.logger?.warn(
        { err: err instanceof Error ? err.message : String(err) },
        "mock request failed",
      );
      if (!res.headersSent) sendJson(res, 500, BINANCE_US_WIRE_ERRORS.UNKNOWN_ERROR);
    });
  };
}

function upgradeHandler(
  ex: MockExchange,
  wss: WebSocketServer,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    socket.on("error", () => {
      // Client vanished during the handshake; nothing to clean up yet.
    });
    if (ex.isClosed) {
      socket.destroy();
      return;
    }
    const url = new URL(req.url ?? "/", "http://mock.invalid");
    const ip = req.socket.remoteAddress ?? "unknown";
    if (url.pathname === WS_API_PATH) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (ex.isClosed) {
          ws.terminate();
          return;
        }
        // Connecting to the WebSocket API costs 1 weight, as documented.
        ex.limits.ip(ip).used += 1;
        ex.addSocket({
          ws,
          raw: socket,
          listenKeys: [],
          combined: false,
          kind: "ws-api",
          onText: (rec, text) => handleWsApiText(ex, rec, text, ip),
        });
      });
      return;
    }
    let listenKeys: string[];
    let combined = false;
    if (url.pathname.startsWith("/ws/")) {
      listenKeys = [decodeURIComponent(url.pathname.slice(4))];
    } else if (url.pathname === "/stream") {
      listenKeys = (url.searchParams.get("streams") ?? "").split("/").filter((s) => s !== "");
      combined = true;
    } else {
      rejectUpgrade(socket, 404, "Not Found", {
        code: -1000,
        msg: `Use /ws/<listenKey>, /stream?streams=<listenKey> or ${WS_API_PATH}`,
      });
      return;
    }
    const onUnknown = ex.opts.unknownKeyOnConnect;
    const unknown = listenKeys.length === 0 || listenKeys.some((k) => !ex.keys.isActive(k));
    if (unknown && onUnknown === "reject") {
      const e = BINANCE_US_WIRE_ERRORS.LISTEN_KEY_NOT_FOUND;
      rejectUpgrade(socket, 400, "Bad Request", { code: e.code, msg: e.msg });
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (ex.isClosed) {
        ws.terminate();
        return;
      }
      const rec = ex.addSocket({
        ws,
        raw: socket,
        listenKeys: unknown && onUnknown === "silent" ? [] : listenKeys,
        combined,
        kind: "stream",
      });
      if (unknown && onUnknown === "close") {
        ex.sockets.close(rec, 1008, BINANCE_US_WIRE_ERRORS.LISTEN_KEY_NOT_FOUND.msg);
      }
    });
  };
}

/**
 * Starts a local Binance.US (REST + user-data WebSocket) on 127.0.0.1 and a free port.
 * Faithful to the documented listen-key rules: one key per account, get-or-extend POST,
 * 60-minute validity, -1125/-1102/-2014/-2015, `X-MBX-USED-WEIGHT-1M`, pings every 3 min,
 * disconnect without pong after 10 min, the 24-hour cut. Runs on real time unless a fake
 * clock is given.
 *
 * @example
 * const clock = createMockClock();
 * const mock = await startBinanceUsMock({ clock });
 * const res = await fetch(`${mock.restUrl}/api/v3/userDataStream`, {
 *   method: "POST", headers: { "X-MBX-APIKEY": "A".repeat(64) } });
 * const { listenKey } = await res.json();
 * const ws = new WebSocket(`${mock.wsUrl}/ws/${listenKey}`);
 * // ... mock.control.pushEvent({ listenKey }, mock.control.build.executionReport());
 * await mock.close();
 */
export async function startBinanceUsMock(options?: BinanceUsMockOptions): Promise<BinanceUsMock> {
  const opts = parseMockOptions(options);
  const clock = opts.clock ?? createRealClock();
  const ex = new MockExchange(opts, clock);
  const control = createControl(ex);
  const wss = new WebSocketServer({
    noServer: true,
    autoPong: false,
    clientTracking: false,
    // Requests, subscriptions and pongs are small; a hostile client must not make the mock
    // buffer megabytes per frame.
    maxPayload: 64 * 1024,
  });

  const server = createServer(httpHandler(ex, control, clock));
  server.on("upgrade", upgradeHandler(ex, wss));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  let closing: Promise<void> | undefined;

  return {
    restUrl: `http://${hostForUrl}:${port}`,
    wsUrl: `ws://${hostForUrl}:${port}`,
    wsApiUrl: `ws://${hostForUrl}:${port}${WS_API_PATH}`,
    port,
    clock,
    control,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        ex.shutdown();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
