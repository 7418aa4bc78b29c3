import type { IncomingMessage } from "node:http";
import type { Tracer } from "@opentelemetry/api";
import type { Logger, Scheduler } from "@toolgate/policy-engine";
import type { z } from "zod";
import type { OAuthOptions } from "./auth/oauth.js";
import type { AuthThrottle, AuthThrottleOptions } from "./auth-throttle.js";
import type { PinFacts } from "./core/pin-call.js";
import type { ResultFacts } from "./core/result-policy.js";
import type { CompiledPolicy, CounterStore, Decision, Identity, PolicyHolder } from "./engine.js";
import type { PinEvent, PinStore } from "./pins.js";
import type { httpUpstreamSchema } from "./transports/http.js";
import type { inProcessUpstreamSchema } from "./transports/in-process.js";
import type { stdioUpstreamSchema } from "./transports/stdio.js";

/** A config of kind `K` as written: `kind` may be left out (its marker field says it). */
type Written<T extends { kind: string }> = Omit<T, "kind"> & { kind?: T["kind"] };

/** A Streamable HTTP upstream (`kind: "http"`). `headers` carry the upstream's own credentials. */
export type HttpUpstreamConfig = Written<z.input<typeof httpUpstreamSchema>>;
/** A stdio upstream (`kind: "stdio"`): spawned per client session, restarted with backoff if it dies. */
export type StdioUpstreamConfig = Written<z.input<typeof stdioUpstreamSchema>>;
/** An in-process `McpServer` (`kind: "in-process"`); see transports/in-process.ts on sharing. */
export type EmbedUpstreamConfig = Written<z.input<typeof inProcessUpstreamSchema>>;
/** The call timeout every upstream kind accepts. */
export type UpstreamTimeout = Pick<HttpUpstreamConfig, "timeoutMs">;
/** One upstream MCP server behind the gateway; see transports/registry.ts for the kinds. */
export type UpstreamConfig = HttpUpstreamConfig | StdioUpstreamConfig | EmbedUpstreamConfig;

// One Logger and one Scheduler for the whole project: policy-engine's seams.
export type { Logger, Scheduler } from "@toolgate/policy-engine";

/** What the approval hook receives for a `require_approval` call. */
export interface ApprovalRequest {
  /** Unique approval id (from `newId`). */
  id: string;
  grant: string;
  /** The verified subject (OAuth `sub`) behind the grant, when there is one. */
  subject?: string;
  /** The OAuth client the caller's token was issued to, when there is one. */
  clientId?: string;
  session?: string;
  /** Tool name as the client sees it. */
  tool: string;
  upstream: string;
  /** Full values: the approval UI masks secrets itself. */
  arguments: Record<string, unknown>;
  /** `sha256:<hex>` of canonical JSON; the approval is bound to it. */
  argumentsDigest: string;
  decision: Decision;
  /** Aborted if the client cancels the call or the session ends. */
  signal: AbortSignal;
  /**
   * Present when the client declared elicitation: sends `elicitation/create` to the
   * *caller* with the given form and resolves with its answer. The caller is the party
   * being controlled, so an answer from it must never count as an approval (see the
   * gateway's `approvals.callerMayApprove`); use it to tell the user the call is held and
   * let them withdraw it.
   */
  elicit?: (message: string, schema: ElicitSchema) => Promise<ElicitAnswer>;
  /** Open sessions of this grant right now (a grant shared by several sessions is > 1). */
  grantSessions: number;
  /**
   * The call runs as an MCP task: nobody waits on the request, so the hook should wait
   * as long as the approval may (up to `taskApprovalTimeoutMs`), never answer `held`.
   */
  task?: boolean;
  /**
   * The caller is a stateless (MCP 2026-07-28) client: nobody can wait on its request
   * for a person, so the hook should answer `held` at once (retry mode) and the front
   * turns that into an MRTR `input_required` result with a sealed `requestState`.
   */
  stateless?: boolean;
  /**
   * The approval id a 2026 retry's sealed `requestState` names: the hook settles this
   * approval (checking that it belongs to this very call), not a new one.
   */
  resume?: string;
}

/** The flat form an elicitation asks for (MCP's restricted JSON Schema). */
export interface ElicitSchema {
  type: "object";
  properties: Record<string, { type: "boolean" | "string" | "number"; title?: string }>;
  required?: string[];
}

/** What the client answered to an elicitation, or `unsupported` when it returned an error. */
export type ElicitAnswer =
  | { action: "accept"; content: Record<string, unknown> }
  | { action: "decline" | "cancel" }
  | "unsupported";

/**
 * The approval hook's answer for a call it holds without waiting (retry mode): the
 * caller is told at once, nothing runs, and an identical call after approval consumes it.
 */
export interface HeldOutcome {
  outcome: "held";
  /** The approval id the client may quote (also sent in the result's `_meta`). */
  approvalId: string;
  /** When the approval lapses (epoch ms). */
  expiresAt: number;
  /** Model-readable text: what happened and what to do next. */
  message: string;
}

/** Result of the approval hook. */
export type ApprovalOutcome =
  | "approved"
  | "rejected"
  | "timeout"
  | { outcome: "approved" | "rejected" | "timeout"; reason?: string; by?: string }
  | HeldOutcome;

/** `onDecision` payload: keys and a digest of the arguments, never their values. */
export interface DecisionEvent {
  decision: Omit<Decision, "reservation">;
  grant: string;
  /** The verified subject (OAuth `sub`), when the caller presented a token. Never the token. */
  subject?: string;
  /** The OAuth client id of the caller's token, when there is one. */
  clientId?: string;
  session?: string;
  tool: string;
  upstream?: string;
  argumentKeys: string[];
  argumentsDigest: string;
  /**
   * What became of the call:
   * - `forwarded`: sent upstream and answered with a result (also `isError` results);
   * - `upstream_error`: sent upstream, failed there (JSON-RPC error, transport, cancel);
   * - `denied`: refused by policy (also rate limits), or arguments failed validation;
   * - `approval_rejected` / `approval_timeout`: held for approval and not approved;
   * - `approval_held`: held for approval without waiting (retry mode); the caller was
   *   told the approval id and calls again once it is approved;
   * - `unknown_tool`: the policy let it through but no upstream offers that tool; the
   *   client got JSON-RPC `-32602` and the reservation was rolled back (`upstream` is
   *   absent). Under a deny-by-default policy an unknown tool is just `denied`.
   * - `upstream_timeout`: the upstream did not answer within its timeout; the call was
   *   cancelled upstream and rolled back.
   * - `cancelled`: the client sent `notifications/cancelled` or disconnected before the
   *   answer; the call was cancelled upstream (if it got there) and rolled back.
   */
  outcome?:
    | "forwarded"
    | "upstream_error"
    | "upstream_timeout"
    | "cancelled"
    | "approval_rejected"
    | "approval_timeout"
    | "approval_held"
    | "denied"
    | "unknown_tool";
  /**
   * For held calls: who approved or rejected it, as the approval hook reported (`by`),
   * e.g. `admin` or `caller:withdrawn`; never a credential.
   */
  approver?: string;
  upstreamMs?: number;
  /** Set when the tool's definition did not match its pin: the digests and what was done. */
  pin?: PinFacts;
  /** Set when the tool's result policy redacted, cut, denied or (in shadow) would have. */
  result?: ResultFacts;
  at: number;
}

/** `onRefused` payload. */
export interface RefusedEvent {
  grant: string;
  /** The `Mcp-Session-Id` the message came with, if any. */
  session?: string;
  method: string;
  /** Stable reason code, e.g. `request_as_notification`. */
  code: string;
  reason: string;
  at: number;
}

/**
 * A policy source: a holder (hot reload), a compiled policy, or a resolver per grant. The
 * resolver also gets the caller's identity, so a policy can be chosen by a verified
 * token claim (e.g. a role); it must answer the same for the same grant and claims.
 */
export type PolicySource =
  | PolicyHolder
  | CompiledPolicy
  | ((grant: string, identity?: Identity) => PolicyHolder | CompiledPolicy | undefined);

/** Options of {@link createToolgateMcp}. */
export interface ToolgateMcpOptions {
  /** The MCP servers behind the gateway (at least one; unique names). */
  upstreams: UpstreamConfig[];
  /** Namespace separator, 1-8 chars of `[A-Za-z0-9_.-]`. Default `"__"`. */
  separator?: string;
  /** `auto` (default): bare names unless two upstreams collide; `always`; `never`. */
  namespace?: "auto" | "always" | "never";
  /** API key -> grant. Keys arrive as `Authorization: Bearer <key>` or `X-API-Key`. */
  apiKeys?: Record<string, string> | ((key: string) => string | undefined);
  /**
   * Custom identity; overrides `apiKeys` (and cannot be combined with `oauth`). Return
   * undefined to answer 401. Receives Node's request (under Express, the Express
   * `Request`, which extends it).
   */
  identify?: (req: IncomingMessage) => Identity | undefined | Promise<Identity | undefined>;
  /**
   * OAuth 2.1 resource server (MCP authorization): JWT access tokens in
   * `Authorization: Bearer` are verified against the issuer's keys and mapped to an
   * identity (grant from `grantClaim`, plus `sub`, `client_id`, scopes and claims for
   * `identity.*` conditions). API keys keep working next to it. Every 401 then carries
   * `WWW-Authenticate: Bearer resource_metadata="..."`; serve the metadata with
   * `gw.serveOAuthMetadata`. The token is never forwarded upstream nor logged.
   *
   * @example
   * oauth: { issuer: "https://login.example.com", resource: "https://gw.example.com/mcp", requiredScopes: ["mcp"] }
   */
  oauth?: OAuthOptions;
  /**
   * Where spans go. Default: the global OpenTelemetry tracer, active when an SDK was
   * registered before the gateway was created; otherwise tracing costs nothing (an
   * incoming `traceparent` is still passed on to upstreams).
   */
  tracer?: Tracer;
  /**
   * The policy of each grant (one per grant). A `PolicyHolder` (also when returned by the
   * function) is subscribed to, so reloads push `tools/list_changed` to affected sessions.
   */
  policy: PolicySource;
  /** Counter store; default: the engine's in-process store. */
  store?: CounterStore;
  /**
   * Key (at least 32 bytes) that signs the `requestState` the gateway hands to MCP
   * 2026-07-28 clients. Every instance behind one balancer needs the same key, or a
   * state issued by one is refused by another. Default: a random key per process (a
   * warning is logged; states then work only on the instance that issued them).
   */
  stateSecret?: string;
  /** How long a sealed `requestState` stays valid (ms). Default 600000 (10 minutes). */
  stateTtlMs?: number;
  /**
   * An upstream session held for 2026 (stateless) callers of one grant and subject is
   * closed after this long without a request (ms). Default 300000 (5 minutes).
   */
  heldSessionIdleMs?: number;
  /**
   * Most upstream sessions held for 2026 callers at once (each is one upstream session,
   * or one process for a stdio upstream). At the cap the least recently used idle one
   * is closed; when all are busy a new caller gets 503. Default 1000.
   */
  maxHeldSessions?: number;
  /** Approval hook; default rejects with "no approver configured". */
  approve?: (req: ApprovalRequest) => Promise<ApprovalOutcome>;
  /** How long a held call waits for approval. Default 120000. */
  approvalTimeoutMs?: number;
  /**
   * Offers MCP tasks (2025-11-25) for `tools/call` and lets a held call that runs as a
   * task wait this long for approval. Default: no tasks (a `task` param is relayed).
   */
  taskApprovalTimeoutMs?: number;
  /** Interval of progress notifications while a call is held. Default 5000. */
  approvalProgressMs?: number;
  /**
   * Audit/metrics hook, called once for every well-formed `tools/call` (a string `name`,
   * `arguments` an object or absent), also for tools no upstream offers (see
   * `DecisionEvent.outcome`); malformed calls are answered `-32602` without a decision.
   * Errors it throws are logged. Tool names come from the client: bound their
   * cardinality before using them as labels.
   */
  onDecision?: (e: DecisionEvent) => void;
  /** Validate call arguments against the upstream tool's `inputSchema`. Default false. */
  validateArguments?: boolean;
  /**
   * Allowed `Origin` values; default localhost origins. Requests without Origin pass; any
   * other Origin gets 403. Listing origins also enables CORS for them: preflight
   * `OPTIONS` is answered (204) and responses expose `Mcp-Session-Id` and
   * `MCP-Protocol-Version`, so an MCP client in a browser page works.
   */
  allowedOrigins?: string[];
  /**
   * Allowed `Host` header values (DNS-rebinding protection): a host name or address,
   * optionally with a port (`"localhost"`, `"127.0.0.1:8080"`, `"[::1]"`; case does not
   * matter). An entry without a port allows that host on every port. Any other Host, or
   * none, gets 403 before authentication and nothing is forwarded.
   *
   * Default: unset, no Host check, so a server bound to `0.0.0.0` behind a proxy keeps
   * working. Set it whenever the endpoint listens on loopback for local clients: a web
   * page can point its own domain at 127.0.0.1 and would otherwise reach the endpoint.
   *
   * @example
   * allowedHosts: ["localhost", "127.0.0.1", "[::1]"] // a local-only gateway
   */
  allowedHosts?: string[];
  /** Default 4 MiB. */
  maxBodyBytes?: number;
  /** Timeout of a forwarded request when its upstream sets none. Default 60000. */
  callTimeoutMs?: number;
  /**
   * Per-tool timeout from the policy (e.g. the tool entry's `timeoutMs`); undefined to use
   * the upstream's. Default: the `timeoutMs` of the policy rule governing the tool.
   */
  toolTimeoutMs?: (policy: CompiledPolicy, tool: string) => number | undefined;
  /**
   * Open sessions one grant may have at once. Initializing one more first closes the
   * grant's least recently used idle session (nothing in flight, no GET stream); when
   * none is idle the initialize is refused with HTTP 429 naming the cap. Default 100.
   */
  maxSessionsPerGrant?: number;
  /**
   * Brute-force throttle of failed authentications per client address (see
   * {@link AuthThrottle}); `false` turns it off (e.g. behind a proxy that throttles).
   * Default `{}` (10 free failures, then 1 s doubling up to 60 s).
   */
  authThrottle?: AuthThrottleOptions | AuthThrottle | false;
  /**
   * Called for every message refused before it could reach an upstream because it broke
   * the protocol in a way that could bypass policy, e.g. a request method such as
   * `tools/call` sent as a notification (no id). For the audit log.
   */
  onRefused?: (e: RefusedEvent) => void;
  /**
   * Where trust-on-first-use pins keep the first digest seen of each upstream tool
   * (`pins.mode: trust_on_first_use`). Default: this process's memory. Gateways that
   * must agree on what was first seen share one store (the gateway app uses Redis when
   * its counter store is Redis).
   */
  pinStore?: PinStore;
  /**
   * Called when a tool definition does not match its pin (once per policy version, tool
   * and digest per gateway), and when a first-use digest was recorded. Digests only: for
   * the audit log, metrics and the admin page.
   */
  onPinEvent?: (e: PinEvent) => void;
  /**
   * Called after a `resources/read` result was screened by the policy's `resources`
   * section (redacted, cut, denied, or found clean): counts only, never a value or the URI.
   */
  onResourceResult?: (e: ResourceResultEvent) => void;
  /**
   * Grants whose policies the gateway checks its upstreams' tools against by itself, at
   * `start()` and when an upstream restarts or reconnects, so a changed definition is
   * reported (`onPinEvent`) before any agent connects. Default: none when `policy` is a
   * resolver function, else `["*"]` (the one policy, reported under grant `*`).
   */
  pinCheckGrants?: readonly string[];
  /**
   * Page size of `tools/list` as the gateway serves it (merged across upstreams, with an
   * opaque cursor). Default: the largest page an upstream used, or one page when none
   * paginates.
   */
  listPageSize?: number;
  /** SSE `retry:` hint (ms) on every stream the gateway opens. Default 1000. */
  sseRetryMs?: number;
  /**
   * `auto` (default): answer JSON when the response is ready before anything else must be
   * streamed, else switch to SSE; `sse`: always SSE; `json`: JSON only (no mid-call messages).
   */
  responseMode?: "auto" | "sse" | "json";
  /** Idle sessions are closed after this long. Default 30 minutes. */
  sessionIdleMs?: number;
  /** Clock (epoch ms). Default `Date.now`. */
  now?: () => number;
  /** Session, approval and decision ids. Default `crypto.randomUUID` (sessions, approvals). */
  newId?: () => string;
  /** Timers for approval timeouts, progress, idle sweep, restarts. Default: real, unref'd. */
  scheduler?: Scheduler;
  /** Structured logger; default silent. Never receives secrets or argument values. */
  logger?: Logger;
}

/** What a `resources` result policy did to one `resources/read` (see `onResourceResult`). */
export interface ResourceResultEvent {
  readonly grant: string;
  readonly subject?: string | undefined;
  readonly session?: string | undefined;
  /** What the screen did; `ruleId` is the policy path, e.g. `resources."file:///*".results`. */
  readonly result: ResultFacts;
  readonly at: number;
}
