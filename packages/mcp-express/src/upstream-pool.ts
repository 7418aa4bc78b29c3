import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { errText } from "./errors.js";
import type { Logger, Scheduler, UpstreamConfig } from "./options.js";
import { fetchAll } from "./session/lists.js";
import type { UpstreamIdentity } from "./transports/common.js";
import {
  type ResolvedUpstreamConfig,
  resolveUpstream,
  upstreamPlan,
} from "./transports/registry.js";
import { UpstreamLink } from "./upstream.js";
import { TOOLGATE_VERSION } from "./version.js";

/** Settings of an {@link UpstreamPool}. */
export interface UpstreamPoolOptions {
  scheduler: Scheduler;
  logger: Logger;
  /** Default timeout of a request on a link (an upstream's own `timeoutMs` wins). */
  callTimeoutMs: number;
  /**
   * Told the tools an upstream offers whenever the gateway itself sees them: at the
   * start-up probe and after a link restarted or reconnected. `wanted` is asked first,
   * so nothing is listed when no policy uses pins.
   */
  tools?: {
    wanted(): boolean;
    seen(upstream: string, tools: ReadonlyArray<Record<string, unknown>>): Promise<void>;
  };
}

/** One upstream's last known state, as `upstreamHealth()` reports it. */
export interface UpstreamHealth {
  name: string;
  ok: boolean;
  detail?: string;
}

/** An initialize against every upstream: the links that answered, with their results. */
export type Connected = Array<{ link: UpstreamLink; result: Record<string, unknown> }>;

/**
 * The configured upstreams: opens links to them (one per session, or one shared link
 * for an in-process server given as an instance), probes them and keeps their health.
 */
export class UpstreamPool {
  private readonly configs: readonly ResolvedUpstreamConfig[];
  private readonly plans: Array<ReturnType<typeof upstreamPlan>>;
  private readonly health: Map<string, { ok: boolean; detail?: string }>;
  private readonly sharedLinks = new Map<number, Promise<UpstreamLink>>();
  private readonly sharedSet = new WeakSet<UpstreamLink>();

  constructor(
    configs: readonly UpstreamConfig[],
    private readonly opts: UpstreamPoolOptions,
  ) {
    // Validated with the options already: this only fills in `kind` for old configs.
    this.configs = configs.map(resolveUpstream);
    this.plans = this.configs.map((c) => upstreamPlan(c, opts.scheduler));
    this.health = new Map(configs.map((c) => [c.name, { ok: false, detail: "not connected yet" }]));
  }

  /** True for a link shared by every session (never closed by one). */
  isShared(link: UpstreamLink): boolean {
    return this.sharedSet.has(link);
  }

  private markHealth(name: string, ok: boolean, detail?: string): void {
    this.health.set(name, detail === undefined ? { ok } : { ok, detail });
  }

  /** Lists `link`'s tools for the `tools` watcher (when one wants them); never rejects. */
  private async listFor(link: UpstreamLink): Promise<void> {
    const watch = this.opts.tools;
    if (!watch?.wanted()) return;
    const caps = link.initResult?.capabilities as Record<string, unknown> | undefined;
    try {
      const tools = caps?.tools ? await fetchAll(link, "tools/list", "tools") : [];
      await watch.seen(link.name, tools);
    } catch (e) {
      this.opts.logger.warn?.(
        { upstream: link.name, err: errText(e) },
        "upstream tools/list failed",
      );
    }
  }

  private newLink(i: number, who: UpstreamIdentity | undefined): UpstreamLink {
    const link = this.makeLink(i, who);
    // A restarted process or a reconnected server may offer other definitions: the
    // gateway checks them itself, whether or not a session lists them again.
    if (this.opts.tools)
      link.addListener({
        onUpstreamMessage: () => undefined,
        onUpstreamRestarted: (l) => void this.listFor(l),
      });
    return link;
  }

  private makeLink(i: number, who: UpstreamIdentity | undefined): UpstreamLink {
    const c = this.configs[i]!;
    const plan = this.plans[i]!;
    return new UpstreamLink({
      name: c.name,
      // Bound to the identity for the link's life: a reconnect sends the same headers.
      factory: () => plan.factory(who),
      supervise: this.plans[i]!.supervise,
      timeoutMs: c.timeoutMs ?? this.opts.callTimeoutMs,
      onHealth: (ok, detail) => this.markHealth(c.name, ok, detail),
      scheduler: this.opts.scheduler,
      logger: this.opts.logger,
    });
  }

  /**
   * Opens (or, for a shared server, reuses) the link to upstream `i` for `who` and
   * initializes it. A shared link belongs to no identity (in-process servers have no
   * headers); every other link is opened per session, so per-identity headers never mix.
   */
  async connect(
    i: number,
    initParams: Record<string, unknown>,
    who?: UpstreamIdentity,
  ): Promise<UpstreamLink> {
    if (this.plans[i]!.shared) {
      let p = this.sharedLinks.get(i);
      if (!p) {
        const link = this.newLink(i, undefined);
        this.sharedSet.add(link);
        // connect() already sent notifications/initialized: sessions never repeat it.
        p = link.connect(initParams).then(() => link);
        this.sharedLinks.set(i, p);
        p.catch(() => this.sharedLinks.delete(i));
      }
      return p;
    }
    const link = this.newLink(i, who);
    try {
      await link.connect(initParams);
    } catch (e) {
      await link.close();
      throw e;
    }
    return link;
  }

  /** Initializes every upstream with the client's params for `who`; failures are logged and marked. */
  async connectAll(
    initParams: Record<string, unknown>,
    who?: UpstreamIdentity,
  ): Promise<Connected> {
    const settled = await Promise.allSettled(
      this.configs.map((_c, i) => this.connect(i, initParams, who)),
    );
    const results: Connected = [];
    settled.forEach((s, i) => {
      const name = this.configs[i]!.name;
      if (s.status === "fulfilled") {
        this.markHealth(name, true);
        results.push({ link: s.value, result: s.value.initResult ?? {} });
      } else {
        const detail = errText(s.reason);
        this.markHealth(name, false, detail);
        this.opts.logger.warn?.({ upstream: name, err: detail }, "upstream initialize failed");
      }
    });
    return results;
  }

  /** Closes the links of `connected` that belong to one session only. */
  async release(connected: Connected): Promise<void> {
    await Promise.all(connected.filter((r) => !this.isShared(r.link)).map((r) => r.link.close()));
  }

  /** Initializes each upstream once, to learn its health (start-up readiness). */
  async probe(): Promise<void> {
    const probe = {
      protocolVersion: LATEST_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: "toolgate-probe", version: TOOLGATE_VERSION },
    };
    await Promise.all(
      this.configs.map(async (c, i) => {
        try {
          const link = await this.connect(i, probe);
          // The gateway sees every upstream's tools before any agent connects.
          await this.listFor(link);
          if (!this.isShared(link)) await link.close();
          this.markHealth(c.name, true);
        } catch (e) {
          this.markHealth(c.name, false, errText(e));
          this.opts.logger.warn?.({ upstream: c.name, err: String(e) }, "upstream probe failed");
        }
      }),
    );
  }

  /** Last known state of each upstream, in config order. */
  upstreamHealth(): UpstreamHealth[] {
    return this.configs.map((c) => {
      const h = this.health.get(c.name) ?? { ok: false };
      return h.detail === undefined
        ? { name: c.name, ok: h.ok }
        : { name: c.name, ok: h.ok, detail: h.detail };
    });
  }

  /** Closes the shared links (per-session links are closed by their sessions). */
  async close(): Promise<void> {
    const shared = await Promise.allSettled(this.sharedLinks.values());
    await Promise.all(shared.map((s) => (s.status === "fulfilled" ? s.value.close() : undefined)));
  }
}
