import type { StoreStats } from "@toolgate/policy-engine";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { WebhookMetricsSink } from "./webhooks/dispatcher.js";

/** The gateway's Prometheus metrics, on a registry of its own (see {@link createGatewayMetrics}). */
export interface GatewayMetrics {
  readonly registry: Registry;
  readonly decisions: Counter<"tool" | "effect" | "code">;
  readonly decisionSeconds: Histogram<"effect">;
  readonly upstreamSeconds: Histogram<"upstream" | "outcome">;
  readonly upstreamErrors: Counter<"upstream">;
  readonly storeErrors: Counter<"store">;
  readonly failureModeActivations: Counter<"store" | "mode">;
  readonly pendingApprovals: Gauge;
  readonly approvals: Counter<"outcome">;
  readonly streamReconnects: Counter<"stream">;
  readonly sessions: Gauge;
  readonly inFlight: Gauge;
  readonly storeBackendErrors: Counter<"store">;
  /** Approval events to webhooks, by how each ended: delivered, failed, dropped. */
  readonly webhookDeliveries: Counter<"webhook" | "event" | "outcome">;
  /** Each HTTP attempt to a webhook, by result (ok, retry, error) and its duration. */
  readonly webhookAttemptSeconds: Histogram<"webhook" | "result">;
  readonly webhookQueue: Gauge;
}

/** Options of {@link createGatewayMetrics}. */
export interface GatewayMetricsOptions {
  /** Reports the current number of pending approvals when Prometheus scrapes. */
  readonly pendingApprovals?: () => Promise<number> | number;
  /** Reports the number of live MCP client sessions when Prometheus scrapes. */
  readonly sessions?: () => number;
  /** Reports the client requests being processed right now when Prometheus scrapes. */
  readonly inFlight?: () => number;
  /** Reports the counter store's own tallies (its backend errors) when Prometheus scrapes. */
  readonly storeStats?: () => StoreStats;
  /** Reports the webhook deliveries waiting or in flight when Prometheus scrapes. */
  readonly webhookQueue?: () => number;
  /** Adds Node process metrics (CPU, memory, event loop). Default true. */
  readonly processMetrics?: boolean;
}

type DecisionMetrics = Pick<
  GatewayMetrics,
  "decisions" | "decisionSeconds" | "upstreamSeconds" | "upstreamErrors"
>;

/** What each decision counts: the decision itself and the upstream call behind it. */
function decisionMetrics(registry: Registry): DecisionMetrics {
  return {
    decisions: new Counter({
      name: "toolgate_decisions_total",
      help: "Policy decisions by tool, effect and decision code",
      labelNames: ["tool", "effect", "code"] as const,
      registers: [registry],
    }),
    decisionSeconds: new Histogram({
      name: "toolgate_decision_duration_seconds",
      help: "Time the policy engine spent deciding a call (including the counter store)",
      labelNames: ["effect"] as const,
      buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1],
      registers: [registry],
    }),
    upstreamSeconds: new Histogram({
      name: "toolgate_upstream_duration_seconds",
      help: "Time upstream servers took to answer forwarded tool calls",
      labelNames: ["upstream", "outcome"] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    upstreamErrors: new Counter({
      name: "toolgate_upstream_errors_total",
      help: "Forwarded tool calls that failed upstream (their reservations were rolled back)",
      labelNames: ["upstream"] as const,
      registers: [registry],
    }),
  };
}

type StoreMetrics = Pick<
  GatewayMetrics,
  "storeErrors" | "failureModeActivations" | "storeBackendErrors"
>;

/** The counter store's health: degraded decisions and the backend's own error tally. */
function storeMetrics(
  registry: Registry,
  storeStats: GatewayMetricsOptions["storeStats"],
): StoreMetrics {
  // The store keeps running totals of its own; the counter follows them by the growth
  // since the last scrape (a counter can only go up), per store name.
  const backendErrorsSeen = new Map<string, number>();
  return {
    storeErrors: new Counter({
      name: "toolgate_store_errors_total",
      help: "Decisions affected by a counter store failure",
      labelNames: ["store"] as const,
      registers: [registry],
    }),
    failureModeActivations: new Counter({
      name: "toolgate_store_failure_mode_activations_total",
      help: "Calls decided by the store failure mode (fail_closed or fail_open)",
      labelNames: ["store", "mode"] as const,
      registers: [registry],
    }),
    storeBackendErrors: new Counter({
      name: "toolgate_store_backend_errors_total",
      help: "Backend errors seen by the counter store",
      labelNames: ["store"] as const,
      registers: [registry],
      collect() {
        if (!storeStats) return;
        const s = storeStats();
        const growth = s.errors - (backendErrorsSeen.get(s.store) ?? 0);
        // inc by 0 on the first scrape makes the series exist before the first error.
        if (growth > 0 || !backendErrorsSeen.has(s.store)) {
          this.inc({ store: s.store }, Math.max(0, growth));
          backendErrorsSeen.set(s.store, s.errors);
        }
      },
    }),
  };
}

type ApprovalMetrics = Pick<
  GatewayMetrics,
  "pendingApprovals" | "approvals" | "webhookDeliveries" | "webhookAttemptSeconds" | "webhookQueue"
>;

/** Held calls, how they were resolved, and the webhooks that tell people about them. */
function approvalMetrics(registry: Registry, options: GatewayMetricsOptions): ApprovalMetrics {
  const pending = options.pendingApprovals;
  const queue = options.webhookQueue;
  return {
    pendingApprovals: new Gauge({
      name: "toolgate_pending_approvals",
      help: "Calls held waiting for a person to approve or reject them",
      registers: [registry],
      async collect() {
        if (!pending) return;
        // The count lives in the approval store (Redis when scaled out). While that store
        // is down the scrape must still answer, or every other metric is lost exactly
        // when it matters; NaN says "unknown" without inventing a number.
        try {
          this.set(await pending());
        } catch {
          this.set(Number.NaN);
        }
      },
    }),
    approvals: new Counter({
      name: "toolgate_approvals_total",
      help: "Resolved approvals by outcome",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: "toolgate_webhook_deliveries_total",
      help: "Approval events sent to webhooks, by how each ended (delivered, failed, dropped)",
      labelNames: ["webhook", "event", "outcome"] as const,
      registers: [registry],
    }),
    webhookAttemptSeconds: new Histogram({
      name: "toolgate_webhook_attempt_duration_seconds",
      help: "HTTP attempts to webhooks by result (ok, retry, error) and how long each took",
      labelNames: ["webhook", "result"] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    webhookQueue: new Gauge({
      name: "toolgate_webhook_queue",
      help: "Webhook deliveries waiting, waiting for a retry, or in flight",
      registers: [registry],
      collect() {
        if (queue) this.set(queue());
      },
    }),
  };
}

type RuntimeMetrics = Pick<GatewayMetrics, "streamReconnects" | "sessions" | "inFlight">;

/** Live sessions, requests in flight and upstream stream reconnects. */
function runtimeMetrics(registry: Registry, options: GatewayMetricsOptions): RuntimeMetrics {
  const { sessions, inFlight } = options;
  return {
    streamReconnects: new Counter({
      name: "toolgate_stream_reconnects_total",
      help: "Reconnects of upstream event streams (e.g. the Binance.US user-data stream)",
      labelNames: ["stream"] as const,
      registers: [registry],
    }),
    // Both gauges are read at scrape time, so a leak (sessions never closed, requests
    // never answered) shows as a number that does not come back down after load.
    sessions: new Gauge({
      name: "toolgate_sessions",
      help: "Live MCP client sessions",
      registers: [registry],
      collect() {
        if (sessions) this.set(sessions());
      },
    }),
    inFlight: new Gauge({
      name: "toolgate_in_flight_requests",
      help: "Client requests being processed (including calls held for approval)",
      registers: [registry],
      collect() {
        if (inFlight) this.set(inFlight());
      },
    }),
  };
}

/**
 * Creates the `toolgate_*` metrics on a fresh prom-client Registry. A registry per
 * gateway (rather than prom-client's global one) lets several gateways live in one
 * process, which the tests rely on.
 *
 * @example
 * const m = createGatewayMetrics();
 * m.decisions.inc({ tool: "x", effect: "allow", code: "ALLOWED" });
 * res.type(m.registry.contentType).send(await m.registry.metrics());
 */
export function createGatewayMetrics(options: GatewayMetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: "toolgate_" });
  return {
    registry,
    ...decisionMetrics(registry),
    ...storeMetrics(registry, options.storeStats),
    ...approvalMetrics(registry, options),
    ...runtimeMetrics(registry, options),
  };
}

/**
 * The webhook dispatcher's metrics sink on these metrics.
 *
 * @example createWebhookDispatcher({ webhooks, metrics: webhookMetricsSink(createGatewayMetrics()) })
 */
export function webhookMetricsSink(m: GatewayMetrics): WebhookMetricsSink {
  return {
    delivery: (webhook, event, outcome) => m.webhookDeliveries.inc({ webhook, event, outcome }),
    attempt: (webhook, result, seconds) =>
      m.webhookAttemptSeconds.observe({ webhook, result }, seconds),
  };
}
