/**
 * Approval lifecycle events, emitted once per transition by the instance that made it
 * (never once per instance, as the store's pub/sub events are): for notifications and
 * audit. Arguments are as approvers see them: secrets masked.
 */
import type { ApprovalDecision, ApprovalRecord } from "./store.js";

/** One approval lifecycle event. */
export type ApprovalLifecycleEvent =
  | {
      /** A call was held and waits for approvers. */
      readonly type: "approval.requested";
      readonly approval: ApprovalRecord;
      readonly at: number;
    }
  | {
      /**
       * A decision was taken: an approver's approve or reject (`final` false while more
       * approvals are needed), or a withdrawal by the caller (`decision` absent).
       */
      readonly type: "approval.decided";
      readonly approval: ApprovalRecord;
      readonly decision?: ApprovalDecision | undefined;
      readonly final: boolean;
      readonly at: number;
    }
  | {
      /** Nobody decided in time: the call was denied. */
      readonly type: "approval.expired";
      readonly approval: ApprovalRecord;
      readonly at: number;
    };

/** A listener of {@link ApprovalLifecycle}. Must not throw (errors are swallowed). */
export type ApprovalLifecycleListener = (event: ApprovalLifecycleEvent) => void;

/** Where lifecycle events are published; the gateway has one, shared by approver and API. */
export interface ApprovalLifecycle {
  /** Adds a listener; returns the function that removes it. */
  on(listener: ApprovalLifecycleListener): () => void;
  /** Publishes an event to every listener (synchronously; a throwing listener is skipped). */
  emit(event: ApprovalLifecycleEvent): void;
}

/**
 * A lifecycle hub. A listener that throws does not stop the others or the call path.
 *
 * @example
 * const lifecycle = createApprovalLifecycle();
 * lifecycle.on((e) => { if (e.type === "approval.requested") notify(e.approval); });
 */
export function createApprovalLifecycle(): ApprovalLifecycle {
  const listeners = new Set<ApprovalLifecycleListener>();
  return {
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(event) {
      for (const l of listeners) {
        try {
          l(event);
        } catch {
          // A notifier's bug must never break a decision.
        }
      }
    },
  };
}
