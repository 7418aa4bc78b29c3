/**
 * One session `tools/call` as the core pipeline sees it (core/tool-call.ts). A class, so
 * the pipeline's hooks (resolve, unavailable, forward, grantSessions) are prototype
 * methods rather than a handful of closures built for every call on the hot path.
 */
import type { Span } from "@opentelemetry/api";
import type { CallSignal } from "../core/call-abort.js";
import type { ResultScreen } from "../core/result-policy.js";
import type { ForwardRequest, ToolCall, ToolTarget } from "../core/tool-call.js";
import type { Identity } from "../engine.js";
import type { RpcId, RpcMessage } from "../jsonrpc.js";
import type { ElicitAnswer, ElicitSchema } from "../options.js";
import type { RequestTrace } from "../telemetry.js";
import type { UpstreamLink } from "../upstream.js";
import { withLogScreen } from "./log-screen.js";
import type { ToolCatalog, ToolRoute } from "./tool-catalog.js";
import type { Open } from "./types.js";

/** What a session lends each of its tool calls (built once per session). */
export interface CallHost {
  readonly tools: ToolCatalog;
  readonly links: readonly UpstreamLink[];
  readonly shared: ReadonlySet<UpstreamLink>;
  /** Open sessions of the session's grant. */
  grantSessions(): number;
  /** The session's relay of one request to one upstream (ids mapped back). */
  forward(
    entry: Open,
    link: UpstreamLink,
    method: string,
    params: RpcMessage["params"],
    timeoutMs?: number,
    span?: Span,
  ): Promise<RpcMessage>;
  /** Asks the client through elicitation, when its client declared it. */
  elicitFor(
    entry: Open,
  ): ((message: string, schema: ElicitSchema) => Promise<ElicitAnswer>) | undefined;
}

/** A `tools/call` of a session, handed to the core pipeline. */
export class SessionToolCall implements ToolCall {
  /** Where the exposed name routed to, once resolved. */
  private route: ToolRoute | undefined;
  readonly session: string | undefined;
  readonly continuation: boolean | undefined;
  readonly stateless: { readonly resume?: string | undefined } | undefined;
  readonly signal: CallSignal;
  readonly trace: RequestTrace | undefined;
  readonly screen: ResultScreen | undefined;

  constructor(
    private readonly host: CallHost,
    private readonly entry: Open,
    readonly id: RpcId,
    /** The identity this call is decided and reported under (a later refresh does not change it). */
    readonly identity: Identity,
    readonly params: Record<string, unknown>,
    readonly task: boolean,
    readonly progress: ((n: number, message: string) => void) | undefined,
  ) {
    // The 2026 front's held session has none: its calls name no session.
    this.session = identity.session;
    this.continuation = entry.continuation;
    this.stateless = entry.stateless;
    this.signal = entry.abort;
    this.trace = entry.trace;
    this.screen = entry.screen;
  }

  /** Read only when a call is held (approval by elicitation). */
  get elicit(): ((message: string, schema: ElicitSchema) => Promise<ElicitAnswer>) | undefined {
    return this.host.elicitFor(this.entry);
  }

  async resolve(name: string): Promise<ToolTarget | undefined> {
    const tools = this.host.tools;
    const routes = tools.cachedRoutes() ?? (await tools.toolRoutes());
    const route = routes.get(name);
    this.route = route;
    if (!route) return undefined;
    const pin = tools.pinCheck(route);
    const t = { upstream: route.link.name, tool: route.name, definition: route.tool };
    return pin ? { ...t, pin: await pin } : t;
  }

  unavailable(): readonly string[] {
    const { links, shared } = this.host;
    return links.filter((l) => !l.ok && !shared.has(l)).map((l) => l.name);
  }

  forward({ tool, timeoutMs, span }: ForwardRequest): Promise<RpcMessage> {
    const link = this.route!.link;
    const params = this.params;
    const sent = tool === params.name ? params : { ...params, name: tool };
    const { entry, host } = this;
    // Only a tool with a result policy screens the link's log notifications meanwhile.
    if (entry.screen === undefined)
      return host.forward(entry, link, "tools/call", sent, timeoutMs, span);
    return withLogScreen(link, entry.screen, () =>
      host.forward(entry, link, "tools/call", sent, timeoutMs, span),
    );
  }

  grantSessions(): number {
    return this.host.grantSessions();
  }
}
