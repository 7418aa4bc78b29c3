/**
 * A session's tools: the routed list over its upstreams (namespaced on collisions,
 * cached until an upstream's list changes), `tools/list` filtered by policy and paged,
 * and the `tools/list_changed` decisions against what the client last saw.
 */
import type { ClientStreams } from "../client-streams.js";
import type { PinCheck } from "../core/pin-call.js";
import type { CompiledPolicy, Identity } from "../engine.js";
import type { RpcId, RpcMessage } from "../jsonrpc.js";
import type { PinSubject } from "../pins.js";
import type { UpstreamLink } from "../upstream.js";
import {
  badCursor,
  fetchAll,
  largestPage,
  listFingerprint,
  makeCursor,
  mergeListFields,
  readCursor,
} from "./lists.js";
import type { SessionContext } from "./types.js";

/** A tool as the client sees it, and where it really lives. */
export interface ToolRoute {
  readonly exposed: string;
  readonly link: UpstreamLink;
  readonly name: string;
  readonly tool: Record<string, unknown>;
}

/**
 * The names clients see for the tools of several upstreams: a tool keeps its name unless
 * `namespace` is `always`, or `auto` and another upstream offers the same name; then it
 * is `<upstream><separator><name>`. The first upstream wins a name still taken twice.
 * One function for sessions and the gateway's own start-up check, so both pin the same
 * names.
 */
export function routeTools<L extends { readonly name: string }>(
  lists: ReadonlyArray<{
    readonly link: L;
    readonly tools: ReadonlyArray<Record<string, unknown>>;
  }>,
  namespace: "auto" | "always" | "never",
  separator: string,
): Map<string, { exposed: string; link: L; name: string; tool: Record<string, unknown> }> {
  const count = new Map<string, number>();
  for (const { tools } of lists) {
    for (const t of tools) count.set(String(t.name), (count.get(String(t.name)) ?? 0) + 1);
  }
  const routes = new Map<
    string,
    { exposed: string; link: L; name: string; tool: Record<string, unknown> }
  >();
  const multi = lists.length > 1;
  for (const { link, tools } of lists) {
    for (const tool of tools) {
      const name = String(tool.name);
      const prefix =
        namespace === "always" || (multi && namespace === "auto" && (count.get(name) ?? 0) > 1);
      const exposed = prefix ? `${link.name}${separator}${name}` : name;
      if (!routes.has(exposed)) routes.set(exposed, { exposed, link, name, tool });
    }
  }
  return routes;
}

/** What the catalog reads from its session. */
export interface CatalogHost {
  readonly id: string;
  readonly identity: Identity;
  readonly links: readonly UpstreamLink[];
  readonly closed: boolean;
  readonly streams: ClientStreams;
}

/** The tool list of one session (see the file comment). */
export class ToolCatalog {
  private routes: Map<string, ToolRoute> | undefined;
  private routesEpoch = -1;
  /**
   * The visible tools the client is up to date with: what it was last listed, or the
   * state it was last told about (an announcement or a check that found no change).
   * Every list_changed decision compares against this one snapshot, so two paths
   * reacting to one change (a holder subscription and an explicit notify) send once.
   */
  private seenTools: Array<Record<string, unknown>> | undefined;
  /** Tool re-checks (policy reloads, upstream changes, explicit notifies) run in order. */
  private toolsCheck: Promise<void> = Promise.resolve();

  constructor(
    private readonly host: CatalogHost,
    private readonly ctx: SessionContext,
  ) {}

  /**
   * Sends `notifications/tools/list_changed` when the tools this session may see (names or
   * definitions) differ from the ones the client is up to date with, and records the new
   * state, so several triggers of one change notify once. Checks run one at a time in
   * call order; the returned promise settles when this one is done.
   *
   * - `previousPolicy`: the policy before a reload; the baseline for a client that has not
   *   listed tools yet (did the tools visible under it differ?).
   * - `force`: send even when nothing visible changed (the snapshot is still updated).
   * - With no baseline at all (never listed, no previous policy; e.g. an upstream's own
   *   list_changed) the event is sent once, as the gateway cannot tell what the client
   *   knows; from then on the snapshot is known.
   * - When the tools cannot be listed the event is sent, so the client re-lists itself.
   */
  toolsMaybeChanged(
    opts: { force?: boolean; previousPolicy?: CompiledPolicy } = {},
  ): Promise<void> {
    // Never rejects: a failed check must not stop the ones queued after it.
    const run = this.toolsCheck
      .then(() => this.checkTools(opts))
      .catch((e: unknown) =>
        this.ctx.logger.warn?.({ session: this.host.id, err: String(e) }, "tools re-check failed"),
      );
    this.toolsCheck = run;
    return run;
  }

  private async checkTools(opts: {
    force?: boolean;
    previousPolicy?: CompiledPolicy;
  }): Promise<void> {
    if (this.host.closed) return;
    let now: Array<Record<string, unknown>> | undefined;
    let before: string | undefined;
    try {
      const routes = await this.toolRoutes();
      now = this.visibleTools(routes, undefined, await this.pinChecks(routes)).tools;
      // Read after the await: a tools/list answered meanwhile is the newer baseline.
      if (this.seenTools !== undefined) before = JSON.stringify(this.seenTools);
      else if (opts.previousPolicy)
        before = JSON.stringify(this.visibleTools(routes, opts.previousPolicy).tools);
    } catch (e) {
      // Cannot tell: let the client re-list and see for itself.
      this.ctx.logger.warn?.({ session: this.host.id, err: String(e) }, "tools re-check failed");
    }
    if (this.host.closed) return;
    const changed = now === undefined || before === undefined || JSON.stringify(now) !== before;
    if (now !== undefined) this.seenTools = now;
    if (changed || opts.force) {
      this.host.streams.sendUnrelated({
        jsonrpc: "2.0",
        method: "notifications/tools/list_changed",
      });
    }
  }

  /** The routed tool list when still valid (no upstream changed its list). */
  cachedRoutes(): Map<string, ToolRoute> | undefined {
    if (!this.routes) return undefined;
    let epoch = 0;
    for (const l of this.host.links) {
      if (!l.tools) return undefined;
      epoch += l.toolsEpoch;
    }
    return this.routesEpoch === epoch ? this.routes : undefined;
  }

  async toolRoutes(): Promise<Map<string, ToolRoute>> {
    const cached = this.cachedRoutes();
    if (cached) return cached;
    const lists = await Promise.all(
      this.host.links.map(async (l) => {
        // A link that is down (restarting) keeps its last known tools: a call to one of them
        // then fails naming the upstream, instead of as a tool that does not exist.
        if (!l.ok) return l.tools ?? [];
        if (!l.initResult?.capabilities) return [];
        const caps = l.initResult.capabilities as Record<string, unknown>;
        if (!caps.tools) {
          l.tools = [];
          return l.tools;
        }
        if (!l.tools) {
          const page: { first?: Record<string, unknown>; size?: number } = {};
          l.tools = await fetchAll(l, "tools/list", "tools", page);
          const { tools: _t, nextCursor: _c, ...fields } = page.first ?? {};
          l.toolsResult = page.size === undefined ? { fields } : { fields, pageSize: page.size };
        }
        return l.tools;
      }),
    );
    const routes = routeTools(
      lists.map((tools, i) => ({ link: this.host.links[i]!, tools })),
      this.ctx.namespace,
      this.ctx.separator,
    );
    this.routes = routes;
    this.routesEpoch = this.host.links.reduce((a, l) => a + l.toolsEpoch, 0);
    return routes;
  }

  /**
   * The merged, policy-filtered tool list. Result-level fields of the upstreams (`_meta`,
   * cache hints like `ttlMs`) are kept: one upstream's as they are; with several, the
   * ones they agree on, `_meta` merged and the smallest `ttlMs`. The list is paged when an
   * upstream paged its own (same page size, or `listPageSize`), with a gateway cursor
   * that is opaque to the client and bound to the list it pages through.
   */
  async listTools(id: RpcId, cursor: unknown): Promise<RpcMessage> {
    // Under pins a fresh list is read from the upstreams, so a definition changed without
    // a list_changed is caught at the latest when the client lists again.
    if (cursor === undefined && this.ctx.pinsActive(this.host.identity)) this.forgetLists();
    const routes = await this.toolRoutes();
    const { tools } = this.visibleTools(routes, undefined, await this.pinChecks(routes));
    const fingerprint = listFingerprint(tools);
    let offset = 0;
    if (cursor !== undefined) {
      const at = typeof cursor === "string" ? readCursor(cursor, fingerprint) : undefined;
      if (at === undefined || at > tools.length) return badCursor(id);
      offset = at;
    }
    if (offset === 0) this.seenTools = tools;
    const result: Record<string, unknown> = mergeListFields(this.host.links);
    const size = this.ctx.listPageSize ?? largestPage(this.host.links);
    if (size !== undefined && size > 0 && tools.length - offset > size) {
      result.tools = tools.slice(offset, offset + size);
      result.nextCursor = makeCursor(offset + size, fingerprint);
    } else {
      result.tools = offset === 0 ? tools : tools.slice(offset);
    }
    return { jsonrpc: "2.0", id, result };
  }

  /** Pin checks of the routed tools under the session's policy (empty without pins). */
  pinChecks(routes: Map<string, ToolRoute>): Promise<Map<string, PinCheck>> {
    if (!this.ctx.pinsActive(this.host.identity)) return Promise.resolve(new Map());
    return this.ctx.pins(this.host.identity, this.subjects(routes.values()));
  }

  /**
   * The pin check of one routed tool; undefined at once (no promise to wait for on the
   * call path) when the session's policy uses no pins.
   */
  pinCheck(route: ToolRoute): Promise<PinCheck | undefined> | undefined {
    if (!this.ctx.pinsActive(this.host.identity)) return undefined;
    return this.ctx
      .pins(this.host.identity, this.subjects([route]))
      .then((m) => m.get(route.exposed));
  }

  private *subjects(routes: Iterable<ToolRoute>): Iterable<PinSubject> {
    for (const r of routes) yield { exposed: r.exposed, upstream: r.link.name, tool: r.tool };
  }

  /** Drops the cached upstream lists of the links that are up, so the next read re-lists. */
  private forgetLists(): void {
    for (const l of this.host.links) {
      if (!l.ok || l.tools === undefined) continue;
      l.tools = undefined;
      l.toolsEpoch++;
    }
  }

  /**
   * The tool definitions this session may see (under `policy`, default the current one);
   * a tool whose pin check says `hide` is left out.
   */
  private visibleTools(
    routes: Map<string, ToolRoute>,
    policy?: CompiledPolicy,
    pins?: ReadonlyMap<string, PinCheck>,
  ): {
    tools: Array<Record<string, unknown>>;
    visible: Set<string>;
  } {
    const all = [...routes.values()];
    const visible = this.ctx.visible(
      this.host.identity,
      all.map((r) => ({ name: r.exposed })),
      policy,
    );
    const tools: Array<Record<string, unknown>> = [];
    for (const r of all) {
      if (!visible.has(r.exposed)) continue;
      if (pins?.get(r.exposed)?.verdict.action === "hide") continue;
      tools.push(r.exposed === r.name ? r.tool : { ...r.tool, name: r.exposed });
    }
    return { tools, visible };
  }
}
