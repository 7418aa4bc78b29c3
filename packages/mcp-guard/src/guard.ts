import type { PinEvent, PinStore } from "@toolgate/mcp-express/core";
import {
  type CounterStore,
  createPolicyEngine,
  type Identity,
  type PolicyEngine,
} from "@toolgate/policy-engine";
import { z } from "zod";
import { GuardError } from "./errors.js";
import { GuardPins, type ListedTool } from "./pins.js";
import {
  type ApprovalOutcome,
  type ApprovalRequest,
  type DecisionEvent,
  type PipelineDeps,
  type PolicySource,
  policyLookup,
  type Scheduler,
  type ToolResultLike,
} from "./pipeline.js";
import { runToolCall } from "./run.js";

/**
 * What an MCP SDK server looks like to the guard: an `McpServer` of
 * `@modelcontextprotocol/sdk` 1.x or `@modelcontextprotocol/server` 2.x, whose `server`
 * is the protocol object that dispatches requests. Typed structurally so the guard
 * depends on neither SDK and accepts both.
 */
export interface McpServerLike {
  readonly server: object;
}

/**
 * Who sent a request, as both SDK versions report it: v1 passes `sessionId` and
 * `authInfo` on the handler's `extra`, v2 on `ctx.sessionId` and `ctx.http.authInfo`.
 */
export interface GuardRequestContext {
  /** The transport's session id (Streamable HTTP); absent on stdio. */
  readonly sessionId?: string | undefined;
  /** What the server's HTTP auth middleware verified (`req.auth`), if any. */
  readonly authInfo?:
    | {
        readonly clientId?: string | undefined;
        readonly token?: string | undefined;
        readonly scopes?: readonly string[] | undefined;
        readonly extra?: Record<string, unknown> | undefined;
      }
    | undefined;
  /** The SDK's own handler context (`extra` in v1, `ctx` in v2), for anything else. */
  readonly raw: unknown;
}

/** Options of {@link guardMcpServer}. */
export interface GuardOptions {
  /** The policy: a `PolicyHolder` (hot reload), a `CompiledPolicy`, or one per grant. */
  policy: PolicySource;
  /**
   * Maps a request to the identity limits count against. Return `undefined` to refuse
   * the call (and list no tools). Default: grant = `authInfo.clientId` when the server's
   * auth set one, else `grant`; session = the transport's session id.
   */
  identify?: (ctx: GuardRequestContext) => Identity | undefined | Promise<Identity | undefined>;
  /** Grant used by the default `identify` when there is no `authInfo`. Default `"local"`. */
  grant?: string;
  /** Counter store, e.g. the Redis store of `@toolgate/rate-limit-store`. Default: in-process. */
  store?: CounterStore;
  /** An engine to share (its store is used); overrides `store`. */
  engine?: PolicyEngine;
  /** Approval hook for `require_approval`; default refuses with "no approver configured". */
  approve?: (req: ApprovalRequest) => Promise<ApprovalOutcome>;
  /** How long a held call waits for approval, ms. Default 120000. */
  approvalTimeoutMs?: number;
  /**
   * Called once for every guarded call with the decision and what became of the call;
   * errors it throws are passed to `onError`. Tool names come from the client: bound their
   * cardinality before using them as metric labels.
   */
  onDecision?: (e: DecisionEvent) => void;
  /** Errors of hooks and of settling counters; never rethrown. Default: ignored. */
  onError?: (err: unknown, where: string) => void;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Approval ids. Default `crypto.randomUUID`. */
  newId?: () => string;
  /** Timers for approval timeouts. Default: real timers, unref'd. */
  scheduler?: Scheduler;
  /**
   * Where `pins.mode: trust_on_first_use` keeps the first digest of each tool. Default:
   * this process's memory; share one (e.g. on Redis) between replicas of the server.
   */
  pinStore?: PinStore;
  /**
   * Called when a tool definition no longer matches its pin (once per policy version and
   * digest) and when a first-use digest was recorded: digests only, never a definition.
   */
  onPinEvent?: (e: PinEvent) => void;
}

/** What {@link guardMcpServer} returns. */
export interface McpGuard {
  /** The engine deciding the calls (`engine.store` holds the counters). */
  readonly engine: PolicyEngine;
  /**
   * Stops listening for policy reloads. The handlers stay guarded: a server is guarded
   * for its lifetime, so there is no window in which a call could slip through.
   */
  close(): void;
}

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", {
  message: "must be a function",
});
const obj = (message: string) =>
  z.custom<object>((v) => typeof v === "object" && v !== null, { message });

const optionsSchema = z.object({
  policy: z.custom<object>(
    (v) => typeof v === "function" || (typeof v === "object" && v !== null),
    { message: "pass a PolicyHolder, a CompiledPolicy or (grant) => policy" },
  ),
  identify: fn.optional(),
  grant: z.string().min(1, "use a non-empty grant name").optional(),
  store: obj("pass a CounterStore, e.g. createMemoryStore() or createRedisStore(...)").optional(),
  engine: obj("pass an engine from createPolicyEngine()").optional(),
  approve: fn.optional(),
  approvalTimeoutMs: z.number().int().positive("use a whole number of ms above 0").optional(),
  onDecision: fn.optional(),
  onError: fn.optional(),
  now: fn.optional(),
  newId: fn.optional(),
  scheduler: obj("pass { setTimeout, clearTimeout }").optional(),
  pinStore: obj("pass a PinStore: { firstSeen(upstream, tool, digest) }").optional(),
  onPinEvent: fn.optional(),
});

/** Marks a server as guarded, so a second guard cannot stack (and double count). */
const GUARDED = Symbol.for("toolgate.mcp-guard");

type Handler = (request: unknown, ctx: unknown) => Promise<unknown>;

/** The protocol object's handler table: the one seam both SDK majors share. */
function handlerTable(server: object): Map<string, Handler> {
  const proto = (server as { server?: unknown }).server;
  const table =
    typeof proto === "object" && proto !== null
      ? (proto as { _requestHandlers?: unknown })._requestHandlers
      : undefined;
  if (!(table instanceof Map))
    throw new GuardError(
      "GUARD_UNSUPPORTED_SERVER",
      "guardMcpServer: pass an McpServer of @modelcontextprotocol/sdk 1.x or @modelcontextprotocol/server 2.x (its .server must be the SDK's protocol object)",
    );
  return table as Map<string, Handler>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The entries of a `tools/list` result that are tools with a name. */
function namedTools(tools: readonly unknown[]): ListedTool[] {
  return tools.filter((t): t is ListedTool => isRecord(t) && typeof t.name === "string");
}

/** Reads who is calling from either SDK's handler context. */
export function requestContext(raw: unknown): GuardRequestContext {
  if (!isRecord(raw)) return { raw };
  const sessionId = typeof raw.sessionId === "string" ? raw.sessionId : undefined;
  // v1: extra.authInfo; v2: ctx.http.authInfo.
  const auth = isRecord(raw.authInfo)
    ? raw.authInfo
    : isRecord(raw.http) && isRecord(raw.http.authInfo)
      ? raw.http.authInfo
      : undefined;
  return { sessionId, authInfo: auth as GuardRequestContext["authInfo"], raw };
}

/** The request's cancellation signal: v1 `extra.signal`, v2 `ctx.mcpReq.signal`. */
function requestSignal(raw: unknown): AbortSignal | undefined {
  if (!isRecord(raw)) return undefined;
  if (raw.signal instanceof AbortSignal) return raw.signal;
  if (isRecord(raw.mcpReq) && raw.mcpReq.signal instanceof AbortSignal) return raw.mcpReq.signal;
  return undefined;
}

const realScheduler: Scheduler = {
  setTimeout(f, ms) {
    const t = setTimeout(f, ms);
    t.unref?.();
    return t;
  },
  clearTimeout(h) {
    clearTimeout(h as ReturnType<typeof setTimeout>);
  },
};

/**
 * The server's handler table, after checking the options and that the server is an SDK
 * server not guarded before.
 */
function checkedTable(server: McpServerLike, options: GuardOptions): Map<string, Handler> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new GuardError("GUARD_OPTIONS_INVALID", `guardMcpServer options: ${lines.join("; ")}`, {
      issues: lines,
    });
  }
  if (typeof server !== "object" || server === null)
    throw new GuardError("GUARD_UNSUPPORTED_SERVER", "guardMcpServer: pass an McpServer");
  const table = handlerTable(server);
  if ((table as unknown as Record<symbol, unknown>)[GUARDED])
    throw new GuardError(
      "GUARD_ALREADY_APPLIED",
      "guardMcpServer: this server is already guarded; guard it once (a second guard would count every call twice)",
    );
  return table;
}

/** The pipeline's dependencies from the options, with their defaults. */
function pipelineDeps(options: GuardOptions): PipelineDeps {
  return {
    engine: options.engine ?? createPolicyEngine({ store: options.store, now: options.now }),
    policyFor: policyLookup(options.policy),
    approve: options.approve,
    approvalTimeoutMs: options.approvalTimeoutMs ?? 120_000,
    onDecision: options.onDecision,
    now: options.now ?? Date.now,
    newId: options.newId ?? (() => crypto.randomUUID()),
    scheduler: options.scheduler ?? realScheduler,
    onInternalError: options.onError ?? (() => {}),
  };
}

/** Grant = the verified OAuth client when the server's auth set one, else `fallback`. */
function defaultIdentify(fallback: string): (ctx: GuardRequestContext) => Identity {
  return (ctx) => ({
    grant:
      typeof ctx.authInfo?.clientId === "string" && ctx.authInfo.clientId !== ""
        ? ctx.authInfo.clientId
        : fallback,
    session: ctx.sessionId,
  });
}

/**
 * Wraps the table's handlers with `wrap`, those there now and those set later: McpServer
 * installs its tools handlers on the first registerTool, which may come after the guard.
 */
function hookTable(table: Map<string, Handler>, wrap: (method: string, h: Handler) => Handler) {
  const set = table.set.bind(table);
  for (const m of ["tools/call", "tools/list"]) {
    const h = table.get(m);
    if (h !== undefined) set(m, wrap(m, h));
  }
  Object.defineProperty(table, "set", {
    value: (method: string, h: Handler) => set(method, wrap(method, h)),
    configurable: false,
    writable: false,
  });
  Object.defineProperty(table, GUARDED, { value: true });
}

/** A reload can show or hide tools: tells connected clients to list again. Returns the unsubscribe. */
function notifyOnReload(
  server: McpServerLike,
  source: PolicySource,
  onError: (err: unknown, where: string) => void,
): () => void {
  if (!(typeof source === "object" && "subscribe" in source)) return () => {};
  return source.subscribe(() => {
    const notify = (server as { sendToolListChanged?: () => unknown }).sendToolListChanged;
    try {
      const p = notify?.call(server);
      if (p instanceof Promise) p.catch((err) => onError(err, "sendToolListChanged"));
    } catch (err) {
      onError(err, "sendToolListChanged");
    }
  });
}

/**
 * Puts Toolgate policy in front of an existing `McpServer`'s tools, in place: every
 * `tools/call` is decided (and rate limits reserved) before the tool's handler runs,
 * committed when it succeeds and rolled back when it throws or answers `isError`;
 * `tools/list` shows only the tools the caller may use. Denials come back as `isError`
 * results with the reason (and retry time) for the model and the decision in
 * `_meta["toolgate/decision"]`. The server keeps its own transport (stdio, Streamable
 * HTTP, in-memory) and everything else it serves is untouched.
 *
 * Call it once, before or after registering tools and before or after `connect`: the
 * guard hooks the server's request table, so tools registered later are guarded too.
 *
 * @throws GuardError `GUARD_OPTIONS_INVALID` for bad options (every bad path named),
 *   `GUARD_UNSUPPORTED_SERVER` for anything but an SDK v1/v2 `McpServer`,
 *   `GUARD_ALREADY_APPLIED` for a server guarded before.
 *
 * @example
 * const server = new McpServer({ name: "app", version: "1.0.0" });
 * server.registerTool("send_email", { inputSchema: { to: z.string() } }, send);
 * guardMcpServer(server, { policy: await PolicyHolder.fromFile("policy.yaml") });
 * await server.connect(new StdioServerTransport());
 */
export function guardMcpServer(server: McpServerLike, options: GuardOptions): McpGuard {
  const table = checkedTable(server, options);
  const deps = pipelineDeps(options);
  const { engine, onInternalError: onError } = deps;
  const identify = options.identify ?? defaultIdentify(options.grant ?? "local");
  const pins = new GuardPins({
    store: options.pinStore,
    onPinEvent: options.onPinEvent,
    onError,
    now: deps.now,
  });
  const who = async (raw: unknown): Promise<Identity | undefined> => {
    const id = await identify(requestContext(raw));
    return id !== undefined && typeof id.grant === "string" && id.grant !== "" ? id : undefined;
  };

  const guardCall =
    (original: Handler): Handler =>
    async (request, ctx) => {
      const params = isRecord(request) ? request.params : undefined;
      const name = isRecord(params) ? params.name : undefined;
      const args = isRecord(params) ? params.arguments : undefined;
      // A malformed call is the SDK's to refuse (-32602), before any decision or quota.
      if (typeof name !== "string" || (args !== undefined && !isRecord(args)))
        return original(request, ctx);
      const identity = await who(ctx);
      const policy = identity === undefined ? undefined : deps.policyFor(identity.grant);
      const pin =
        policy === undefined || identity === undefined
          ? undefined
          : await pins.forCall(policy, identity, name, () => listed(ctx));
      return runToolCall(
        deps,
        { name, arguments: args, identity, signal: requestSignal(ctx), pin },
        () => original(request, ctx) as Promise<ToolResultLike>,
      );
    };
  // The server's own tool list, unfiltered, for the pin check of a call.
  let originalList: Handler | undefined;
  const listed = async (ctx: unknown): Promise<ListedTool[]> => {
    const r = await originalList?.({ method: "tools/list", params: {} }, ctx);
    return isRecord(r) && Array.isArray(r.tools) ? namedTools(r.tools) : [];
  };

  const guardList =
    (original: Handler): Handler =>
    async (request, ctx) => {
      const identity = await who(ctx);
      const policy = identity === undefined ? undefined : deps.policyFor(identity.grant);
      const result = await original(request, ctx);
      if (!isRecord(result) || !Array.isArray(result.tools)) return result;
      if (identity === undefined || policy === undefined) return { ...result, tools: [] };
      const tools = await pins.visible(policy, identity, namedTools(result.tools));
      return { ...result, tools: engine.visibleTools(policy, tools, identity) };
    };

  hookTable(table, (method, h) => {
    if (method === "tools/list") originalList = h;
    return method === "tools/call" ? guardCall(h) : method === "tools/list" ? guardList(h) : h;
  });
  let unsubscribe = notifyOnReload(server, options.policy, onError);
  return {
    engine,
    close() {
      unsubscribe();
      unsubscribe = () => {};
    },
  };
}
