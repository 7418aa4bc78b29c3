/**
 * Live requests a client may send on a stream socket (`SUBSCRIBE`, `UNSUBSCRIBE`,
 * `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`) and the documented
 * `{"result": ..., "id": ...}` replies and `{"code", "msg"}` errors.
 */

/** The part of a socket the commands read and change. */
export interface CommandTarget {
  listenKeys: string[];
  combined: boolean;
}

const METHODS = ["SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY"];

function invalid(msg: string, id?: unknown): Record<string, unknown> {
  return id === undefined
    ? { code: 2, msg: `Invalid request: ${msg}` }
    : { code: 2, msg: `Invalid request: ${msg}`, id };
}

function stringParams(params: unknown): string[] | undefined {
  if (!Array.isArray(params) || !params.every((p) => typeof p === "string" && p !== "")) {
    return undefined;
  }
  return params as string[];
}

/**
 * Answers one text frame. `isActiveKey` says whether a stream name is a live listen key
 * (subscribing to anything else is accepted but delivers nothing, like an unknown stream).
 */
export function handleStreamCommand(target: CommandTarget, text: string): Record<string, unknown> {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { code: 3, msg: "Invalid JSON: expected value at line 1 column 1" };
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    return invalid("expected a JSON object");
  }
  const { method, params, id } = msg as Record<string, unknown>;
  if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
    return invalid("request ID must be an unsigned integer");
  }
  if (method === undefined) return invalid("missing field `method`", id);
  if (typeof method !== "string" || !METHODS.includes(method)) {
    return invalid(
      `unknown variant ${JSON.stringify(method)}, expected one of ${METHODS.map((m) => `\`${m}\``).join(", ")}`,
      id,
    );
  }
  return runCommand(target, method, params, id);
}

function runCommand(
  target: CommandTarget,
  method: string,
  params: unknown,
  id: number,
): Record<string, unknown> {
  switch (method) {
    case "SUBSCRIBE":
    case "UNSUBSCRIBE": {
      const streams = stringParams(params);
      if (streams === undefined) return invalid("params must be an array of stream names", id);
      for (const s of streams) {
        const at = target.listenKeys.indexOf(s);
        if (method === "SUBSCRIBE" && at < 0) target.listenKeys.push(s);
        if (method === "UNSUBSCRIBE" && at >= 0) target.listenKeys.splice(at, 1);
      }
      return { result: null, id };
    }
    case "LIST_SUBSCRIPTIONS":
      if (params !== undefined && !(Array.isArray(params) && params.length === 0)) {
        return invalid("too many parameters", id);
      }
      return { result: [...target.listenKeys], id };
    case "SET_PROPERTY": {
      if (!Array.isArray(params) || params.length !== 2) return invalid("too many parameters", id);
      if (typeof params[0] !== "string") return invalid("property name must be a string", id);
      if (params[0] !== "combined") return { code: 0, msg: "Unknown property", id };
      if (typeof params[1] !== "boolean") {
        return { code: 1, msg: "Invalid value type: expected Boolean", id };
      }
      target.combined = params[1];
      return { result: null, id };
    }
    default: {
      if (!Array.isArray(params) || typeof params[0] !== "string") {
        return invalid("property name must be a string", id);
      }
      if (params[0] !== "combined") return { code: 0, msg: "Unknown property", id };
      return { result: target.combined, id };
    }
  }
}
