/**
 * Stable error codes of `@toolgate/mcp-express`, each with the HTTP status and, where the
 * error travels as JSON-RPC, the JSON-RPC code. One table so adapters and tests agree.
 */
export const McpErrorCode = {
  /** Options passed to `createToolgateMcp` failed validation. */
  OPTIONS_INVALID: { http: 500, rpc: -32603 },
  /** Body is not valid JSON. */
  PARSE_ERROR: { http: 400, rpc: -32700 },
  /** Body is JSON but not a JSON-RPC 2.0 message (or a batch, unsupported since 2025-06-18). */
  INVALID_REQUEST: { http: 400, rpc: -32600 },
  /**
   * A message whose `params` MCP does not allow (not an object, a malformed `_meta`, or
   * an `initialize` without valid client info): refused before anything is forwarded.
   */
  INVALID_PARAMS: { http: 400, rpc: -32602 },
  /** Body larger than `maxBodyBytes`. */
  BODY_TOO_LARGE: { http: 413, rpc: -32600 },
  /** A non-initialize request without `Mcp-Session-Id`. */
  SESSION_REQUIRED: { http: 400, rpc: -32000 },
  /** `Mcp-Session-Id` names no live session (or one of another grant). */
  SESSION_NOT_FOUND: { http: 404, rpc: -32001 },
  /** `MCP-Protocol-Version` header names a version this gateway does not speak. */
  PROTOCOL_VERSION_UNSUPPORTED: { http: 400, rpc: -32000 },
  /** `Origin` header not in `allowedOrigins`. */
  ORIGIN_FORBIDDEN: { http: 403, rpc: -32000 },
  /** `Host` header not in `allowedHosts` (DNS-rebinding protection). */
  HOST_FORBIDDEN: { http: 403, rpc: -32000 },
  /** Missing or unknown credential. */
  UNAUTHORIZED: { http: 401, rpc: -32001 },
  /** The OAuth access token lacks a scope the gateway requires (`insufficient_scope`). */
  INSUFFICIENT_SCOPE: { http: 403, rpc: -32001 },
  /** The authorization server's signing keys cannot be loaded, so no token can be checked. */
  AUTH_UNAVAILABLE: { http: 503, rpc: -32001 },
  /** A GET stream is already open for the session. */
  STREAM_CONFLICT: { http: 409, rpc: -32000 },
  /** `Last-Event-ID` names an event that expired or never existed. */
  EVENT_NOT_FOUND: { http: 404, rpc: -32000 },
  /** Method not allowed on the MCP endpoint. */
  METHOD_NOT_ALLOWED: { http: 405, rpc: -32000 },
  /** Accept header lacks a media type the transport needs. */
  NOT_ACCEPTABLE: { http: 406, rpc: -32000 },
  /** Content-Type is not application/json. */
  UNSUPPORTED_MEDIA_TYPE: { http: 415, rpc: -32000 },
  /** The upstream failed (transport error, process died, closed). */
  UPSTREAM_FAILED: { http: 502, rpc: -32603 },
  /** No upstream owns the requested tool/prompt/resource. */
  NOT_FOUND: { http: 404, rpc: -32602 },
  /**
   * An upstream did not answer within its `timeoutMs` (or the tool's policy `timeoutMs`):
   * the request was cancelled upstream and its reservation rolled back.
   */
  UPSTREAM_TIMEOUT: { http: 504, rpc: -32001 },
  /** The grant already has `maxSessionsPerGrant` open sessions, none of them idle. */
  SESSION_LIMIT: { http: 429, rpc: -32000 },
  /** Too many failed authentications from this client address: wait `Retry-After`. */
  AUTH_THROTTLED: { http: 429, rpc: -32001 },
  /** The client cancelled the request (`notifications/cancelled`). */
  CANCELLED: { http: 200, rpc: -32800 },
  /** The gateway is shutting down. */
  CLOSING: { http: 503, rpc: -32603 },
  /** The grant has no policy configured. */
  NO_POLICY: { http: 403, rpc: -32603 },
} as const;

/** The message of anything thrown (an `Error` or not), for logs and error texts. */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Name of an entry of {@link McpErrorCode}. */
export type McpErrorCodeName = keyof typeof McpErrorCode;

/**
 * The one error type this package throws. `code` is stable; `data` carries details that
 * are safe to show (never secrets).
 *
 * @example
 * try { createToolgateMcp(opts) } catch (e) { if (e instanceof ToolgateMcpError && e.code === "OPTIONS_INVALID") ... }
 */
export class ToolgateMcpError extends Error {
  readonly code: McpErrorCodeName;
  readonly data: Record<string, unknown> | undefined;
  constructor(code: McpErrorCodeName, message: string, data?: Record<string, unknown>) {
    super(message);
    this.name = "ToolgateMcpError";
    this.code = code;
    this.data = data;
  }
  /** HTTP status for this error. */
  get status(): number {
    return McpErrorCode[this.code].http;
  }
  /** JSON-RPC error code for this error. */
  get rpcCode(): number {
    return McpErrorCode[this.code].rpc;
  }
}
