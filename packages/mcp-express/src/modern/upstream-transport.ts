/**
 * A 2026-07-28 (stateless) HTTP upstream behind the link interface every other upstream
 * uses: the gateway's sessions — a 2025 client's, or the session the 2026 front holds —
 * talk to it as to a 2025 server, and this transport translates.
 *
 * - `initialize` is answered from the upstream's `server/discover` (capabilities,
 *   serverInfo, instructions); `notifications/initialized` goes nowhere.
 * - Every request is one POST with the per-request envelope in `params._meta` and the
 *   `MCP-Protocol-Version`/`Mcp-Method`/`Mcp-Name` headers. A request that already
 *   carries a 2026 envelope (a 2026 client's, through the held session) keeps it, so the
 *   upstream sees the real client's capabilities; others get the 2025 client's
 *   `initialize` capabilities and info.
 * - Progress and log notifications on an SSE answer are relayed; `notifications/cancelled`
 *   aborts the POST (a stateless server stops when its request goes away).
 * - `input_required` results: passed through to a 2026 caller (the front seals the
 *   state); for a 2025 caller the embedded requests are sent to the client as ordinary
 *   server-to-client requests and the call is retried with the answers (see mrtr-bridge).
 * - `ping` and `logging/setLevel` are answered here (the level rides along in `_meta`);
 *   `resources/subscribe`/`unsubscribe` have no stateless form and are refused (-32601).
 */

import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { Pool } from "undici";
import { errText } from "../errors.js";
import type { RpcId, RpcMessage } from "../jsonrpc.js";
import { traceHeaders } from "../telemetry.js";
import { TOOLGATE_VERSION } from "../version.js";
import { META } from "./envelope.js";
import { LegacyInputBridge } from "./mrtr-bridge.js";
import { postOnce } from "./upstream-post.js";

/** The revision this transport speaks upstream. */
export const UPSTREAM_MODERN_VERSION = "2026-07-28";

const NAME_FIELD: Readonly<Record<string, string>> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
};

const UNBRIDGEABLE = new Set(["resources/subscribe", "resources/unsubscribe"]);

const pools = new Map<string, Pool>();
function poolFor(url: URL): Pool {
  let p = pools.get(url.origin);
  if (!p) {
    p = new Pool(url.origin, { connections: 256, pipelining: 1 });
    pools.set(url.origin, p);
  }
  return p;
}

/** A header value as the 2026 revision sends it: visible ASCII as is, else base64-sentineled. */
export function encodeHeaderValue(v: string): string {
  return /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(v)
    ? v
    : `=?base64?${Buffer.from(v, "utf8").toString("base64")}?=`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Whether the server at `url` speaks MCP 2026-07-28: a `server/discover` POST (with the
 * revision's headers and envelope) answered with `supportedVersions` naming it. Anything
 * else — an error status, a JSON-RPC error, another body — means a 2025 server. Rejects
 * only when the server cannot be reached (the caller retries as for any connect).
 */
export async function speaksModern(
  url: URL,
  headers: Record<string, string>,
  timeoutMs = 10_000,
): Promise<boolean> {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: "toolgate-discover",
    method: "server/discover",
    params: {
      _meta: {
        [META.protocolVersion]: UPSTREAM_MODERN_VERSION,
        [META.clientCapabilities]: {},
        [META.clientInfo]: { name: "toolgate", version: TOOLGATE_VERSION },
      },
    },
  });
  const res = await postOnce(
    poolFor(url),
    url.pathname + url.search,
    {
      ...headers,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": UPSTREAM_MODERN_VERSION,
      "mcp-method": "server/discover",
    },
    body,
    AbortSignal.timeout(timeoutMs),
    () => undefined,
  );
  if (res.status !== 200) return false;
  let m: unknown = res.final;
  if (!res.sse) {
    try {
      m = JSON.parse(res.text);
    } catch {
      return false;
    }
  }
  const versions = isObject(m) && isObject(m.result) ? m.result.supportedVersions : undefined;
  return Array.isArray(versions) && versions.includes(UPSTREAM_MODERN_VERSION);
}

/** One POST's answer: the final JSON-RPC message (notifications were relayed on the way). */
type Answer = RpcMessage;

/** Client side of the stateless 2026-07-28 Streamable HTTP transport to one upstream. */
export class ModernHttpTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onerror?: (error: Error) => void;
  onclose?: () => void;
  private closed = false;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly inflight = new Map<RpcId, AbortController>();
  /** The 2025 client's `initialize` capabilities and info (the envelope of its requests). */
  private clientCapabilities: Record<string, unknown> = {};
  private clientInfo: Record<string, unknown> = { name: "toolgate", version: TOOLGATE_VERSION };
  private logLevel: string | undefined;
  private readonly bridge: LegacyInputBridge;

  constructor(
    url: URL,
    private readonly headers: Record<string, string>,
  ) {
    this.pool = poolFor(url);
    this.path = url.pathname + url.search;
    this.bridge = new LegacyInputBridge((m) => this.deliver(m));
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    const m = message as unknown as RpcMessage;
    if (this.closed) throw new Error("transport closed");
    if (m.method === undefined) {
      // A 2025 client's answer to an input request the bridge sent it.
      this.bridge.answer(m);
      return;
    }
    if (m.id === undefined) {
      if (m.method === "notifications/cancelled") {
        const rid = m.params?.requestId;
        if (typeof rid === "string" || typeof rid === "number") this.inflight.get(rid)?.abort();
      }
      // No other client notification exists in the stateless revision.
      return;
    }
    // Not awaited: the link resolves the request when its answer is delivered.
    void this.serve(m, m.id);
  }

  private async serve(m: RpcMessage, id: RpcId): Promise<void> {
    // One controller per request: a cancel stops its POST and any input it waits for.
    const abort = new AbortController();
    this.inflight.set(id, abort);
    try {
      this.deliver(await this.answerFor(m, id, abort.signal));
    } catch (e) {
      if (abort.signal.aborted) return; // cancelled: the link stopped waiting already
      this.deliver({
        jsonrpc: "2.0",
        id,
        error: { code: -32603, message: `upstream failed: ${errText(e)}` },
      });
    } finally {
      this.inflight.delete(id);
    }
  }

  private async answerFor(m: RpcMessage, id: RpcId, signal: AbortSignal): Promise<Answer> {
    const method = m.method as string;
    const params = (m.params ?? {}) as Record<string, unknown>;
    switch (method) {
      case "initialize":
        return this.initialize(id, params, signal);
      case "ping":
        return { jsonrpc: "2.0", id, result: {} };
      case "logging/setLevel":
        if (typeof params.level === "string") this.logLevel = params.level;
        return { jsonrpc: "2.0", id, result: {} };
    }
    if (UNBRIDGEABLE.has(method)) {
      return {
        jsonrpc: "2.0",
        id,
        error: {
          code: -32601,
          message: `${method} is not available: the upstream speaks MCP ${UPSTREAM_MODERN_VERSION}, which has no sessions to subscribe in`,
        },
      };
    }
    const modernCaller = isObject(params._meta) && META.protocolVersion in params._meta;
    const first = await this.post(id, method, params, signal);
    if (modernCaller) return first;
    return this.bridge.fulfil(first, method, this.clientCapabilities, signal, (retry) =>
      this.post(id, method, { ...params, ...retry }, signal),
    );
  }

  /** `initialize` from `server/discover`: what a 2025 client needs to know. */
  private async initialize(
    id: RpcId,
    params: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<Answer> {
    if (isObject(params.capabilities)) this.clientCapabilities = params.capabilities;
    if (isObject(params.clientInfo)) this.clientInfo = params.clientInfo;
    const d = await this.post(id, "server/discover", {}, signal);
    if (d.error) return d;
    const r = (d.result ?? {}) as Record<string, unknown>;
    const caps = {
      ...((isObject(r.capabilities) ? r.capabilities : {}) as Record<string, unknown>),
    };
    // List-changed and subscriptions need `subscriptions/listen`, which is not bridged.
    for (const k of ["tools", "prompts", "resources"]) {
      if (isObject(caps[k])) {
        const { listChanged: _l, subscribe: _s, ...rest } = caps[k] as Record<string, unknown>;
        caps[k] = rest;
      }
    }
    const meta = isObject(r._meta) ? r._meta : {};
    const serverInfo = isObject(meta[META.serverInfo])
      ? meta[META.serverInfo]
      : { name: "upstream", version: "0" };
    const result: Record<string, unknown> = {
      protocolVersion:
        typeof params.protocolVersion === "string" ? params.protocolVersion : "2025-11-25",
      capabilities: caps,
      serverInfo,
    };
    if (typeof r.instructions === "string") result.instructions = r.instructions;
    return { jsonrpc: "2.0", id, result };
  }

  /** The envelope of a request that has none (a 2025 caller's, or the gateway's own). */
  private envelope(params: Record<string, unknown>): Record<string, unknown> {
    const meta = isObject(params._meta) ? params._meta : {};
    if (META.protocolVersion in meta) return meta;
    const out: Record<string, unknown> = {
      ...meta,
      [META.protocolVersion]: UPSTREAM_MODERN_VERSION,
      [META.clientCapabilities]: this.clientCapabilities,
      [META.clientInfo]: this.clientInfo,
    };
    if (this.logLevel !== undefined) out[META.logLevel] = this.logLevel;
    return out;
  }

  /** One POST; notifications on an SSE answer are relayed, the final message returned. */
  private async post(
    id: RpcId,
    method: string,
    params: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<Answer> {
    const body: RpcMessage = {
      jsonrpc: "2.0",
      id,
      method,
      params: { ...params, _meta: this.envelope(params) },
    };
    const headers: Record<string, string> = {
      ...this.headers,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": UPSTREAM_MODERN_VERSION,
      "mcp-method": method,
      ...traceHeaders(body),
    };
    const field = NAME_FIELD[method];
    const name = field ? params[field] : undefined;
    if (typeof name === "string") headers["mcp-name"] = encodeHeaderValue(name);
    const res = await postOnce(this.pool, this.path, headers, JSON.stringify(body), signal, (m) =>
      this.deliver(m),
    );
    if (res.sse) {
      if (!res.final) throw new Error("upstream closed the stream before answering");
      return { ...res.final, id };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.text);
    } catch {
      parsed = undefined;
    }
    // A JSON-RPC error on a 4xx (the upstream's validation ladder) survives as it is.
    if (isObject(parsed) && (parsed.result !== undefined || parsed.error !== undefined)) {
      return { ...(parsed as unknown as RpcMessage), id };
    }
    return {
      jsonrpc: "2.0",
      id,
      error: {
        code: -32603,
        message: `HTTP ${res.status} from upstream: ${res.text.slice(0, 200)}`,
      },
    };
  }

  private deliver(m: RpcMessage): void {
    if (!this.closed) this.onmessage?.(m as unknown as JSONRPCMessage);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.inflight.values()) a.abort();
    this.inflight.clear();
    this.bridge.close();
    this.onclose?.();
  }
}
