import type { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { errText, ToolgateMcpError } from "./errors.js";
import type { HttpUpstreamTransport } from "./http-upstream.js";
import type { RpcMessage } from "./jsonrpc.js";
import type { Logger, Scheduler } from "./options.js";
import type { TransportFactory } from "./transports/common.js";

export type { TransportFactory } from "./transports/common.js";

/** What a link reports to its owner: upstream-initiated messages and lifecycle changes. */
export interface LinkListener {
  /** Requests and notifications the upstream sent (responses are resolved internally). */
  onUpstreamMessage(link: UpstreamLink, message: RpcMessage): void;
  /** The upstream restarted (stdio supervision) and was initialized again. */
  onUpstreamRestarted?(link: UpstreamLink): void;
  /** The connection ended for good (not supervised, e.g. an in-process server closed). */
  onUpstreamLost?(link: UpstreamLink): void;
}

interface Pending {
  resolve(message: RpcMessage): void;
  reject(error: Error): void;
  /** The request's timeout timer (cleared when it settles). */
  timer: unknown;
}

/** Options of one link. */
export interface LinkOptions {
  readonly name: string;
  readonly factory: TransportFactory;
  /**
   * Reconnect with backoff when the transport closes unexpectedly: a stdio child died, or
   * an HTTP upstream forgot the session (it restarted). The reconnect runs initialize again
   * on a fresh transport, so the client session above survives the upstream's restart.
   */
  readonly supervise: boolean;
  /**
   * Told when this link finds the upstream reachable or not (a send failed, the connection
   * closed, a reconnect worked), only on changes: feeds the gateway's readiness, which
   * would otherwise keep the answer of the last initialize while the upstream is down.
   */
  readonly onHealth?: (ok: boolean, detail?: string) => void;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  /**
   * Longest wait for an answer to any request on this link (ms); a request still open
   * then is cancelled upstream and rejected with `UPSTREAM_TIMEOUT`. Default 60000.
   */
  readonly timeoutMs?: number;
  /** Backoff of restarts: base and cap in ms. */
  readonly restartBaseMs?: number;
  readonly restartMaxMs?: number;
}

/**
 * One JSON-RPC connection to one upstream MCP server. Owns the upstream-side id space:
 * every request gets a fresh integer id and its response resolves a promise, so the
 * session above can map client ids without caring which transport is underneath.
 */
export class UpstreamLink {
  readonly name: string;
  /** Result of the last successful initialize (capabilities, serverInfo, ...). */
  initResult: Record<string, unknown> | undefined;
  /** Cached upstream tools (raw definitions) and an epoch bumped on list_changed. */
  tools: Array<Record<string, unknown>> | undefined;
  /**
   * Result-level fields of the upstream's last `tools/list` (its first page), other than
   * `tools` and `nextCursor`: `_meta`, cache hints such as `ttlMs`, and the size of the
   * upstream's pages when it paginated (`pageSize`).
   */
  toolsResult: { fields: Record<string, unknown>; pageSize?: number } | undefined;
  toolsEpoch = 0;
  ok = false;
  detail: string | undefined;

  private transport: Transport | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<LinkListener>();
  private initParams: Record<string, unknown> | undefined;
  private closing = false;
  private restartAttempt = 0;
  private restartTimer: unknown;
  private reported: boolean | undefined;

  constructor(private readonly opts: LinkOptions) {
    this.name = opts.name;
  }

  addListener(l: LinkListener): void {
    this.listeners.add(l);
  }
  removeListener(l: LinkListener): void {
    this.listeners.delete(l);
  }

  /** Connects and runs initialize + notifications/initialized; resolves the initialize result. */
  async connect(initParams: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.initParams = initParams;
    const transport = await this.opts.factory();
    this.transport = transport;
    transport.onmessage = (m: JSONRPCMessage) => this.receive(m as unknown as RpcMessage);
    transport.onerror = (e: Error) => {
      this.detail = e.message;
      this.opts.logger.debug?.({ upstream: this.name, err: e.message }, "upstream transport error");
    };
    transport.onclose = () => this.closed(transport);
    if ("stderr" in transport) {
      const stderr = (transport as StdioClientTransport).stderr;
      stderr?.on("data", () => {
        // Drained so a chatty child never blocks on a full pipe; content may hold secrets.
      });
    }
    await transport.start();
    const res = await this.send("initialize", initParams);
    if (res.error) {
      throw new ToolgateMcpError("UPSTREAM_FAILED", `upstream ${this.name}: initialize failed`, {
        upstream: this.name,
        error: res.error,
      });
    }
    const result = res.result ?? {};
    const version = result.protocolVersion;
    if (typeof version === "string" && "setProtocolVersion" in transport) {
      (transport as HttpUpstreamTransport).setProtocolVersion(version);
    }
    this.initResult = result;
    await this.notify({ jsonrpc: "2.0", method: "notifications/initialized" });
    this.ok = true;
    this.detail = undefined;
    this.restartAttempt = 0;
    this.report(true);
    return result;
  }

  /** The link's default request timeout in ms. */
  get timeoutMs(): number {
    return this.opts.timeoutMs ?? 60_000;
  }

  /**
   * Sends a request with a fresh upstream id; resolves with the response message. After
   * `timeoutMs` (default: the link's) without an answer the upstream is sent
   * `notifications/cancelled` for it, so it stops the work, and the promise rejects with
   * `UPSTREAM_TIMEOUT` naming the upstream: no request waits forever on a hung server.
   */
  request(
    method: string,
    params: Record<string, unknown> | undefined,
    timeoutMs?: number,
  ): Promise<RpcMessage> {
    // Only once initialized: during a reconnect the new transport exists before the upstream
    // knows the session, and a request sent then would be refused as uninitialized.
    if (!this.ok) {
      return Promise.reject(
        new ToolgateMcpError(
          "UPSTREAM_FAILED",
          `upstream ${this.name} is not connected${this.detail ? ` (${this.detail}); reconnecting` : ""}`,
          { upstream: this.name },
        ),
      );
    }
    return this.send(method, params, timeoutMs);
  }

  private send(
    method: string,
    params: Record<string, unknown> | undefined,
    timeoutMs = this.timeoutMs,
  ): Promise<RpcMessage> {
    const t = this.transport;
    if (!t || this.closing) {
      return Promise.reject(
        new ToolgateMcpError("UPSTREAM_FAILED", `upstream ${this.name} is not connected`),
      );
    }
    const id = this.nextId++;
    const msg: RpcMessage = { jsonrpc: "2.0", id, method };
    if (params !== undefined) msg.params = params;
    return new Promise<RpcMessage>((resolve, reject) => {
      const timer = this.opts.scheduler.setTimeout(() => {
        if (!this.pending.has(id)) return;
        const secs = timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`;
        void this.notify({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: id, reason: `no answer within ${secs}` },
        });
        this.settle(id)?.reject(
          new ToolgateMcpError(
            "UPSTREAM_TIMEOUT",
            `upstream ${this.name} did not answer ${method} within ${secs}; the request was cancelled`,
            { upstream: this.name, timeoutMs },
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      t.send(msg as JSONRPCMessage).catch((e: unknown) => {
        if (this.settle(id)) {
          this.report(false, errText(e));
          reject(
            new ToolgateMcpError("UPSTREAM_FAILED", `upstream ${this.name}: ${errText(e)}`, {
              upstream: this.name,
            }),
          );
        }
      });
    });
  }

  /**
   * Stops waiting for a request the client cancelled: the upstream will not answer it
   * (MCP receivers drop cancelled requests), so its promise is rejected here.
   */
  abandon(id: number): void {
    this.settle(id)?.reject(new ToolgateMcpError("CANCELLED", "request cancelled by the client"));
  }

  /** Removes a pending request and stops its timer; undefined when it is not pending. */
  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    this.opts.scheduler.clearTimeout(p.timer);
    return p;
  }

  /** The upstream id the next `request` call will use (for cancellation mapping). */
  peekNextId(): number {
    return this.nextId;
  }

  /** Sends a notification or a response to an upstream-initiated request. */
  async notify(message: RpcMessage): Promise<void> {
    const t = this.transport;
    if (!t) return;
    try {
      await t.send(message as JSONRPCMessage);
    } catch (e) {
      this.opts.logger.warn?.({ upstream: this.name, err: errText(e) }, "upstream send failed");
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.restartTimer !== undefined) this.opts.scheduler.clearTimeout(this.restartTimer);
    const t = this.transport;
    this.transport = undefined;
    this.failPending("upstream closed");
    this.ok = false;
    if (t) {
      if ("terminateSession" in t) {
        await (t as HttpUpstreamTransport).terminateSession().catch(() => undefined);
      }
      await t.close().catch(() => undefined);
    }
  }

  private receive(m: RpcMessage): void {
    if (m.method === undefined) {
      if (typeof m.id === "number") {
        const p = this.settle(m.id);
        if (p) {
          if (this.reported === false && this.ok) this.report(true);
          p.resolve(m);
        }
      }
      return;
    }
    if (m.method === "notifications/tools/list_changed") {
      this.tools = undefined;
      this.toolsEpoch++;
    }
    for (const l of this.listeners) l.onUpstreamMessage(this, m);
  }

  private report(ok: boolean, detail?: string): void {
    if (this.reported === ok) return;
    this.reported = ok;
    this.opts.onHealth?.(ok, detail);
  }

  private failPending(reason: string): void {
    if (this.pending.size === 0) return;
    const err = new ToolgateMcpError("UPSTREAM_FAILED", `upstream ${this.name}: ${reason}`, {
      upstream: this.name,
    });
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      this.opts.scheduler.clearTimeout(p.timer);
      p.reject(err);
    }
  }

  private closed(t: Transport): void {
    if (this.transport !== t) return;
    this.transport = undefined;
    this.ok = false;
    this.failPending("connection closed");
    if (this.closing) return;
    this.detail = "connection closed";
    this.report(false, this.detail);
    if (!this.opts.supervise || !this.initParams) {
      for (const l of [...this.listeners]) l.onUpstreamLost?.(this);
      return;
    }
    this.scheduleRestart();
  }

  /** Restarts after an exponential backoff; a failed restart schedules the next one. */
  private scheduleRestart(): void {
    if (this.restartTimer !== undefined) return;
    const base = this.opts.restartBaseMs ?? 200;
    const cap = this.opts.restartMaxMs ?? 10_000;
    const delay = Math.min(cap, base * 2 ** this.restartAttempt++);
    this.opts.logger.warn?.({ upstream: this.name, delayMs: delay }, "upstream died, restarting");
    this.restartTimer = this.opts.scheduler.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closing || !this.initParams) return;
      this.connect(this.initParams).then(
        () => {
          // The tools of the old process stay known while it is down, so calls route to this
          // link and fail with its state (not as unknown tools); the new one is listed again.
          this.tools = undefined;
          this.toolsEpoch++;
          for (const l of this.listeners) l.onUpstreamRestarted?.(this);
        },
        (e: unknown) => {
          this.detail = errText(e);
          this.report(false, this.detail);
          const tr = this.transport;
          this.transport = undefined;
          this.failPending("restart failed");
          void tr?.close().catch(() => undefined);
          if (!this.closing) this.scheduleRestart();
        },
      );
    }, delay);
  }
}
