import { JsonRpcErrorCode } from "@toolgate/policy-engine";
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

/** JSON-RPC 2.0 error numbers: policy-engine's one table of wire codes. */
export const RpcErrorCode = JsonRpcErrorCode;

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
    if (isObject(m.result)) return "response";
    const e = m.error;
    if (isObject(e) && Number.isSafeInteger(e.code) && typeof e.message === "string") {
      return "response";
    }
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Why a request's or notification's `params` is not what MCP allows, or undefined when
 * it is: an object (not an array) whose `_meta`, if present, is an object with a string
 * or integer `progressToken` and a well-formed related-task entry. Peers built on the MCP
 * SDKs silently drop a message that breaks this (no answer at all), so forwarding it
 * would leave the client waiting forever: it is refused with `-32602` instead.
 */
export function paramsProblem(params: unknown): string | undefined {
  if (params === undefined) return undefined;
  if (!isObject(params)) return "params must be an object";
  const meta = params._meta;
  if (meta === undefined) return undefined;
  if (!isObject(meta)) return "params._meta must be an object";
  const token = meta.progressToken;
  if (token !== undefined && typeof token !== "string" && !Number.isSafeInteger(token)) {
    return "params._meta.progressToken must be a string or an integer";
  }
  const related = meta["io.modelcontextprotocol/related-task"];
  if (related !== undefined && !(isObject(related) && typeof related.taskId === "string")) {
    return "params._meta related-task entry must be an object with a string taskId";
  }
  return undefined;
}

/**
 * The id of a message that may be malformed otherwise (wrong `jsonrpc`, bad `params`):
 * a string or integer `id` when the value is an object carrying one, else null. Errors
 * answer with it so the client can match the error to its request.
 */
export function readableId(value: unknown): RpcId | null {
  if (!isObject(value)) return null;
  const id = value.id;
  if (typeof id === "string" || (typeof id === "number" && Number.isInteger(id))) return id;
  return null;
}

/**
 * Every MCP method that is a request (answered, so sent with an id), of either side, as of
 * protocol 2025-11-25. Sent without an id such a message is malformed: relaying it would
 * run it upstream with no decision and no answer, so the gateway refuses it.
 */
export const REQUEST_METHODS: ReadonlySet<string> = new Set([
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "completion/complete",
  "logging/setLevel",
  "tasks/get",
  "tasks/result",
  "tasks/list",
  "tasks/cancel",
  "sampling/createMessage",
  "elicitation/create",
  "roots/list",
]);

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

/**
 * True when a parsed JSON value nests objects and arrays deeper than `max`. The value may
 * be nested far too deep to recurse over, which is the point: this recursion stops at
 * depth `max`, however deep the value goes.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (max <= 0) return true;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    if (nestedDeeperThan(child, max - 1)) return true;
  }
  return false;
}
