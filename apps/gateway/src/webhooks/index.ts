/**
 * Webhooks on approval events: `approval.requested`, `approval.decided` and
 * `approval.expired`, as signed generic JSON or Slack incoming-webhook bodies, delivered
 * off the call path with retries.
 */
import type { Scheduler } from "@toolgate/policy-engine";
import type { ApprovalLifecycle } from "../approvals/events.js";
import type { ApprovalStore } from "../approvals/store.js";
import type { Logger } from "../logger.js";
import { type GenericWebhookBody, webhookApproval } from "./bodies.js";
import type { WebhookConfig } from "./config.js";
import {
  createWebhookDispatcher,
  type WebhookDispatcher,
  type WebhookMetricsSink,
  type WebhookPost,
} from "./dispatcher.js";
import { type ApprovalHookEvent, reportApprovalEvents } from "./source.js";

export type { GenericWebhookBody, WebhookApproval } from "./bodies.js";
export { slackBody, webhookApproval } from "./bodies.js";
export type { WebhookConfig, WebhookEventType } from "./config.js";
export { WEBHOOK_EVENTS, WebhookSchema, WebhooksSchema } from "./config.js";
export type {
  DeliveryOutcome,
  WebhookDispatcher,
  WebhookDispatcherOptions,
  WebhookMetricsSink,
  WebhookPost,
} from "./dispatcher.js";
export { createWebhookDispatcher } from "./dispatcher.js";
export type { SignatureCheck } from "./signature.js";
export {
  DEFAULT_TOLERANCE_MS,
  SIGNATURE_HEADER,
  signWebhook,
  verifyWebhookSignature,
} from "./signature.js";
export type { ApprovalHookEvent } from "./source.js";
export { reportApprovalEvents, resolutionEvent } from "./source.js";

/** Options of {@link createApprovalWebhooks}. */
export interface ApprovalWebhooksOptions {
  readonly webhooks: readonly WebhookConfig[];
  readonly now?: () => number;
  readonly scheduler?: Scheduler;
  readonly random?: () => number;
  /** Event ids (`Toolgate-Delivery`, the body's `id`); default random UUIDs. */
  readonly newId?: () => string;
  readonly post?: WebhookPost;
  readonly metrics?: WebhookMetricsSink;
  readonly logger?: Logger;
  readonly maxQueue?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** Approval webhooks: wrap the approval store with `watch`, close at shutdown. */
export interface ApprovalWebhooks {
  /** The store to hand to the approver and the admin API; its events reach the webhooks. */
  watch(store: ApprovalStore): ApprovalStore;
  /**
   * Announces an approval lifecycle's events instead (the gateway's way: four-eyes
   * decisions, retry consumption and the expiry sweep all publish there, each transition
   * once, by the instance that made it). Returns the function that stops listening.
   */
  listen(lifecycle: ApprovalLifecycle): () => void;
  readonly dispatcher: WebhookDispatcher;
  close(): void;
}

/**
 * Everything the gateway needs for approval webhooks: a dispatcher for the configured
 * webhooks and the store wrapper that feeds it.
 *
 * @example
 * const hooks = createApprovalWebhooks({ webhooks: config.webhooks, metrics: webhookMetricsSink(m) });
 * const approvals = hooks.watch(createMemoryApprovalStore());
 */
export function createApprovalWebhooks(options: ApprovalWebhooksOptions): ApprovalWebhooks {
  const now = options.now ?? Date.now;
  const newId = options.newId ?? (() => crypto.randomUUID());
  const dispatcher = createWebhookDispatcher(options);
  const toBody = (e: ApprovalHookEvent): GenericWebhookBody => ({
    id: `evt_${newId()}`,
    type: e.type,
    time: new Date(now()).toISOString(),
    approval: webhookApproval(e.approval),
  });
  return {
    watch: (store) =>
      options.webhooks.length === 0
        ? store
        : // Masking and building the body wait a turn too: the approval goes on at once.
          reportApprovalEvents(store, (e) => setImmediate(() => dispatcher.enqueue(toBody(e)))),
    listen: (lifecycle) =>
      options.webhooks.length === 0
        ? () => undefined
        : lifecycle.on((e) => {
            const event: ApprovalHookEvent = { type: e.type, approval: e.approval };
            setImmediate(() => dispatcher.enqueue(toBody(event)));
          }),
    dispatcher,
    close: () => dispatcher.close(),
  };
}
