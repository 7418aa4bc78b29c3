import type { DecisionEvent, RefusedEvent } from "@toolgate/mcp-express";
import type { AuditLog } from "./audit.js";
import type { FeedDecision } from "./feed.js";
import type { Logger } from "./logger.js";
import type { GatewayMetrics } from "./metrics.js";

/** Metric label for calls to tools no upstream has. */
const UNKNOWN_TOOL_LABEL = "(unknown)";

/** How often a counter-store outage is logged at most (its cause goes to the log only). */
const DEGRADED_LOG_EVERY_MS = 10_000;

/**
 * Something that hears every decision and every refused message. Each observer does one
 * job (metrics, audit, feed); {@link fanOut} gives them the events.
 */
export interface DecisionObserver {
  onDecision?(e: DecisionEvent): void;
  onRefused?(e: RefusedEvent, decisionId: string): void;
}

/** Counts decisions, latencies, upstream errors, approvals and store degradation. */
export function metricsObserver(metrics: GatewayMetrics, logger: Logger): DecisionObserver {
  let lastDegradedLog = Number.NEGATIVE_INFINITY;
  return {
    onDecision(e) {
      const d = e.decision;
      // A tool no upstream has gets one fixed label: agents calling made-up names must
      // not grow the metric's label set without bound (the audit log keeps the real name).
      const toolLabel = e.upstream === undefined ? UNKNOWN_TOOL_LABEL : e.tool;
      metrics.decisions.inc({ tool: toolLabel, effect: d.effect, code: d.code });
      metrics.decisionSeconds.observe({ effect: d.effect }, d.decideUs / 1e6);
      if (e.upstreamMs !== undefined && e.upstream) {
        metrics.upstreamSeconds.observe(
          { upstream: e.upstream, outcome: e.outcome === "upstream_error" ? "error" : "ok" },
          e.upstreamMs / 1000,
        );
      }
      if (e.outcome === "upstream_error")
        metrics.upstreamErrors.inc({ upstream: e.upstream ?? "unknown" });
      if (e.outcome === "approval_rejected") metrics.approvals.inc({ outcome: "rejected" });
      if (e.outcome === "approval_timeout") metrics.approvals.inc({ outcome: "timeout" });
      if (e.outcome === "approval_held") metrics.approvals.inc({ outcome: "held" });
      if (d.effect === "require_approval" && e.outcome === "forwarded") {
        metrics.approvals.inc({ outcome: "approved" });
      }
      if (d.degraded) {
        if (e.at - lastDegradedLog >= DEGRADED_LOG_EVERY_MS) {
          lastDegradedLog = e.at;
          logger.warn(
            { store: d.degraded.store, mode: d.degraded.mode, cause: d.degraded.reason },
            "limit store unavailable",
          );
        }
        metrics.storeErrors.inc({ store: d.degraded.store });
        metrics.failureModeActivations.inc({ store: d.degraded.store, mode: d.degraded.mode });
      }
    },
    onRefused(e) {
      metrics.decisions.inc({ tool: e.method, effect: "deny", code: "REFUSED" });
    },
  };
}

/**
 * Writes one audit record per decision and per refused message (keys and digests only),
 * through {@link AuditLog.append}: at once, or once per event-loop turn (`audit.flush`).
 */
export function auditObserver(audit: AuditLog): DecisionObserver {
  // Calls decided in the same millisecond share one formatted time.
  let lastAt = Number.NaN;
  let lastTime = "";
  const isoTime = (at: number): string => {
    if (at !== lastAt) {
      lastTime = new Date(at).toISOString();
      lastAt = at;
    }
    return lastTime;
  };
  return {
    onDecision(e) {
      const d = e.decision;
      audit.append({
        time: isoTime(e.at),
        decisionId: d.id,
        grant: e.grant,
        subject: e.subject,
        clientId: e.clientId,
        session: e.session,
        tool: e.tool,
        upstream: e.upstream,
        effect: d.effect,
        code: d.code,
        rule: d.ruleId,
        reason: d.reason,
        argumentKeys: e.argumentKeys,
        argumentsDigest: e.argumentsDigest,
        shadow: d.shadow !== undefined,
        shadowEffect: d.shadow?.effect,
        outcome: e.outcome,
        approver: e.approver,
        retryAfterMs: d.retryAfterMs,
        policyVersion: d.policyVersion,
        upstreamMs: e.upstreamMs,
        pin: e.pin,
        result: e.result,
      });
    },
    // A message refused before it could reach an upstream (a request method sent
    // without an id) is an attempt to get past the policy, so it is audited too.
    onRefused(e, decisionId) {
      audit.append({
        time: isoTime(e.at),
        decisionId,
        grant: e.grant,
        session: e.session,
        tool: e.method,
        effect: "deny",
        code: "REFUSED",
        rule: "protocol",
        reason: e.reason,
        argumentKeys: [],
        argumentsDigest: "",
        shadow: false,
        outcome: e.code,
      });
    },
  };
}

/** Shows each decision on the approvals page's live feed (local or shared by all instances). */
export function feedObserver(feed: { push(d: FeedDecision): void }): DecisionObserver {
  return {
    onDecision(e) {
      const d = e.decision;
      feed.push({
        id: d.id,
        at: e.at,
        grant: e.grant,
        subject: e.subject,
        clientId: e.clientId,
        session: e.session,
        tool: e.tool,
        effect: d.effect,
        code: d.code,
        reason: d.reason,
        ruleId: d.ruleId,
        outcome: e.outcome,
        approver: e.approver,
        retryAfterMs: d.retryAfterMs,
        shadow: d.shadow !== undefined,
      });
    },
  };
}

/**
 * The one place decisions leave mcp-express: hands each event to every observer in
 * order. An observer that throws (a full disk under the audit log) is logged and the
 * others still run; nothing here can change what the caller got.
 *
 * @example
 * const { onDecision, onRefused } = fanOut([metricsObserver(m, log), feedObserver(feed)], { logger: log, newId });
 */
export function fanOut(
  observers: readonly DecisionObserver[],
  deps: { readonly logger: Logger; readonly newId: () => string },
): { onDecision(e: DecisionEvent): void; onRefused(e: RefusedEvent): void } {
  const each = (run: (o: DecisionObserver) => void) => {
    for (const o of observers) {
      try {
        run(o);
      } catch (err) {
        deps.logger.error({ err: (err as Error).message }, "decision observer failed");
      }
    }
  };
  return {
    onDecision: (e) => each((o) => o.onDecision?.(e)),
    onRefused: (e) => {
      // Refused messages have no decision of their own; one id names them everywhere.
      const id = deps.newId();
      each((o) => o.onRefused?.(e, id));
    },
  };
}
