/**
 * Pinned tool definitions inside a guarded server. The guard knows the server's own tool
 * definitions (its `tools/list`), so it checks each against the caller's policy (`pins`,
 * a tool's `pin`) with mcp-express's pin checker: a changed definition is hidden from
 * `tools/list` and its calls denied, held for approval, or allowed and reported, as the
 * policy says. Nothing is done (and nothing listed) when the policy uses no pins.
 */
import {
  createMemoryPinStore,
  type PinCheck,
  type PinEvent,
  PinGuard,
  type PinStore,
} from "@toolgate/mcp-express/core";
import type { CompiledPolicy, Identity } from "@toolgate/policy-engine";
import { silentLogger } from "@toolgate/policy-engine";

/** The name a guarded server's tools are pinned under (one server, no upstreams). */
export const GUARDED_SERVER = "server";

/** A tool definition as the server lists it. */
export type ListedTool = Record<string, unknown> & { readonly name: string };

/** The pin checks of one guarded server (see the file comment). */
export class GuardPins {
  private readonly guard: PinGuard;

  constructor(opts: {
    store?: PinStore | undefined;
    onPinEvent?: ((e: PinEvent) => void) | undefined;
    onError: (err: unknown, where: string) => void;
    now: () => number;
  }) {
    const report = opts.onPinEvent;
    this.guard = new PinGuard(
      opts.store ?? createMemoryPinStore(),
      report &&
        ((e) => {
          try {
            report(e);
          } catch (err) {
            opts.onError(err, "onPinEvent");
          }
        }),
      silentLogger,
      opts.now,
    );
  }

  /** The listed tools minus those whose changed definition the policy hides. */
  async visible(
    policy: CompiledPolicy,
    identity: Identity,
    tools: readonly ListedTool[],
  ): Promise<ListedTool[]> {
    if (policy.pinSettings === undefined) return [...tools];
    const checks = await this.check(policy, identity, tools);
    return tools.filter((t) => checks.get(t.name)?.verdict.action !== "hide");
  }

  /**
   * The pin check of the tool `name` a call names, read from the server's current list
   * (`list`, called only when the policy uses pins); undefined for a tool not listed.
   */
  async forCall(
    policy: CompiledPolicy,
    identity: Identity,
    name: string,
    list: () => Promise<readonly ListedTool[]>,
  ): Promise<PinCheck | undefined> {
    if (policy.pinSettings === undefined) return undefined;
    const def = (await list()).find((t) => t.name === name);
    if (def === undefined) return undefined;
    return (await this.check(policy, identity, [def])).get(name);
  }

  private check(policy: CompiledPolicy, identity: Identity, tools: readonly ListedTool[]) {
    return this.guard.check(
      policy,
      identity.grant,
      tools.map((tool) => ({ exposed: tool.name, upstream: GUARDED_SERVER, tool })),
    );
  }
}
