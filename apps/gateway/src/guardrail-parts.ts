/**
 * The guardrail pieces of a running gateway, composed in one place: the pin store
 * (Redis when approvals are shared there), the metrics, the page's ring of findings,
 * the decision observer and the admin API route.
 */
import type { Registry } from "prom-client";
import type { ApprovalStoreLocation } from "./approvals/backends.js";
import type { AuditLog } from "./audit.js";
import {
  createGuardrailMetrics,
  GuardrailLog,
  guardrailObserver,
  guardrailsApi,
  pinEventSink,
  resourceResultSink,
} from "./guardrails.js";
import { createPinStore } from "./pin-store.js";
import type { Runtime } from "./runtime.js";

/** Builds the guardrail parts; the pin store is closed with the gateway. */
export function guardrailParts(
  rt: Runtime,
  registry: Registry,
  audit: AuditLog | undefined,
  location: ApprovalStoreLocation,
) {
  const metrics = createGuardrailMetrics(registry);
  const log = new GuardrailLog(100);
  const pinStore = createPinStore(location);
  rt.cleanups.add(() => pinStore.close?.());
  return {
    pinStore,
    onPinEvent: pinEventSink(metrics, log, audit, rt.logger),
    observer: guardrailObserver(metrics, log),
    onResourceResult: resourceResultSink(metrics, log, audit),
    api: guardrailsApi(log),
    log,
  };
}
