import type { ApprovalRecord, ApprovalStore } from "../approvals/store.js";
import type { WebhookEventType } from "./config.js";

/** An approval event as it happened on this instance. */
export interface ApprovalHookEvent {
  readonly type: WebhookEventType;
  readonly approval: ApprovalRecord;
}

/** The event a resolution is: a timeout is `approval.expired`, anything else a decision. */
export function resolutionEvent(status: string): WebhookEventType {
  return status === "timeout" || status === "expired" ? "approval.expired" : "approval.decided";
}

/**
 * Wraps an approval store so each approval created or resolved *through this instance*
 * is reported once: `approval.requested` after `create`, and after a `resolve` that
 * changed the record (`changed: true`), `approval.decided` or `approval.expired`. Store
 * events are not used on purpose: with Redis every instance hears every event, and each
 * would send the webhook; a resolve is atomic, so exactly one instance sees `changed`.
 * Every other member is the store's own (a Proxy), so methods added to the store later
 * pass through. `onEvent` must not throw or wait (the dispatcher's `enqueue` does not).
 *
 * @example
 * const approvals = reportApprovalEvents(createMemoryApprovalStore(), (e) => dispatcher.enqueue(toBody(e)));
 */
export function reportApprovalEvents(
  store: ApprovalStore,
  onEvent: (event: ApprovalHookEvent) => void,
): ApprovalStore {
  const report = (event: ApprovalHookEvent) => {
    try {
      onEvent(event);
    } catch {
      // Notification is best effort and must never fail the approval itself.
    }
  };
  const create: ApprovalStore["create"] = async (record) => {
    await store.create(record);
    report({ type: "approval.requested", approval: record });
  };
  const resolve: ApprovalStore["resolve"] = async (id, resolution) => {
    const result = await store.resolve(id, resolution);
    if (result.changed)
      report({ type: resolutionEvent(result.approval.status), approval: result.approval });
    return result;
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "create") return create;
      if (prop === "resolve") return resolve;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
