/**
 * What the gateway does with guardrail findings: pinned tool definitions that changed
 * (or were trusted on first use) and result policies that redacted, cut or withheld a
 * result. Each finding becomes a metric, an audit record (digests and counts, never a
 * value) and a line on the admin page (`GET /admin/api/guardrails`).
 */
import type { DecisionEvent, PinEvent, ResourceResultEvent } from "@toolgate/mcp-express";
import express, { type Router } from "express";
import { Counter, type Registry } from "prom-client";
import type { AuditLog } from "./audit.js";
import type { Logger } from "./logger.js";
import type { DecisionObserver } from "./observers.js";

/** The guardrail metrics, on the gateway's registry. */
export interface GuardrailMetrics {
  readonly pinMismatches: Counter<"upstream" | "tool" | "action" | "mode">;
  readonly pinsTrusted: Counter<"upstream">;
  readonly resultRedactions: Counter<"tool" | "detector" | "where">;
  readonly resultActions: Counter<"tool" | "action">;
}

/**
 * Creates `toolgate_pin_mismatches_total`, `toolgate_pins_trusted_total`,
 * `toolgate_result_redactions_total` and `toolgate_result_actions_total` on `registry`.
 */
export function createGuardrailMetrics(registry: Registry): GuardrailMetrics {
  return {
    pinMismatches: new Counter({
      name: "toolgate_pin_mismatches_total",
      help: "Tool definitions seen that do not match their pin (once per policy version and digest)",
      labelNames: ["upstream", "tool", "action", "mode"] as const,
      registers: [registry],
    }),
    pinsTrusted: new Counter({
      name: "toolgate_pins_trusted_total",
      help: "Tool digests recorded on first use (trust_on_first_use) by this instance",
      labelNames: ["upstream"] as const,
      registers: [registry],
    }),
    resultRedactions: new Counter({
      name: "toolgate_result_redactions_total",
      help: "Values removed from tool results and their progress notifications, by tool and detector",
      labelNames: ["tool", "detector", "where"] as const,
      registers: [registry],
    }),
    resultActions: new Counter({
      name: "toolgate_result_actions_total",
      help: "Tool results a result policy redacted, truncated or denied (shadow_*: would have)",
      labelNames: ["tool", "action"] as const,
      registers: [registry],
    }),
  };
}

/** One line of the admin page's guardrails section. */
export interface GuardrailLine {
  readonly at: number;
  readonly kind: "pin_mismatch" | "pin_trusted" | "result";
  readonly grant: string;
  readonly tool: string;
  readonly upstream?: string | undefined;
  /** E.g. `hidden and denied`, `redacted 3 (jwt 1, card_number 2)`. */
  readonly summary: string;
  readonly oldDigest?: string | undefined;
  readonly newDigest?: string | undefined;
  readonly changed?: readonly string[] | undefined;
  readonly shadow: boolean;
}

const PIN_ACTION: Record<PinEvent["action"], string> = {
  hide: "hidden and denied",
  approval: "calls held for approval",
  report: "allowed and reported",
  show: "shown",
};

function countsText(counts: Readonly<Record<string, number>> | undefined): string {
  const parts = Object.entries(counts ?? {}).map(([k, n]) => `${k} ${n}`);
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}

function total(counts: Readonly<Record<string, number>> | undefined): number {
  return Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
}

/** Recent guardrail findings of this instance (a bounded ring), newest first. */
export class GuardrailLog {
  private readonly lines: GuardrailLine[] = [];
  constructor(private readonly size = 100) {}

  push(line: GuardrailLine): void {
    this.lines.unshift(line);
    if (this.lines.length > this.size) this.lines.length = this.size;
  }

  recent(n = 50): GuardrailLine[] {
    return this.lines.slice(0, n);
  }
}

/** The `onPinEvent` of the gateway: metric, audit record with both digests, page line. */
export function pinEventSink(
  metrics: GuardrailMetrics,
  log: GuardrailLog,
  audit: AuditLog | undefined,
  logger: Logger,
): (e: PinEvent) => void {
  return (e) => {
    if (e.kind === "trusted") metrics.pinsTrusted.inc({ upstream: e.upstream });
    else {
      metrics.pinMismatches.inc({
        upstream: e.upstream,
        tool: e.tool,
        action: e.action,
        mode: e.mode,
      });
      logger.warn(
        {
          upstream: e.upstream,
          tool: e.tool,
          oldDigest: e.expected,
          newDigest: e.actual,
          action: e.action,
        },
        "tool definition changed since it was approved",
      );
    }
    audit?.write({
      time: new Date(e.at).toISOString(),
      event: e.kind === "trusted" ? "tool_definition_trusted" : "tool_definition_changed",
      grant: e.grant,
      upstream: e.upstream,
      tool: e.tool,
      oldDigest: e.expected,
      newDigest: e.actual,
      action: e.action,
      mode: e.mode,
      shadow: e.shadow,
      changed: e.changed,
      policyVersion: e.policyVersion,
    });
    log.push({
      at: e.at,
      kind: e.kind === "trusted" ? "pin_trusted" : "pin_mismatch",
      grant: e.grant,
      tool: e.tool,
      upstream: e.upstream,
      summary:
        e.kind === "trusted"
          ? "first definition seen, trusted from now on"
          : `definition changed since it was approved: ${PIN_ACTION[e.action]}${e.shadow ? " (shadow)" : ""}`,
      oldDigest: e.expected,
      newDigest: e.actual,
      changed: e.changed,
      shadow: e.shadow,
    });
  };
}

/** Counts what result policies did per tool and detector, and puts it on the page. */
export function guardrailObserver(metrics: GuardrailMetrics, log: GuardrailLog): DecisionObserver {
  return {
    onDecision(e: DecisionEvent) {
      const r = e.result;
      if (!r) return;
      for (const [detector, n] of Object.entries(r.redactions))
        metrics.resultRedactions.inc({ tool: e.tool, detector, where: "result" }, n);
      for (const [detector, n] of Object.entries(r.progressRedactions ?? {}))
        metrics.resultRedactions.inc({ tool: e.tool, detector, where: "progress" }, n);
      for (const [detector, n] of Object.entries(r.logRedactions ?? {}))
        metrics.resultRedactions.inc({ tool: e.tool, detector, where: "log" }, n);
      if (r.logsWithheld)
        metrics.resultActions.inc({ tool: e.tool, action: "log_withheld" }, r.logsWithheld);
      const action = r.shadowAction !== undefined ? `shadow_${r.shadowAction}` : r.action;
      if (action !== "pass") metrics.resultActions.inc({ tool: e.tool, action });
      if (r.progressWithheld)
        metrics.resultActions.inc(
          { tool: e.tool, action: "progress_withheld" },
          r.progressWithheld,
        );
      const n = total(r.redactions) + total(r.progressRedactions) + total(r.logRedactions);
      log.push({
        at: e.at,
        kind: "result",
        grant: e.grant,
        tool: e.tool,
        upstream: e.upstream,
        summary: `${r.shadowAction ? `would have ${r.shadowAction}` : r.action}; ${n} value(s) redacted${countsText({ ...r.redactions })}${r.progressWithheld ? `; ${r.progressWithheld} progress notification(s) withheld` : ""}`,
        shadow: r.shadowAction !== undefined,
      });
    },
  };
}

/**
 * The `onResourceResult` of the gateway: `resources/read` results screened by a
 * `resources` policy become metrics (tool label `resource`, `where="resource"`), an audit
 * record with counts, and a line on the admin page.
 */
export function resourceResultSink(
  metrics: GuardrailMetrics,
  log: GuardrailLog,
  audit: AuditLog | undefined,
): (e: ResourceResultEvent) => void {
  return (e) => {
    const r = e.result;
    for (const [detector, n] of Object.entries(r.redactions))
      metrics.resultRedactions.inc({ tool: "resource", detector, where: "resource" }, n);
    const action = r.shadowAction !== undefined ? `shadow_${r.shadowAction}` : r.action;
    if (action !== "pass") metrics.resultActions.inc({ tool: "resource", action });
    audit?.write({
      time: new Date(e.at).toISOString(),
      event: "resource_result",
      grant: e.grant,
      sub: e.subject,
      session: e.session,
      result: {
        ruleId: r.ruleId,
        action: r.action,
        shadowAction: r.shadowAction,
        redactions: r.redactions,
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
      },
    });
    log.push({
      at: e.at,
      kind: "result",
      grant: e.grant,
      tool: r.ruleId,
      summary: `resources/read ${r.shadowAction ? `would have ${r.shadowAction}` : r.action}; ${total(r.redactions)} value(s) redacted${countsText(r.redactions)}`,
      shadow: r.shadowAction !== undefined,
    });
  };
}

/** `GET /guardrails` under the admin API: the recent findings, for the admin page. */
export function guardrailsApi(log: GuardrailLog): Router {
  const router = express.Router();
  router.get("/guardrails", (_req, res) => {
    res.json({ recent: log.recent(50), scope: "this instance" });
  });
  return router;
}
