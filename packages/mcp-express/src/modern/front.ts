/**
 * The stateless MCP 2026-07-28 front: a second consumer of the same policy pipeline as
 * the 2025 sessions. A request that passed the validation ladder is served through an
 * upstream session the gateway holds itself for the caller (one per grant and subject,
 * opened on first use with a 2025 `initialize`), so today's upstreams — HTTP, stdio and
 * in-process — serve 2026 clients unchanged. The held session never gets an
 * `Mcp-Session-Id` a client could name, and answers are reshaped for the revision
 * (`resultType`, cache fields, `serverInfo`, the client's own id).
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { heldOutcomeOf } from "../core/results.js";
import type { Identity } from "../engine.js";
import type { FrontContext } from "../front/context.js";
import { mergeInit } from "../front/sessions.js";
import { header } from "../http.js";
import type { RpcId, RpcMessage } from "../jsonrpc.js";
import { TOOLGATE_VERSION } from "../version.js";
import { heldInputRequired } from "./approval-state.js";
import { checkModern, isRefusal, META, MODERN_VERSIONS } from "./envelope.js";
import { type Held, type HeldLimits, HeldSessions } from "./held.js";
import { MRTR_TARGET, openRetry, sealResult, stateBinding } from "./mrtr.js";
import type { StateBinding } from "./request-state.js";

/** Who the gateway says it is in every 2026 result's `_meta`. */
const SERVER_INFO = { name: "toolgate", version: TOOLGATE_VERSION };

/** Results a 2026 client caches: they must carry `ttlMs` and `cacheScope`. */
const CACHEABLE = new Set([
  "tools/list",
  "prompts/list",
  "resources/list",
  "resources/templates/list",
  "resources/read",
]);

/** The answer to a retry whose `requestState` was refused (the SDK server's wording). */
const INVALID_STATE = {
  code: -32602,
  message: "Invalid or expired requestState",
  data: { reason: "invalid_request_state" },
};

/** Writes one JSON answer. */
function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Reshapes an answer from the held (2025) session for a 2026 client: its own id back,
 * `resultType` (required in 2026), cache fields on list results — `private`, since every
 * list is filtered by the caller's policy, and `ttlMs: 0`, since a policy reload may
 * change it at any time — and the retired resource-not-found code as -32602.
 */
export function toModernAnswer(m: RpcMessage, id: RpcId, method: string): RpcMessage {
  if (m.error) {
    const error = m.error as { code: number; message: string; data?: unknown };
    return {
      jsonrpc: "2.0",
      id,
      error: error.code === -32002 ? { ...error, code: -32602 } : error,
    };
  }
  const result = { ...((m.result ?? {}) as Record<string, unknown>) };
  result.resultType ??= "complete";
  if (CACHEABLE.has(method)) {
    result.ttlMs = 0;
    result.cacheScope = "private";
  }
  const meta = (result._meta ?? {}) as Record<string, unknown>;
  result._meta = { ...meta, [META.serverInfo]: SERVER_INFO };
  return { jsonrpc: "2.0", id, result };
}

/** The 2026 front over the gateway's upstream pool. */
export class ModernFront {
  /** The upstream sessions held for stateless callers (exposed for tests and metrics). */
  readonly held: HeldSessions;

  constructor(
    private readonly fc: FrontContext,
    limits: HeldLimits,
  ) {
    this.held = new HeldSessions(fc, limits);
  }

  /**
   * Serves one POSTed request that claims the modern revision: the ladder first (its
   * refusals are answered before any policy decision or upstream traffic), then
   * `server/discover` locally and everything else through the held session.
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    identity: Identity,
    msg: RpcMessage,
  ): Promise<void> {
    const fc = this.fc;
    const id = msg.id as RpcId;
    const checked = checkModern(msg as { method: string; params?: Record<string, unknown> }, (n) =>
      header(req, n),
    );
    if (isRefusal(checked)) {
      fc.onRefused({
        grant: identity.grant,
        method: String(msg.method),
        code: `modern_${checked.error.code === -32601 ? "method_not_found" : checked.error.code === -32022 ? "unsupported_version" : checked.error.code === -32020 ? "header_mismatch" : "invalid_envelope"}`,
        reason: checked.error.message,
        at: fc.now(),
      });
      sendJson(res, checked.status, { jsonrpc: "2.0", id, error: checked.error });
      return;
    }
    if (!fc.policyFor(identity)) {
      sendJson(res, 403, {
        jsonrpc: "2.0",
        id,
        error: { code: -32001, message: `no policy is configured for grant ${identity.grant}` },
      });
      return;
    }
    const held = await this.held.get(identity);
    if (typeof held === "string") {
      sendJson(res, held === "full" ? 503 : 502, { jsonrpc: "2.0", id, error: this.noHeld(held) });
      return;
    }
    if (checked.method === "server/discover") {
      sendJson(res, 200, { jsonrpc: "2.0", id, result: this.discover(held) });
      return;
    }
    // The policy decides on the caller as it is now (claims and scopes of this token);
    // no session: a `scope: session` limit counts by the grant (see the README).
    const { session: _s, ...who } = identity;
    held.session.identity = who;
    const round = await this.mrtrRound(held, who, checked.method, msg);
    if (!round) {
      sendJson(res, 200, { jsonrpc: "2.0", id, error: INVALID_STATE });
      return;
    }
    const { binding } = round;
    // The client's id is only unique among its own requests; another caller of the
    // same grant may use the same one at the same time. The held session sees a
    // gateway id; the answer carries the client's back.
    // Progress tokens likewise: the upstream sees a unique one, the client its own.
    let params = round.params;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const clientProgressToken = meta?.progressToken as string | number | undefined;
    if (clientProgressToken !== undefined) {
      params = { ...params, _meta: { ...meta, progressToken: `tg-${fc.newId()}` } };
    }
    const inner: RpcMessage = { ...msg, id: `m${fc.newId()}`, params };
    held.session.handleRequest(
      inner,
      res,
      fc.telemetry.request(msg, req.headers, undefined, identity),
      (m) => {
        // A call held for approval (made by the pipeline, never an upstream's look-alike)
        // becomes an MRTR input request whose sealed state names the approval.
        const hold = heldOutcomeOf(m.result);
        const a = toModernAnswer(m, id, checked.method);
        if (hold && binding && a.result) {
          return { ...a, result: heldInputRequired(fc.mrtr, hold, a.result, binding) };
        }
        return binding && a.result ? { ...a, result: sealResult(fc.mrtr, a.result, binding) } : a;
      },
      { continuation: round.continuation, clientProgressToken, resumeApproval: round.approval },
    );
  }

  /** Why no held session could serve the caller. */
  private noHeld(why: "full" | "unavailable"): { code: number; message: string } {
    return {
      code: -32603,
      message: this.fc.closing()
        ? "Service Unavailable: gateway is shutting down"
        : why === "full"
          ? "Service Unavailable: too many callers at once, retry shortly"
          : "no upstream MCP server is available",
    };
  }

  /**
   * The MRTR step of a request that may be `input_required`: its binding, and a retry's
   * sealed state opened and spent (see mrtr.ts). Undefined when the state is refused
   * (reported to `onRefused`; nothing is decided or forwarded).
   */
  private async mrtrRound(
    held: Held,
    who: Identity,
    method: string,
    msg: RpcMessage,
  ): Promise<
    | {
        params: RpcMessage["params"];
        binding?: () => StateBinding;
        continuation: boolean;
        approval?: string;
      }
    | undefined
  > {
    const params = msg.params;
    if (!MRTR_TARGET[method] || !params) return { params, continuation: false };
    const upstream =
      method === "tools/call" && typeof params.name === "string"
        ? await held.session.upstreamOf(params.name)
        : undefined;
    let bound: StateBinding | undefined;
    const binding = () => {
      bound ??= stateBinding(who, method, params, upstream);
      return bound;
    };
    const r = await openRetry(this.fc.mrtr, params, binding);
    if ("refused" in r) {
      this.fc.onRefused({
        grant: who.grant,
        method,
        code: "modern_invalid_request_state",
        reason: `requestState refused: ${r.refused}`,
        at: this.fc.now(),
      });
      return undefined;
    }
    return { ...r, binding };
  }

  /** `server/discover`: the merged capabilities of the upstreams, answered locally. */
  private discover(held: Held): Record<string, unknown> {
    const merged = mergeInit(held.results);
    const caps = { ...((merged.capabilities ?? {}) as Record<string, unknown>) };
    // No `subscriptions/listen` and no `logging/setLevel` on this front yet: do not
    // advertise list-changed notifications or logging.
    for (const k of ["tools", "prompts", "resources"]) {
      if (caps[k]) {
        const { listChanged: _l, subscribe: _s, ...rest } = caps[k] as Record<string, unknown>;
        caps[k] = rest;
      }
    }
    delete caps.logging;
    delete caps.tasks;
    const result: Record<string, unknown> = {
      supportedVersions: [...MODERN_VERSIONS],
      capabilities: caps,
      resultType: "complete",
      ttlMs: 0,
      cacheScope: "private",
      _meta: { [META.serverInfo]: SERVER_INFO },
    };
    if (typeof merged.instructions === "string") result.instructions = merged.instructions;
    return result;
  }

  /** Closes every held session (gateway shutdown). */
  close(): Promise<void> {
    return this.held.close();
  }
}
