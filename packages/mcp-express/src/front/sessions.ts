/**
 * The session half of Streamable HTTP: `initialize` opens a session over every upstream,
 * later requests find theirs by `Mcp-Session-Id` (bound to the grant and subject), a GET
 * attaches the standalone stream and a DELETE ends it.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import {
  InitializeRequestParamsSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";
import { ClientStreams } from "../client-streams.js";
import type { Identity } from "../engine.js";
import { accepts, header, sendError } from "../http.js";
import type { RpcId, RpcMessage } from "../jsonrpc.js";
import { TASKS_CAPABILITY } from "../session/tasks.js";
import { ProxySession } from "../session.js";
import type { Connected } from "../upstream-pool.js";
import { TOOLGATE_VERSION } from "../version.js";
import type { FrontContext } from "./context.js";

const SUPPORTED = new Set<string>(SUPPORTED_PROTOCOL_VERSIONS);

/** The `initialize` result the client sees: one upstream's as is, or several merged. */
export function mergeInit(results: Connected): Record<string, unknown> {
  if (results.length === 1) {
    const r = results[0]!.result;
    const caps = (r.capabilities ?? {}) as Record<string, unknown>;
    if (!caps.tools) return r;
    return {
      ...r,
      capabilities: { ...caps, tools: { ...(caps.tools as object), listChanged: true } },
    };
  }
  const caps: Record<string, Record<string, unknown>> = {};
  const instructions: string[] = [];
  for (const { link, result } of results) {
    const c = (result.capabilities ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(c)) {
      caps[k] = { ...(caps[k] ?? {}), ...(typeof v === "object" && v !== null ? v : {}) };
    }
    if (typeof result.instructions === "string")
      instructions.push(`[${link.name}] ${result.instructions}`);
  }
  if (caps.tools) caps.tools.listChanged = true;
  const merged: Record<string, unknown> = {
    protocolVersion: results[0]!.result.protocolVersion,
    capabilities: caps,
    serverInfo: { name: "toolgate", version: TOOLGATE_VERSION },
  };
  if (instructions.length > 0) merged.instructions = instructions.join("\n\n");
  return merged;
}

/** Checks an `initialize` the client sent; the refusal is answered here. */
function initializeRefused(
  fc: FrontContext,
  msg: RpcMessage,
  identity: Identity,
  res: ServerResponse,
): boolean {
  const rid = msg.id ?? null;
  if (!fc.policyFor(identity)) {
    sendError(
      res,
      "NO_POLICY",
      `no policy is configured for grant ${identity.grant}`,
      undefined,
      rid,
    );
    return true;
  }
  // Checked here, not by the upstreams: a bad initialize is the client's mistake, so it
  // must neither reach them nor count against their health (a refusal from every
  // upstream would otherwise read as "no upstream available" and fail /readyz).
  const checked = InitializeRequestParamsSchema.safeParse(msg.params);
  if (!checked.success) {
    const problems = checked.error.issues
      .map((i) => `${["params", ...i.path].join(".")}: ${i.message}`)
      .join("; ");
    sendError(res, "INVALID_PARAMS", `Invalid params: ${problems}`, undefined, rid);
    return true;
  }
  if (!fc.sessions.makeRoomFor(identity.grant)) {
    sendError(
      res,
      "SESSION_LIMIT",
      `Too many sessions: grant ${identity.grant} already has ${fc.maxSessionsPerGrant} open sessions (maxSessionsPerGrant), all busy; close unused ones with DELETE /mcp or raise the cap`,
      undefined,
      rid,
    );
    return true;
  }
  return false;
}

/** Opens a session: initializes every upstream with the client's params. */
export async function initialize(
  fc: FrontContext,
  msg: RpcMessage,
  identity: Identity,
  res: ServerResponse,
): Promise<void> {
  if (initializeRefused(fc, msg, identity, res)) return;
  const rid = msg.id ?? null;
  const params = msg.params ?? {};
  const done = fc.sessions.beginInitialize(identity.grant);
  let results: Connected;
  try {
    results = await fc.pool.connectAll(params, { grant: identity.grant, subject: identity.sub });
  } finally {
    done();
  }
  if (results.length === 0 || fc.closing()) {
    await fc.pool.release(results);
    // An initialize that arrived just before close() was called: the client must hear
    // that the gateway is going away (retry elsewhere), not that its upstreams failed.
    if (fc.closing())
      sendError(res, "CLOSING", "Service Unavailable: gateway is shutting down", undefined, rid);
    else sendError(res, "UPSTREAM_FAILED", "no upstream MCP server is available", undefined, rid);
    return;
  }
  const sid = fc.newId();
  const streams = new ClientStreams(sid, fc.responseMode, undefined, fc.sseRetryMs);
  const links = results.map((r) => r.link);
  const session = new ProxySession(
    sid,
    { ...identity, session: sid },
    streams,
    links,
    new Set(links.filter((l) => fc.pool.isShared(l))),
    fc.session,
  );
  session.clientCapabilities = (params.capabilities ?? {}) as Record<string, unknown>;
  fc.sessions.add(session);
  const init = mergeInit(results);
  // Tasks are the gateway's own (upstreams never see a `task` param): announce them.
  const result =
    fc.session.toolCalls.taskApprovalTimeoutMs === undefined
      ? init
      : { ...init, capabilities: { ...(init.capabilities as object), tasks: TASKS_CAPABILITY } };
  const body = JSON.stringify({ jsonrpc: "2.0", id: msg.id, result });
  res.writeHead(200, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "mcp-session-id": sid,
  });
  res.end(body);
}

/** The caller's session named by `Mcp-Session-Id`; a refusal is answered when there is none. */
export function lookupSession(
  fc: FrontContext,
  req: IncomingMessage,
  res: ServerResponse,
  identity: Identity,
  id: RpcId | null = null,
): ProxySession | undefined {
  const sid = header(req, "mcp-session-id");
  if (!sid) {
    sendError(
      res,
      "SESSION_REQUIRED",
      "Bad Request: Mcp-Session-Id header is required; initialize first",
      undefined,
      id,
    );
    return undefined;
  }
  const s = fc.sessions.get(sid);
  // A session belongs to one grant and, with OAuth, to one subject: another user of a
  // shared grant (client_id) cannot use it, even knowing its id.
  if (!s || s.closed || s.grant !== identity.grant || s.identity.sub !== identity.sub) {
    sendError(
      res,
      "SESSION_NOT_FOUND",
      "Session not found; initialize a new session",
      undefined,
      id,
    );
    return undefined;
  }
  // A newer token of the same subject may carry other claims or scopes: decide on those.
  if (identity.claims !== undefined && identity.claims !== s.identity.claims)
    s.identity = { ...identity, session: s.id };
  const pv = header(req, "mcp-protocol-version");
  if (pv !== undefined && !SUPPORTED.has(pv)) {
    sendError(
      res,
      "PROTOCOL_VERSION_UNSUPPORTED",
      `Bad Request: unsupported MCP-Protocol-Version ${pv} (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`,
      undefined,
      id,
    );
    return undefined;
  }
  s.lastSeen = fc.now();
  return s;
}

/** GET: the session's standalone SSE stream (or a resumption with Last-Event-ID). */
export function handleGet(
  fc: FrontContext,
  req: IncomingMessage,
  res: ServerResponse,
  identity: Identity,
): void {
  if (!accepts(header(req, "accept"), "text/event-stream", true)) {
    sendError(res, "NOT_ACCEPTABLE", "Not Acceptable: client must accept text/event-stream");
    return;
  }
  const session = lookupSession(fc, req, res, identity);
  if (!session) return;
  const refused = session.streams.attach(res, header(req, "last-event-id"));
  if (refused) sendError(res, refused.code, refused.message);
}

/** DELETE: the client ends its session. */
export async function handleDelete(
  fc: FrontContext,
  req: IncomingMessage,
  res: ServerResponse,
  identity: Identity,
): Promise<void> {
  const session = lookupSession(fc, req, res, identity);
  if (!session) return;
  fc.sessions.remove(session);
  await session.close();
  res.writeHead(200).end();
}
