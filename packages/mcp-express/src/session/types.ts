/** The shapes a session shares with its parts and with the gateway. */
import type { Slot } from "../client-streams.js";
import type { CallAbort } from "../core/call-abort.js";
import type { PinCheck } from "../core/pin-call.js";
import type { ResultScreen } from "../core/result-policy.js";
import type { ToolCallDeps } from "../core/tool-call.js";
import type { CompiledPolicy, CompiledResultPolicy, Identity } from "../engine.js";
import type { RpcId, RpcMessage } from "../jsonrpc.js";
import type { Logger } from "../options.js";
import type { PinSubject } from "../pins.js";
import type { ProxySession } from "../session.js";
import type { RequestTrace } from "../telemetry.js";
import type { UpstreamLink } from "../upstream.js";

/** What a session needs from the gateway (policy view, the tool-call pipeline, seams). */
export interface SessionContext {
  readonly separator: string;
  readonly namespace: "auto" | "always" | "never";
  /** Page size of the gateway's `tools/list`; undefined pages like the upstreams do. */
  readonly listPageSize: number | undefined;
  readonly now: () => number;
  readonly logger: Logger;
  /** The tool-call pipeline's dependencies (decide, approve, validate, emit). */
  readonly toolCalls: ToolCallDeps;
  /** Names the grant may see; under `policy` when given (e.g. the one before a reload). */
  visible(
    identity: Identity,
    tools: ReadonlyArray<{ name: string }>,
    policy?: CompiledPolicy,
  ): Set<string>;
  /**
   * Pin checks of routed tools under the caller's policy, by exposed name (empty when
   * the policy uses no pins).
   */
  pins(identity: Identity, tools: Iterable<PinSubject>): Promise<Map<string, PinCheck>>;
  /** Whether the caller's policy uses pins (every `tools/list` then re-reads the upstreams). */
  pinsActive(identity: Identity): boolean;
  /** The caller's result policy of a tool, if any (progress notifications are screened too). */
  resultPolicy(identity: Identity, tool: string): CompiledResultPolicy | undefined;
  /**
   * The answer to a `resources/read` under the caller's `resources` result policy (any
   * other method's answer, or one without a policy, as it is).
   */
  screenResource(
    identity: Identity,
    method: string,
    params: RpcMessage["params"],
    answer: RpcMessage,
  ): RpcMessage;
  /** Open sessions of a grant right now. */
  grantSessions(grant: string): number;
  onSlotDone(): void;
  /** The session lost an upstream for good; the gateway forgets and closes it. */
  onSessionLost(session: ProxySession): void;
}

/** A forwarded request in flight on a link. */
export interface Forward {
  readonly slot: Slot;
  readonly link: UpstreamLink;
  readonly upstreamId: number;
}

/** A request sent to the client: answered back to an upstream or to the gateway itself. */
export type ToClient =
  | { kind: "upstream"; link: UpstreamLink; upstreamId: RpcId }
  | { kind: "local"; resolve: (m: RpcMessage) => void };

/** Open request bookkeeping on top of the stream slot. */
export interface Open {
  readonly slot: Slot;
  forward?: Forward;
  /**
   * Aborted when the client gives up (reason: its words) or the session ends (reason:
   * {@link SESSION_CLOSED}); the tool-call pipeline tells the two apart.
   */
  readonly abort: CallAbort;
  progressToken?: string | number;
  /** Why the client gave up on it (cancelled, disconnected); set once. */
  cancelled?: string;
  /** The request's span, when traced (or when the client sent a trace context). */
  trace?: RequestTrace | undefined;
  /** A tool call's result policy: its progress notifications are screened too. */
  screen?: ResultScreen | undefined;
  /** A 2026 MRTR continuation of a call already counted (see core/tool-call.ts). */
  continuation?: boolean;
  /** The client's progress token when the upstream sees another (2026 held session). */
  clientToken?: string | number;
  /** A request of a stateless (2026) client, and the approval its sealed state names. */
  stateless?: { readonly resume?: string | undefined };
}

/** What the 2026 front tells its held session about one request. */
export interface HeldRequest {
  /** A 2026 MRTR continuation of a call already counted (see core/tool-call.ts). */
  readonly continuation?: boolean;
  /**
   * The client's own progress token, when the front gave the upstream a unique one
   * (several clients share a held session, and each numbers its tokens from 0).
   */
  readonly clientProgressToken?: string | number;
  /** The approval a retry's sealed state names (a held approval through MRTR). */
  readonly resumeApproval?: string | undefined;
}

/** The abort reason of a session's end: not the client's cancel (no `cancelled` outcome). */
export const SESSION_CLOSED = Symbol("session closed");

/** A client's progress token made unique on a link shared by several sessions. */
export function shareToken(session: string, token: string | number): string {
  return `${session}/${typeof token}/${String(token)}`;
}
/** The client's own progress token back from a shared one (a foreign one never matches). */
export function unshareToken(session: string, token: string | number): string | number {
  const s = String(token);
  const prefix = `${session}/`;
  if (!s.startsWith(prefix)) return `\u0000${s}`;
  const rest = s.slice(prefix.length);
  const slash = rest.indexOf("/");
  const type = rest.slice(0, slash);
  const value = rest.slice(slash + 1);
  return type === "number" ? Number(value) : value;
}
