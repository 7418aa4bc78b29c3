/**
 * Minimal JSON-RPC 2.0 shapes and checks used on the hot path. Messages are checked
 * structurally by hand instead of with a schema: the gateway only needs to know the
 * message kind and id to route it, and the upstream validates everything it consumes.
 */

/** A JSON-RPC id: string or integer. */
export type RpcId = string | number;

/** Any JSON-RPC message as plain data. */
export interface RpcMessage {
  jsonrpc: "2.0";
  id?: RpcId;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

export interface RpcRequest extends RpcMessage {
  id: RpcId;
  method: string;
}
export interface RpcNotification extends RpcMessage {
  method: string;
}
export interface RpcResponse extends RpcMessage {
  id: RpcId;
}

/** Standard JSON-RPC error codes. */
export const RpcErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
} as const;

/** Classifies an unknown value; undefined when it is not a JSON-RPC 2.0 message. */
export function classify(value: unknown): "request" | "notification" | "response" | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== "2.0") return undefined;
  const id = m.id;
  const hasId = typeof id === "string" || (typeof id === "number" && Number.isInteger(id));
  if (typeof m.method === "string") {
    if (m.params !== undefined && (m.params === null || typeof m.params !== "object")) {
      return undefined;
    }
    if (hasId) return "request";
    return id === undefined ? "notification" : undefined;
  }
  if (hasId || id === null) {
    if (typeof m.result === "object" && m.result !== null) return "response";
    if (typeof m.error === "object" && m.error !== null) return "response";
  }
  return undefined;
}

/** Map key for an id: keeps `1` and `"1"` apart. */
export function idKey(id: RpcId): string {
  return typeof id === "number" ? `n${id}` : `s${id}`;
}

/** Builds an error response. */
export function rpcError(
  id: RpcId | null,
  code: number,
  message: string,
  data?: unknown,
): RpcMessage {
  const error: { code: number; message: string; data?: unknown } = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: "2.0", id: id as RpcId, error };
}
