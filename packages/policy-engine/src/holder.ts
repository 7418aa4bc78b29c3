import { type CompiledPolicy, compilePolicy } from "./compile.js";
import { PolicyError, PolicyErrorCode, ToolgateError } from "./errors.js";
import { loadPolicyFile, parsePolicyText, readPolicyFile } from "./policy-text.js";
import type { PolicyDocument } from "./schema.js";

/** Result of {@link PolicyHolder.reload}: never throws for bad input. */
export type ReloadResult =
  | {
      readonly ok: true;
      readonly policy: CompiledPolicy;
      /** False when the new policy has the same content hash as the current one. */
      readonly changed: boolean;
    }
  | { readonly ok: false; readonly error: PolicyError };

/** Called after a swap with the new and the previous policy. */
export type PolicyListener = (next: CompiledPolicy, prev: CompiledPolicy) => void;

function asPolicyError(err: unknown, source: string | undefined): PolicyError {
  if (err instanceof PolicyError) return err;
  const detail = err instanceof ToolgateError || err instanceof Error ? err.message : String(err);
  return new PolicyError(
    PolicyErrorCode.POLICY_INVALID,
    [{ path: "", message: `policy could not be compiled: ${detail}`, fix: "check the policy" }],
    { source, cause: err },
  );
}

/**
 * Holds the policy in force and swaps it atomically: a new policy is parsed,
 * validated and compiled completely before it replaces the current one, so a bad
 * file is rejected with its errors and the last good policy stays in force. Counters
 * live in the engine's store, not in the policy, so they survive reloads.
 *
 * @example
 * const holder = await PolicyHolder.fromFile("policy.yaml");
 * const r = await holder.reloadFile("policy.yaml");
 * if (!r.ok) log.warn(r.error.message);
 * await engine.decide(holder.current, call, identity);
 */
export class PolicyHolder {
  #current: CompiledPolicy;
  readonly #listeners = new Set<PolicyListener>();

  constructor(initial: CompiledPolicy) {
    this.#current = initial;
  }

  /**
   * Loads, validates and compiles a file into a new holder.
   *
   * @throws PolicyError when the file is unreadable or invalid (there is no last good policy yet).
   */
  static async fromFile(path: string): Promise<PolicyHolder> {
    const doc = await loadPolicyFile(path);
    return new PolicyHolder(compilePolicy(doc, { source: path }));
  }

  /** The policy in force. Read it per call: a reload may replace it at any time. */
  get current(): CompiledPolicy {
    return this.#current;
  }

  /**
   * Replaces the policy with `input` (policy text in JSON/YAML, or a document) when it
   * is valid; otherwise keeps the current one and returns the errors.
   */
  reload(input: string | PolicyDocument, opts: { source?: string } = {}): ReloadResult {
    let next: CompiledPolicy;
    try {
      const doc = typeof input === "string" ? parsePolicyText(input, opts) : input;
      next = compilePolicy(doc, { source: opts.source });
    } catch (err) {
      return { ok: false, error: asPolicyError(err, opts.source) };
    }
    return this.#swap(next);
  }

  /** Like {@link reload} with the file's text; an unreadable file yields `POLICY_IO`. */
  async reloadFile(path: string): Promise<ReloadResult> {
    let text: string;
    try {
      text = await readPolicyFile(path);
    } catch (err) {
      return { ok: false, error: err as PolicyError };
    }
    return this.reload(text, { source: path });
  }

  /** Listens for swaps; returns the unsubscribe function. Listener errors are isolated. */
  subscribe(listener: PolicyListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #swap(next: CompiledPolicy): ReloadResult {
    const prev = this.#current;
    if (next.version === prev.version && next.source === prev.source)
      return { ok: true, policy: prev, changed: false };
    this.#current = next;
    const changed = next.version !== prev.version;
    for (const l of this.#listeners) {
      try {
        l(next, prev);
      } catch {
        // A failing listener must not undo or block the swap for the others.
      }
    }
    return { ok: true, policy: next, changed };
  }
}
