/**
 * The gateway's own look at its upstreams' tools, apart from any client session: at
 * start-up (the probe lists every upstream's tools) and whenever an upstream restarts or
 * reconnects (its new tools are listed again). Each time, the definitions are checked
 * against the pins of every policy the gateway knows (`pinCheckGrants`), so a changed
 * definition is reported (metric, audit record, admin page) before any agent connects,
 * and trust-on-first-use digests are recorded from the first sight.
 */
import type { Identity } from "./engine.js";
import type { Logger } from "./options.js";
import type { PinGuard, PinSubject } from "./pins.js";
import type { PolicyView } from "./policy-view.js";
import { routeTools } from "./session/tool-catalog.js";

/** What the watch needs from the gateway. */
export interface PinWatchDeps {
  readonly pins: PinGuard;
  readonly policies: PolicyView;
  /** The grants whose policies are checked (the gateway's configured grants). */
  readonly grants: readonly string[];
  /** Upstream names in config order (naming follows the sessions' rules). */
  readonly upstreams: readonly string[];
  readonly namespace: "auto" | "always" | "never";
  readonly separator: string;
  readonly logger: Logger;
}

/** Checks the upstreams' tools against every known policy's pins (see the file comment). */
export class PinWatch {
  /** The last tools seen per upstream: a restart of one is named among all of them. */
  private readonly lists = new Map<string, ReadonlyArray<Record<string, unknown>>>();

  constructor(private readonly deps: PinWatchDeps) {}

  /**
   * Records `tools` as what `upstream` offers now and checks every upstream's tools
   * under each grant's policy. Never rejects: a failure is logged (the sessions check
   * again on their own lists and calls).
   */
  async seen(upstream: string, tools: ReadonlyArray<Record<string, unknown>>): Promise<void> {
    this.lists.set(upstream, tools);
    await this.checkAll().catch((e: unknown) =>
      this.deps.logger.warn?.({ upstream, err: String(e) }, "pin check of upstream tools failed"),
    );
  }

  private async checkAll(): Promise<void> {
    const { deps } = this;
    const lists = deps.upstreams
      .filter((n) => this.lists.has(n))
      .map((name) => ({ link: { name }, tools: this.lists.get(name)! }));
    const routes = routeTools(lists, deps.namespace, deps.separator);
    const subjects: PinSubject[] = [...routes.values()].map((r) => ({
      exposed: r.exposed,
      upstream: r.link.name,
      tool: r.tool,
    }));
    await Promise.all(
      deps.grants.map((grant) => {
        const identity: Identity = { grant };
        return deps.pins.check(deps.policies.policyFor(identity), grant, subjects);
      }),
    );
  }
}
