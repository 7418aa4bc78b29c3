import { JsonRpcErrorCode as Rpc, ToolgateError } from "@toolgate/policy-engine";

/**
 * Stable error codes of `@toolgate/mcp-express`, each with the HTTP status and, where the
 * error travels as JSON-RPC, the JSON-RPC code. One table so adapters and tests agree.
 */
export const McpErrorCode = {
  /** Options passed to `createToolgateMcp` failed validation. */
  OPTIONS_INVALID: { http: 500, rpc: Rpc.INTERNAL_ERROR },
  /** Body is not valid JSON. */
  PARSE_ERROR: { http: 400, rpc: Rpc.PARSE_ERROR },
  /** Body is JSON but not a JSON-RPC 2.0 message (or a batch, unsupported since 2025-06-18). */
  INVALID_REQUEST: { http: 400, rpc: Rpc.INVALID_REQUEST },
  /**
   * A message whose `params` MCP does not allow (not an object, a malformed `_meta`, or
   * an `initialize` without valid client info): refused before anything is forwarded.
   */
  INVALID_PARAMS: { http: 400, rpc: Rpc.INVALID_PARAMS },
  /** Body larger than `maxBodyBytes`. */
  BODY_TOO_LARGE: { http: 413, rpc: Rpc.INVALID_REQUEST },
  /** A non-initialize request without `Mcp-Session-Id`. */
  SESSION_REQUIRED: { http: 400, rpc: Rpc.SERVER_ERROR },
  /** `Mcp-Session-Id` names no live session (or one of another grant). */
  SESSION_NOT_FOUND: { http: 404, rpc: -32001 },
  /** `MCP-Protocol-Version` header names a version this gateway does not speak. */
  PROTOCOL_VERSION_UNSUPPORTED: { http: 400, rpc: Rpc.SERVER_ERROR },
  /** `Origin` header not in `allowedOrigins`. */
  ORIGIN_FORBIDDEN: { http: 403, rpc: Rpc.SERVER_ERROR },
  /** `Host` header not in `allowedHosts` (DNS-rebinding protection). */
  HOST_FORBIDDEN: { http: 403, rpc: Rpc.SERVER_ERROR },
  /** Missing or unknown credential. */
  UNAUTHORIZED: { http: 401, rpc: -32001 },
  /** The OAuth access token lacks a scope the gateway requires (`insufficient_scope`). */
  INSUFFICIENT_SCOPE: { http: 403, rpc: -32001 },
  /** The authorization server's signing keys cannot be loaded, so no token can be checked. */
  AUTH_UNAVAILABLE: { http: 503, rpc: -32001 },
  /** A GET stream is already open for the session. */
  STREAM_CONFLICT: { http: 409, rpc: Rpc.SERVER_ERROR },
  /** `Last-Event-ID` names an event that expired or never existed. */
  EVENT_NOT_FOUND: { http: 404, rpc: Rpc.SERVER_ERROR },
  /** Method not allowed on the MCP endpoint. */
  METHOD_NOT_ALLOWED: { http: 405, rpc: Rpc.SERVER_ERROR },
  /** Accept header lacks a media type the transport needs. */
  NOT_ACCEPTABLE: { http: 406, rpc: Rpc.SERVER_ERROR },
  /** Content-Type is not application/json. */
  UNSUPPORTED_MEDIA_TYPE: { http: 415, rpc: Rpc.SERVER_ERROR },
  /** The upstream failed (transport error, process died, closed). */
  UPSTREAM_FAILED: { http: 502, rpc: Rpc.INTERNAL_ERROR },
  /** No upstream owns the requested tool/prompt/resource. */
  NOT_FOUND: { http: 404, rpc: Rpc.INVALID_PARAMS },
  /**
   * An upstream did not answer within its `timeoutMs` (or the tool's policy `timeoutMs`):
   * the request was cancelled upstream and its reservation rolled back.
   */
  UPSTREAM_TIMEOUT: { http: 504, rpc: -32001 },
  /** The grant already has `maxSessionsPerGrant` open sessions, none of them idle. */
  SESSION_LIMIT: { http: 429, rpc: Rpc.SERVER_ERROR },
  /** Too many failed authentications from this client address: wait `Retry-After`. */
  AUTH_THROTTLED: { http: 429, rpc: -32001 },
  /** The client cancelled the request (`notifications/cancelled`). */
  CANCELLED: { http: 200, rpc: Rpc.REQUEST_CANCELLED },
  /** The gateway is shutting down. */
  CLOSING: { http: 503, rpc: Rpc.INTERNAL_ERROR },
  /** The grant has no policy configured. */
  NO_POLICY: { http: 403, rpc: Rpc.INTERNAL_ERROR },
} as const;

/** The message of anything thrown (an `Error` or not), for logs and error texts. */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Name of an entry of {@link McpErrorCode}. */
export type McpErrorCodeName = keyof typeof McpErrorCode;

/**
 * The one error type this package throws; a {@link ToolgateError} (the project's base),
 * with the local `code` mapped to its HTTP status and JSON-RPC wire code. `code` is stable; `data` carries details that
 * are safe to show (never secrets).
 *
 * @example
 * try { createToolgateMcp(opts) } catch (e) { if (e instanceof ToolgateMcpError && e.code === "OPTIONS_INVALID") ... }
 */
export class ToolgateMcpError extends ToolgateError<McpErrorCodeName> {
  declare readonly data: Record<string, unknown> | undefined;
  constructor(code: McpErrorCodeName, message: string, data?: Record<string, unknown>) {
    super(code, message, data === undefined ? undefined : { data });
    this.name = "ToolgateMcpError";
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
