/**
 * Pinned tool definitions at runtime: every time a session sees an upstream's tools
 * (its first list, a `tools/list`, an upstream's `list_changed`, a restart) and every
 * time a tool is called, each definition is checked against the caller's policy
 * (`pins` and the tool's `pin`) with the engine's pure `checkPin`. What to do with a
 * verdict (hide, hold, report) is up to the list and the call; this module checks,
 * remembers first-seen digests (trust on first use) and reports each mismatch once.
 */

import type { PinCheck } from "./core/pin-call.js";
import {
  type CompiledPolicy,
  checkPin,
  diffToolDefinitions,
  type PinVerdict,
  type ToolDefinition,
  toolDigest,
} from "./engine.js";
import type { Logger } from "./options.js";

/**
 * Where trust-on-first-use digests live. `firstSeen` stores `digest` for the tool unless
 * one is stored already, atomically, and returns the stored one (`created` when it was
 * this call that stored it). Gateways sharing one store agree on the first digest.
 */
export interface PinStore {
  firstSeen(
    upstream: string,
    tool: string,
    digest: string,
  ): Promise<{ readonly digest: string; readonly created: boolean }>;
  /** Releases connections, if any. */
  close?(): Promise<void>;
}

/** The first-seen digests in this process only (one gateway instance). */
export function createMemoryPinStore(): PinStore {
  const seen = new Map<string, string>();
  return {
    firstSeen(upstream, tool, digest) {
      const key = `${upstream.length}:${upstream}|${tool}`;
      const had = seen.get(key);
      if (had !== undefined) return Promise.resolve({ digest: had, created: false });
      seen.set(key, digest);
      return Promise.resolve({ digest, created: true });
    },
  };
}

/** A definition that does not match its pin, or a first-use digest just recorded. */
export interface PinEvent {
  /** `mismatch`: changed since pinned or first trusted. `trusted`: first digest recorded now. */
  readonly kind: "mismatch" | "trusted";
  readonly grant: string;
  readonly upstream: string;
  /** The tool's name as the client sees it (the policy entry's name). */
  readonly tool: string;
  /** The pin or first-seen digest (absent for `trusted`). */
  readonly expected?: string | undefined;
  readonly actual: string;
  /** `hide` (hidden and denied), `approval` (calls held), `report` (allowed, reported). */
  readonly action: PinVerdict["action"];
  readonly mode: "enforce" | "shadow" | "trust_on_first_use";
  /** True when `pins.mode: shadow` turned the action into a report. */
  readonly shadow: boolean;
  /** Paths of the fields that changed, when the gateway saw the approved definition itself. */
  readonly changed?: readonly string[] | undefined;
  readonly policyVersion: string;
  readonly at: number;
}

/** A tool as the session routes it: exposed name, upstream, raw definition. */
export interface PinSubject {
  readonly exposed: string;
  readonly upstream: string;
  readonly tool: Record<string, unknown>;
}

/** At most this many verdicts and definitions are remembered (a hostile upstream can mint names). */
const MAX_REMEMBERED = 10_000;

/** Checks tool definitions against pins for every session of one gateway. */
export class PinGuard {
  /** Verdicts by policy version, upstream, tool and digest: a digest never changes its verdict. */
  private readonly verdicts = new Map<string, PinVerdict>();
  /** The last definition seen per upstream tool, to say what changed. */
  private readonly lastSeen = new Map<string, { digest: string; def: ToolDefinition }>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly store: PinStore,
    private readonly report: ((e: PinEvent) => void) | undefined,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /**
   * The verdicts on `tools` under `policy` (none when the policy uses no pins), by exposed
   * name. A store that cannot answer leaves the tool unverified: it is treated as changed
   * (fail closed), and checked again next time.
   */
  async check(
    policy: CompiledPolicy | undefined,
    grant: string,
    tools: Iterable<PinSubject>,
  ): Promise<Map<string, PinCheck>> {
    const out = new Map<string, PinCheck>();
    const settings = policy?.pinSettings;
    if (!policy || !settings) return out;
    const pending: Array<Promise<void>> = [];
    for (const t of tools) {
      pending.push(
        this.one(policy, grant, t).then((verdict) => {
          out.set(t.exposed, { verdict, onMismatch: settings.onMismatch });
        }),
      );
    }
    await Promise.all(pending);
    return out;
  }

  private async one(policy: CompiledPolicy, grant: string, t: PinSubject): Promise<PinVerdict> {
    const settings = policy.pinSettings!;
    const def = t.tool as unknown as ToolDefinition;
    const actual = toolDigest(def);
    const key = `${policy.version}|${t.upstream.length}:${t.upstream}|${t.exposed}|${actual}`;
    const cached = this.verdicts.get(key);
    if (cached) return cached;
    const pin = policy.pinFor(t.exposed);
    let firstSeen: string | undefined;
    let created = false;
    if (pin === undefined && settings.mode === "trust_on_first_use") {
      try {
        const r = await this.store.firstSeen(t.upstream, String(def.name), actual);
        // Stored just now: this digest is the one trusted (checkPin says `trusted`).
        firstSeen = r.created ? undefined : r.digest;
        created = r.created;
      } catch (e) {
        this.logger.warn?.(
          { upstream: t.upstream, tool: t.exposed, err: String(e) },
          "pin store unavailable: tool treated as changed until it can be checked",
        );
        // Not cached: the next list or call asks the store again.
        return checkPin(def, "sha256:unverified", undefined, { ...settings, mode: "enforce" });
      }
    }
    const verdict = checkPin(def, pin, firstSeen, settings);
    remember(this.verdicts, key, verdict);
    this.note(policy, grant, t, verdict, created);
    return verdict;
  }

  /** Reports a mismatch (once per policy version, tool and digest) or a first trust. */
  private note(
    policy: CompiledPolicy,
    grant: string,
    t: PinSubject,
    v: PinVerdict,
    created: boolean,
  ): void {
    const seenKey = `${t.upstream.length}:${t.upstream}|${String(t.tool.name)}`;
    const before = this.lastSeen.get(seenKey);
    const def = t.tool as unknown as ToolDefinition;
    if (before?.digest !== v.actual) remember(this.lastSeen, seenKey, { digest: v.actual, def });
    if (v.status !== "mismatch" && !(v.status === "trusted" && created)) return;
    const once = `${policy.version}|${seenKey}|${t.exposed}|${v.actual}`;
    if (this.reported.has(once)) return;
    if (this.reported.size >= MAX_REMEMBERED) this.reported.clear();
    this.reported.add(once);
    const changed =
      v.status === "mismatch" && before !== undefined && before.digest === v.expected
        ? diffToolDefinitions(before.def, def, 50).map((c) => c.path)
        : undefined;
    const e: PinEvent = {
      kind: v.status === "mismatch" ? "mismatch" : "trusted",
      grant,
      upstream: t.upstream,
      tool: t.exposed,
      ...(v.expected !== undefined && { expected: v.expected }),
      actual: v.actual,
      action: v.action,
      mode: policy.pinSettings!.mode,
      shadow: v.shadow,
      ...(changed !== undefined && { changed }),
      policyVersion: policy.version,
      at: this.now(),
    };
    if (v.status === "mismatch") {
      this.logger.warn?.(
        { upstream: e.upstream, tool: e.tool, expected: e.expected, actual: e.actual },
        "tool definition changed since it was approved",
      );
    }
    try {
      this.report?.(e);
    } catch (err) {
      this.logger.warn?.({ err: String(err) }, "onPinEvent hook threw");
    }
  }
}

function remember<K, V>(m: Map<K, V>, k: K, v: V): void {
  if (m.size >= MAX_REMEMBERED) m.clear();
  m.set(k, v);
}
