/**
 * Result policies at runtime: one screen per tool call applies the tool's `results`
 * rules (the engine's pure `guardResult` / `guardText`) to the call's result and to its
 * progress notifications, and keeps the tally the audit record carries: how many
 * values were removed per detector, never which.
 */
import {
  type CompiledResultPolicy,
  type Decision,
  guardResult,
  guardText,
  type ResultGuardOutcome,
} from "../engine.js";
import { RpcErrorCode, type RpcId, type RpcMessage, rpcError } from "../jsonrpc.js";
import { deniedResult } from "./results.js";

/** What the screen did to one call, for the decision event (no values, only counts). */
export interface ResultFacts {
  /** Policy path of the `results` entry, e.g. `tools.get_env.results`. */
  readonly ruleId: string;
  /** What the agent got: the result as it was, cleaned, cut, or a denial. */
  readonly action: ResultGuardOutcome["action"];
  /** Set in shadow mode: what enforcing would have done (the original was delivered). */
  readonly shadowAction?: "redacted" | "truncated" | "deny" | undefined;
  /** Values removed from the result, per detector or rule name. */
  readonly redactions: Readonly<Record<string, number>>;
  /** Values removed from the call's progress notifications, per detector or rule name. */
  readonly progressRedactions?: Readonly<Record<string, number>> | undefined;
  /** Progress notifications withheld because they matched a `deny` pattern. */
  readonly progressWithheld?: number | undefined;
  /** Values removed from log notifications (`notifications/message`) sent during the call. */
  readonly logRedactions?: Readonly<Record<string, number>> | undefined;
  /** Log notifications withheld because they matched a `deny` pattern. */
  readonly logsWithheld?: number | undefined;
  readonly bytesIn?: number | undefined;
  readonly bytesOut?: number | undefined;
}

function add(into: Record<string, number>, counts: Readonly<Record<string, number>>): void {
  for (const [k, n] of Object.entries(counts)) into[k] = (into[k] ?? 0) + n;
}

/** The result policy of one call (see the file comment). */
export class ResultScreen {
  private outcome: ResultGuardOutcome | undefined;
  private readonly progressCounts: Record<string, number> = {};
  private withheld = 0;
  private readonly logCounts: Record<string, number> = {};
  private logsWithheld = 0;

  constructor(readonly policy: CompiledResultPolicy) {}

  /**
   * A progress notification's `params` as the caller may see them: the message
   * redacted like results are, or `undefined` when a `deny` pattern matched (the
   * notification is withheld). In shadow mode only counted.
   */
  progress(params: Record<string, unknown>): Record<string, unknown> | undefined {
    const message = params.message;
    if (typeof message !== "string") return params;
    const out = guardText(this.policy, message);
    add(this.progressCounts, out.counts);
    if (out.denied) {
      this.withheld++;
      return undefined;
    }
    return out.text === message ? params : { ...params, message: out.text };
  }

  /**
   * A log notification's `params` (`notifications/message`, sent by the upstream while
   * the call runs) as the caller may see them: `data` (a string, or any JSON, screened as
   * its JSON text) redacted like results are, or `undefined` when a `deny` pattern
   * matched (withheld). In shadow mode only counted.
   */
  log(params: Record<string, unknown>): Record<string, unknown> | undefined {
    const data = params.data;
    const text = typeof data === "string" ? data : JSON.stringify(data);
    if (text === undefined) return params;
    const out = guardText(this.policy, text);
    add(this.logCounts, out.counts);
    if (out.denied) {
      this.logsWithheld++;
      return undefined;
    }
    if (out.text === text) return params;
    return { ...params, data: typeof data === "string" ? out.text : parseOr(out.text) };
  }

  /**
   * The answer to deliver for the upstream's answer `res`: the result cleaned or cut, or
   * a denial the agent can read (`isError`, the decision and the screen's verdict in
   * `_meta`) when the result was denied. Error answers pass unchanged.
   */
  answer(res: RpcMessage, decision: Decision): RpcMessage {
    const r = this.run(res);
    if (r === undefined) return res;
    if (r.out.action === "deny") {
      const denied = deniedResult(decision, `result withheld: ${r.out.reason ?? "result policy"}`);
      const meta = denied._meta as Record<string, unknown>;
      return { ...res, result: { ...denied, _meta: { ...meta, "toolgate/result": r.note } } };
    }
    return r.deliver;
  }

  /**
   * The answer to deliver for a `resources/read` answer `res` under a `resources` result
   * policy: the contents cleaned or cut, or an error answer (code `RESULT_DENIED` in its
   * data) when the policy denies it, as a resource read has no `isError` result.
   */
  resource(res: RpcMessage): RpcMessage {
    const r = this.run(res);
    if (r === undefined) return res;
    if (r.out.action !== "deny") return r.deliver;
    const message = `resource withheld by policy: ${r.out.reason ?? "result policy"}`;
    const id = (res.id as RpcId | undefined) ?? null;
    return rpcError(id, RpcErrorCode.SERVER_ERROR, message, { code: "RESULT_DENIED", ...r.note });
  }

  /** Guards a result answer once: the outcome, its `_meta` note, and what to deliver unless denied. */
  private run(res: RpcMessage) {
    if (res.error || res.result === undefined) return undefined;
    const out = guardResult(this.policy, res.result);
    this.outcome = out;
    const note = {
      action: out.action,
      ruleId: out.ruleId,
      redactions: out.counts,
      ...(out.reason !== undefined && { reason: out.reason }),
    };
    if (out.action === "pass" || out.action === "deny") return { out, note, deliver: res };
    const result = out.result as Record<string, unknown>;
    const meta = (result._meta ?? {}) as Record<string, unknown>;
    const deliver = { ...res, result: { ...result, _meta: { ...meta, "toolgate/result": note } } };
    return { out, note, deliver };
  }

  /** What the screen did, or undefined when it touched nothing and found nothing. */
  facts(): ResultFacts | undefined {
    const o = this.outcome;
    const progress = Object.keys(this.progressCounts).length > 0;
    const logs = Object.keys(this.logCounts).length > 0;
    const acted =
      o !== undefined &&
      (o.action !== "pass" || o.shadow !== undefined || Object.keys(o.counts).length > 0);
    if (!acted && !progress && !logs && this.withheld === 0 && this.logsWithheld === 0)
      return undefined;
    return {
      ruleId: this.policy.ruleId,
      action: o?.action ?? "pass",
      ...(o?.shadow !== undefined && { shadowAction: o.shadow.action }),
      redactions: o?.counts ?? {},
      ...(progress && { progressRedactions: { ...this.progressCounts } }),
      ...(this.withheld > 0 && { progressWithheld: this.withheld }),
      ...(logs && { logRedactions: { ...this.logCounts } }),
      ...(this.logsWithheld > 0 && { logsWithheld: this.logsWithheld }),
      ...(o !== undefined && { bytesIn: o.bytesIn, bytesOut: o.bytesOut }),
    };
  }
}

/** The screen for a call of a tool with a result policy, else undefined (nothing to do). */
export function resultScreen(policy: CompiledResultPolicy | undefined): ResultScreen | undefined {
  return policy === undefined ? undefined : new ResultScreen(policy);
}

/** JSON text back to a value; a redaction that broke the JSON leaves the (clean) text. */
function parseOr(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
