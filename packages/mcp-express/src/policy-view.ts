import type { CompiledPolicy, Identity, PolicyHolder } from "./engine.js";
import type { PolicySource } from "./options.js";

function isHolder(p: unknown): p is PolicyHolder {
  return (
    typeof p === "object" &&
    p !== null &&
    "current" in p &&
    typeof (p as { subscribe?: unknown }).subscribe === "function"
  );
}

/**
 * The timeout a policy sets for a tool: the `timeoutMs` of the rule governing it (exact
 * name or the most specific glob, as the engine picks it).
 */
export function policyToolTimeout(policy: CompiledPolicy, tool: string): number | undefined {
  const key = policy.plan(tool).rule?.key;
  if (key === undefined) return undefined;
  const ms = policy.document.tools?.[key]?.timeoutMs;
  return typeof ms === "number" ? ms : undefined;
}

/**
 * The gateway's view of its policy source: the policy that governs a caller now, and
 * a subscription to every holder met, so a reload reaches the sessions it governs.
 */
export class PolicyView {
  private readonly watched = new WeakSet<object>();
  private readonly unsubscribers: Array<() => void> = [];

  constructor(
    private readonly source: PolicySource,
    /** A holder swapped its policy (`prev` is the one before). */
    private readonly onReload: (holder: PolicyHolder, prev: CompiledPolicy) => void,
  ) {}

  /** The holder or policy behind a grant (and identity, for a resolver). */
  sourceOf(grant: string, identity?: Identity): PolicyHolder | CompiledPolicy | undefined {
    const src = this.source;
    return typeof src === "function" ? src(grant, identity) : src;
  }

  /** The policy deciding for `identity` right now; undefined when its grant has none. */
  policyFor(identity: Identity): CompiledPolicy | undefined {
    const p = this.sourceOf(identity.grant, identity);
    if (!p) return undefined;
    if (isHolder(p)) {
      this.watch(p);
      return p.current;
    }
    return p as CompiledPolicy;
  }

  private watch(holder: PolicyHolder): void {
    if (this.watched.has(holder)) return;
    this.watched.add(holder);
    this.unsubscribers.push(holder.subscribe((_next, prev) => this.onReload(holder, prev)));
  }

  /** Stops listening to every holder. */
  close(): void {
    for (const u of this.unsubscribers.splice(0)) u();
  }
}
