import { Agent, type IncomingMessage, request } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { PassThrough, type Readable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { type Dispatcher, Pool } from "undici";
import { errText, ToolgateMcpError } from "./errors.js";
import type { RpcId, RpcMessage } from "./jsonrpc.js";
import type { Scheduler } from "./options.js";
import { traceHeaders } from "./telemetry.js";

/**
 * One undici pool per upstream origin, shared by every session: POSTs are the hot path
 * and undici's client costs noticeably less CPU per request than `node:http`.
 */
const pools = new Map<string, Pool>();
function poolFor(url: URL): Pool {
  let p = pools.get(url.origin);
  if (!p) {
    p = new Pool(url.origin, { connections: 256, pipelining: 1 });
    pools.set(url.origin, p);
  }
  return p;
}

/** A POST's answer: status and headers, and the body as text (JSON) or a stream (SSE). */
interface PostResult {
  status: number;
  /** Only the response headers the transport reads (`content-type`, `mcp-session-id`). */
  headers: Record<string, string>;
  text: string;
  stream?: Readable;
}

/** How often one request's stream may be resumed before the call is failed. */
const MAX_RESUMES = 50;

/** Keep-alive agents for the long-lived GET streams, resumption and DELETE. */
const httpAgent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });

/**
 * Client side of Streamable HTTP towards one upstream, on `node:http` keep-alive sockets.
 * Leaner than a fetch-based client on the hot path: JSON responses are parsed once and
 * handed over without re-validation (the session above only routes them). Handles SSE
 * responses, the standalone GET stream (opened after `notifications/initialized`),
 * resumption with `Last-Event-ID`, and session termination with DELETE.
 */
export class HttpUpstreamTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onerror?: (error: Error) => void;
  onclose?: () => void;
  sessionId?: string;
  private protocolVersion: string | undefined;
  private closed = false;
  private getReq: ReturnType<typeof request> | undefined;
  private getRetry: unknown;
  private getAttempt = 0;
  private lastGetEventId: string | undefined;
  /** The reconnection delay the server asked for with `retry:` (ms), once it did. */
  private serverRetryMs: number | undefined;
  private headerCache:
    | { sid: string | undefined; pv: string | undefined; headers: Record<string, string> }
    | undefined;

  private readonly pool: Pool;
  private readonly path: string;

  constructor(
    private readonly url: URL,
    private readonly headers: Record<string, string>,
    private readonly scheduler: Scheduler,
  ) {
    this.pool = poolFor(url);
    this.path = url.pathname + url.search;
  }

  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const msg = message as unknown as RpcMessage;
    let res: PostResult;
    try {
      res = await this.post(JSON.stringify(msg), traceHeaders(msg));
    } catch (e) {
      throw new ToolgateMcpError("UPSTREAM_FAILED", `upstream request failed: ${errText(e)}`);
    }
    const sid = res.headers["mcp-session-id"];
    if (typeof sid === "string") this.sessionId = sid;
    const status = res.status;
    if (
      status === 202 ||
      (status >= 200 && status < 300 && msg.method !== undefined && msg.id === undefined)
    ) {
      res.stream?.resume();
      if (msg.method === "notifications/initialized") this.openGet();
      return;
    }
    if (status < 200 || status >= 300) {
      if (status === 404 && this.sessionId) {
        // The upstream forgot our session: this connection is over (the link reports it).
        queueMicrotask(() => void this.close());
      }
      throw new ToolgateMcpError(
        "UPSTREAM_FAILED",
        `HTTP ${status} from upstream: ${res.text.slice(0, 200)}`,
        {
          status,
        },
      );
    }
    if (res.stream) {
      this.consumeSse(res.stream, msg.id, false);
      return;
    }
    const text = res.text;
    if (text.length === 0) return;
    const parsed = JSON.parse(text) as unknown;
    if (Array.isArray(parsed)) {
      for (const m of parsed) this.onmessage?.(m as JSONRPCMessage);
    } else {
      this.onmessage?.(parsed as JSONRPCMessage);
    }
  }

  /** Headers of a POST; rebuilt only when the session id or protocol version changed. */
  private postHeaders(): Record<string, string> {
    const c = this.headerCache;
    if (c && c.sid === this.sessionId && c.pv === this.protocolVersion) return c.headers;
    const headers: Record<string, string> = {
      ...this.headers,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    };
    if (this.sessionId) headers["mcp-session-id"] = this.sessionId;
    if (this.protocolVersion) headers["mcp-protocol-version"] = this.protocolVersion;
    this.headerCache = { sid: this.sessionId, pv: this.protocolVersion, headers };
    return headers;
  }

  /**
   * One POST on the pool through undici's handler API: a JSON body is collected into one
   * string without a body stream or promise per chunk; an SSE body becomes a stream (with
   * back-pressure) as soon as the headers arrive.
   */
  private post(body: string, extra?: Record<string, string>): Promise<PostResult> {
    return new Promise((resolve, reject) => {
      let status = 0;
      const headers: PostResult["headers"] = {};
      let stream: PassThrough | undefined;
      const chunks: Buffer[] = [];
      let resumeBody: (() => void) | undefined;
      // undici's core handler interface (the `request()` API is built on it).
      const handler: Dispatcher.DispatchHandler = {
        onConnect() {},
        onHeaders(statusCode, raw, resume) {
          if (statusCode < 200) return true;
          status = statusCode;
          resumeBody = resume;
          for (let i = 0; i + 1 < raw.length; i += 2) {
            const k = raw[i]!.toString("latin1").toLowerCase();
            if (k === "content-type" || k === "mcp-session-id")
              headers[k] = raw[i + 1]!.toString("latin1");
          }
          if (
            statusCode < 300 &&
            String(headers["content-type"] ?? "").includes("text/event-stream")
          ) {
            stream = new PassThrough();
            resolve({ status, headers, text: "", stream });
          }
          return true;
        },
        onData(chunk) {
          if (!stream) {
            chunks.push(chunk);
            return true;
          }
          if (stream.write(chunk)) return true;
          stream.once("drain", () => resumeBody?.());
          return false;
        },
        onComplete() {
          if (stream) {
            stream.end();
            return;
          }
          const text =
            chunks.length === 0
              ? ""
              : chunks.length === 1
                ? chunks[0]!.toString("utf8")
                : Buffer.concat(chunks).toString("utf8");
          resolve({ status, headers, text });
        },
        onError(err) {
          if (stream) stream.destroy(err);
          else reject(err);
        },
      };
      this.pool.dispatch(
        {
          path: this.path,
          method: "POST",
          headers: extra ? { ...this.postHeaders(), ...extra } : this.postHeaders(),
          body,
        },
        handler,
      );
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.getRetry !== undefined) this.scheduler.clearTimeout(this.getRetry);
    this.getReq?.destroy();
    this.onclose?.();
  }

  /** Ends the upstream session (DELETE), ignoring failures. */
  async terminateSession(): Promise<void> {
    if (!this.sessionId) return;
    try {
      const res = await this.request("DELETE", undefined, {});
      res.resume();
    } catch {
      // The upstream may already be gone; nothing to clean up then.
    }
  }

  private request(
    method: string,
    body: string | undefined,
    extra: Record<string, string>,
  ): Promise<IncomingMessage> {
    const headers: Record<string, string | number> = { ...this.headers, ...extra };
    if (this.sessionId) headers["mcp-session-id"] = this.sessionId;
    if (this.protocolVersion) headers["mcp-protocol-version"] = this.protocolVersion;
    if (body !== undefined) headers["content-length"] = Buffer.byteLength(body);
    const https = this.url.protocol === "https:";
    const attempt = (retry: boolean): Promise<IncomingMessage> =>
      new Promise((resolve, reject) => {
        const req = (https ? httpsRequest : request)(
          this.url,
          { method, headers, agent: https ? httpsAgent : httpAgent },
          resolve,
        );
        req.on("error", (e: NodeJS.ErrnoException) => {
          // A pooled socket the server closed while idle fails before any response:
          // the request never reached the server, so one retry on a fresh socket is safe.
          if (retry && req.reusedSocket && e.code === "ECONNRESET") {
            attempt(false).then(resolve, reject);
            return;
          }
          reject(new ToolgateMcpError("UPSTREAM_FAILED", `upstream request failed: ${e.message}`));
        });
        req.end(body);
      });
    return attempt(true);
  }

  /**
   * Reads an SSE response. For a POST stream that ends before its response arrived but
   * after an event id was seen, resumes with GET + Last-Event-ID.
   */
  private consumeSse(
    res: Readable,
    requestId: RpcMessage["id"],
    standalone: boolean,
    resumes = 0,
  ): void {
    let lastId: string | undefined;
    let answered = false;
    let over = false;
    // The standard parser: any line ending (CRLF, LF, lone CR), comments, and `retry:`.
    const parser = createParser({
      onRetry: (ms) => {
        this.serverRetryMs = ms;
      },
      onEvent: (e) =>
        this.sseEvent(
          e,
          standalone,
          requestId,
          (id) => {
            lastId = id;
          },
          () => {
            answered = true;
          },
        ),
    });
    res.setEncoding("utf8");
    res.on("data", (c: string) => parser.feed(c));
    const ended = (): void => {
      if (over || this.closed) return;
      over = true;
      // A stream that ends on a lone CR: the parser holds that CR back in case an LF
      // follows (CRLF split across chunks); none will, so complete it.
      parser.feed("\n");
      if (standalone) {
        this.getReq = undefined;
        this.scheduleGet();
        return;
      }
      if (answered || requestId === undefined) return;
      if (lastId !== undefined && resumes < MAX_RESUMES) {
        const id = lastId;
        // The server's `retry:` is how long it asks clients to wait before reconnecting.
        if (this.serverRetryMs === undefined) void this.resume(id, requestId, resumes + 1);
        else
          this.scheduler.setTimeout(
            () => void this.resume(id, requestId, resumes + 1),
            this.serverRetryMs,
          );
      } else {
        this.unanswered(requestId, "upstream closed the stream before answering");
      }
    };
    res.on("end", ended);
    res.on("error", (e) => {
      this.onerror?.(e);
    });
    res.on("close", ended);
  }

  /** One SSE event: records its id, and hands a JSON-RPC message on. */
  private sseEvent(
    e: EventSourceMessage,
    standalone: boolean,
    requestId: RpcMessage["id"],
    sawId: (id: string) => void,
    sawAnswer: () => void,
  ): void {
    if (e.id) {
      sawId(e.id);
      if (standalone) this.lastGetEventId = e.id;
    }
    if (!e.data || (e.event && e.event !== "message")) return;
    let m: RpcMessage;
    try {
      m = JSON.parse(e.data) as RpcMessage;
    } catch {
      this.onerror?.(new Error("upstream sent an SSE event that is not JSON"));
      return;
    }
    if (m.method === undefined && m.id === requestId) sawAnswer();
    this.onmessage?.(m as unknown as JSONRPCMessage);
  }

  private async resume(lastEventId: string, requestId: RpcId, resumes: number): Promise<void> {
    try {
      const res = await this.request("GET", undefined, {
        accept: "text/event-stream",
        "last-event-id": lastEventId,
      });
      if (res.statusCode !== 200) {
        res.resume();
        this.unanswered(
          requestId,
          `upstream refused to resume the stream (HTTP ${res.statusCode})`,
        );
        return;
      }
      this.consumeSse(res, requestId, false, resumes);
    } catch (e) {
      this.unanswered(requestId, errText(e));
    }
  }

  /**
   * A request whose answer can no longer arrive: answered locally with a JSON-RPC error
   * so the caller fails (and rolls back) instead of waiting forever.
   */
  private unanswered(requestId: RpcId, reason: string): void {
    if (this.closed) return;
    this.onmessage?.({
      jsonrpc: "2.0",
      id: requestId,
      error: { code: -32603, message: `upstream failed: ${reason}` },
    } as JSONRPCMessage);
  }

  private openGet(): void {
    if (this.closed || this.getReq) return;
    const headers: Record<string, string | number> = {
      ...this.headers,
      accept: "text/event-stream",
    };
    if (this.sessionId) headers["mcp-session-id"] = this.sessionId;
    if (this.protocolVersion) headers["mcp-protocol-version"] = this.protocolVersion;
    if (this.lastGetEventId) headers["last-event-id"] = this.lastGetEventId;
    const https = this.url.protocol === "https:";
    // The long-lived GET stream gets its own socket so it never blocks pooled requests.
    const req = (https ? httpsRequest : request)(
      this.url,
      { method: "GET", headers, agent: false },
      (res) => {
        if (res.statusCode === 405) {
          res.resume();
          this.getReq = undefined;
          return;
        }
        if (res.statusCode === 404 && this.sessionId) {
          // The upstream forgot our session (it restarted): close, so the link reconnects
          // now instead of on the next call.
          res.resume();
          this.getReq = undefined;
          void this.close();
          return;
        }
        if (res.statusCode !== 200) {
          res.resume();
          this.getReq = undefined;
          this.scheduleGet();
          return;
        }
        this.getAttempt = 0;
        this.consumeSse(res, undefined, true);
      },
    );
    req.on("error", () => {
      if (this.getReq === req) this.getReq = undefined;
      this.scheduleGet();
    });
    this.getReq = req;
    req.end();
  }

  private scheduleGet(): void {
    if (this.closed || this.getRetry !== undefined) return;
    // From the server's `retry:` when it sent one, doubling on each failed attempt.
    const delay = Math.min(30_000, (this.serverRetryMs ?? 500) * 2 ** this.getAttempt++);
    this.getRetry = this.scheduler.setTimeout(() => {
      this.getRetry = undefined;
      this.openGet();
    }, delay);
  }
}
