/**
 * POST /mcp: reads and checks one JSON-RPC message (Accept, Content-Type, size, JSON,
 * batch, depth, shape, params), refuses a request method sent as a notification, and
 * hands the message to `initialize` or to the caller's session.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Identity } from "../engine.js";
import { accepts, header, isJsonContentType, readBody, sendError } from "../http.js";
import {
  classify,
  nestedDeeperThan,
  paramsProblem,
  REQUEST_METHODS,
  type RpcId,
  type RpcMessage,
  readableId,
} from "../jsonrpc.js";
import { claimsModern } from "../modern/envelope.js";
import type { RefusedEvent } from "../options.js";
import type { FrontContext } from "./context.js";
import { initialize, lookupSession } from "./sessions.js";

/** Deepest JSON nesting a message may have; real MCP traffic stays far below it. */
const MAX_JSON_DEPTH = 100;

type Kind = "request" | "notification" | "response";

/** The refusal of a request whose Accept does not name both types. */
function notAcceptable(res: ServerResponse, id: RpcId | null = null): void {
  sendError(
    res,
    "NOT_ACCEPTABLE",
    "Not Acceptable: Accept must list application/json and text/event-stream",
    undefined,
    id,
  );
}

/**
 * Reads the body as JSON, answering Accept, Content-Type, size and parse refusals;
 * undefined when refused (or the client went away).
 */
async function readJson(
  fc: FrontContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<{ parsed: unknown } | undefined> {
  // Both, named, as Streamable HTTP requires of clients and the MCP SDK's server checks:
  // in `auto` mode the answer may turn into SSE mid-call, which a client that takes only
  // JSON could not read. Wildcards (`*/*`, which fetch sends when no Accept is set) do
  // not count, so a missing header and a partial one are refused alike.
  const accept = header(req, "accept");
  // The exact value MCP clients send skips the parse (it runs on every call).
  const both =
    accept === "application/json, text/event-stream" ||
    (accepts(accept, "application/json", true) && accepts(accept, "text/event-stream", true));
  const jsonBody = isJsonContentType(header(req, "content-type"));
  // A wrong Accept is refused first; the body is read only to answer with its id.
  if (!both && !jsonBody) {
    notAcceptable(res);
    return undefined;
  }
  if (!jsonBody) {
    sendError(
      res,
      "UNSUPPORTED_MEDIA_TYPE",
      "Unsupported Media Type: Content-Type must be application/json",
    );
    return undefined;
  }
  let parsed: unknown;
  const pre = (req as { body?: unknown }).body;
  if (pre !== undefined && req.readableEnded) {
    parsed = pre;
  } else {
    const body = await readBody(req, fc.maxBodyBytes);
    if (!body.ok) {
      // The client is gone: nobody to answer.
      if ("aborted" in body) return undefined;
      res.setHeader("connection", "close");
      if (!both) notAcceptable(res);
      else
        sendError(
          res,
          "BODY_TOO_LARGE",
          `Payload Too Large: body exceeds ${fc.maxBodyBytes} bytes`,
        );
      return undefined;
    }
    try {
      parsed = JSON.parse(body.text);
    } catch {
      if (!both) notAcceptable(res);
      else sendError(res, "PARSE_ERROR", "Parse error: body is not valid JSON");
      return undefined;
    }
  }
  if (!both) {
    notAcceptable(res, readableId(parsed));
    return undefined;
  }
  return { parsed };
}

/** Checks the message is one well-formed JSON-RPC message; answers the refusal otherwise. */
function checkMessage(parsed: unknown, res: ServerResponse): Kind | undefined {
  // The id, wherever it can be read, goes into every error answered from here on.
  const readId = readableId(parsed);
  if (Array.isArray(parsed)) {
    sendError(res, "INVALID_REQUEST", "Invalid Request: JSON-RPC batches are not supported");
    return undefined;
  }
  // JSON.parse takes any depth, but re-serializing (to an HTTP or stdio upstream) and
  // the argument digest recurse: a deep enough body would fail them mid-call.
  if (nestedDeeperThan(parsed, MAX_JSON_DEPTH)) {
    const why = `Invalid Request: JSON nested deeper than ${MAX_JSON_DEPTH} levels`;
    sendError(res, "INVALID_REQUEST", why, undefined, readId);
    return undefined;
  }
  const kind = classify(parsed);
  if (!kind) {
    const why = "Invalid Request: body is not a JSON-RPC 2.0 message";
    sendError(res, "INVALID_REQUEST", why, undefined, readId);
    return undefined;
  }
  const msg = parsed as RpcMessage;
  const problem = kind === "response" ? undefined : paramsProblem(msg.params);
  if (problem !== undefined) {
    const id = kind === "request" ? (msg.id as RpcId) : null;
    sendError(res, "INVALID_PARAMS", `Invalid params: ${problem}`, undefined, id);
    return undefined;
  }
  return kind;
}

/**
 * A request method without an id (`tools/call`, `resources/read`, ...) is neither a
 * request (nothing may answer it) nor a notification: relaying it would run it upstream
 * with no decision. Refused as JSON-RPC says (-32600), and audited.
 */
function refuseRequestAsNotification(
  fc: FrontContext,
  req: IncomingMessage,
  res: ServerResponse,
  identity: Identity,
  method: string,
): void {
  const sid = header(req, "mcp-session-id");
  const why = `${method} is a request and needs an id; it was not forwarded`;
  const refused: RefusedEvent = {
    grant: identity.grant,
    method,
    code: "request_as_notification",
    reason: why,
    at: fc.now(),
  };
  if (sid !== undefined) refused.session = sid;
  fc.onRefused(refused);
  fc.logger.warn?.(
    { grant: identity.grant, method },
    "request method sent as a notification; refused",
  );
  sendError(res, "INVALID_REQUEST", `Invalid Request: ${why}`);
}

/** `initialize` opens a session (never inside one); its span covers the whole opening. */
async function handleInitialize(
  fc: FrontContext,
  req: IncomingMessage,
  res: ServerResponse,
  identity: Identity,
  msg: RpcMessage,
): Promise<void> {
  if (header(req, "mcp-session-id")) {
    const why = "Invalid Request: session already initialized";
    sendError(res, "INVALID_REQUEST", why, undefined, msg.id as RpcId);
    return;
  }
  const rt = fc.telemetry.request(msg, req.headers, undefined, identity);
  try {
    await initialize(fc, msg, identity, res);
  } finally {
    const failed = res.statusCode >= 400;
    rt?.end(
      failed
        ? { jsonrpc: "2.0", error: { code: res.statusCode, message: "initialize refused" } }
        : undefined,
    );
  }
}

/** POST /mcp for an authenticated caller. */
export async function handlePost(
  fc: FrontContext,
  req: IncomingMessage,
  res: ServerResponse,
  identity: Identity,
): Promise<void> {
  const read = await readJson(fc, req, res);
  if (!read) return;
  const kind = checkMessage(read.parsed, res);
  if (!kind) return;
  const msg = read.parsed as RpcMessage;
  // A per-request 2026 claim selects the stateless front (never the session lookup, so
  // a 2026 client is not told to initialize); claim-less traffic stays on 2025.
  if (fc.modern && claimsModern(msg, (n) => header(req, n))) {
    if (kind !== "request") {
      // 2026-07-28 defines no client-to-server notifications or responses over HTTP.
      const why = "Invalid Request: 2026-07-28 takes only requests on POST; nothing was forwarded";
      sendError(res, "INVALID_REQUEST", why);
      return;
    }
    await fc.modern.handle(req, res, identity, msg);
    return;
  }
  if (kind === "notification" && REQUEST_METHODS.has(msg.method as string)) {
    refuseRequestAsNotification(fc, req, res, identity, msg.method as string);
    return;
  }
  if (kind === "request" && msg.method === "initialize") {
    await handleInitialize(fc, req, res, identity, msg);
    return;
  }
  const id: RpcId | null = kind === "request" ? (msg.id as RpcId) : null;
  const session = lookupSession(fc, req, res, identity, id);
  if (!session) return;
  if (kind === "request") {
    session.handleRequest(
      msg,
      res,
      fc.telemetry.request(msg, req.headers, session.id, session.identity),
    );
    return;
  }
  if (kind === "notification") session.handleNotification(msg);
  else session.handleResponse(msg);
  res.writeHead(202).end();
}
