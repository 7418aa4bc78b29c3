import { realScheduler, type Scheduler } from "@toolgate/policy-engine";
import type { Logger } from "../logger.js";
import { type GenericWebhookBody, slackBody } from "./bodies.js";
import type { WebhookConfig } from "./config.js";
import { signWebhook } from "./signature.js";

/** How one delivery ended, as counted in `toolgate_webhook_deliveries_total`. */
export type DeliveryOutcome = "delivered" | "failed" | "dropped";

/** Where the dispatcher reports; the gateway's prom-client metrics implement it. */
export interface WebhookMetricsSink {
  /** One event to one webhook ended: delivered, failed (gave up or refused), dropped (queue full). */
  delivery(webhook: string, event: string, outcome: DeliveryOutcome): void;
  /** One HTTP attempt: `ok`, `retry` (will be tried again) or `error` (final), and its duration. */
  attempt(webhook: string, result: "ok" | "retry" | "error", seconds: number): void;
}

/** The HTTP POST seam; the default is Node's `fetch` without following redirects. */
export type WebhookPost = (
  url: string,
  init: { headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<{
  status: number;
  headers: { get(name: string): string | null };
  drain(): Promise<void>;
}>;

/** Options of {@link createWebhookDispatcher}. */
export interface WebhookDispatcherOptions {
  readonly webhooks: readonly WebhookConfig[];
  readonly now?: () => number;
  readonly scheduler?: Scheduler;
  /** In [0, 1): the jitter source. Default `Math.random`. */
  readonly random?: () => number;
  readonly post?: WebhookPost;
  readonly metrics?: WebhookMetricsSink;
  readonly logger?: Logger;
  /** Deliveries waiting or in flight at most; more are dropped (and counted). Default 1000. */
  readonly maxQueue?: number;
  /** Attempts in flight at once. Default 4. */
  readonly concurrency?: number;
  /** First retry after about this long, doubling each time. Default 1000 ms. */
  readonly baseDelayMs?: number;
  /** Longest wait between attempts. Default 5 minutes. */
  readonly maxDelayMs?: number;
}

/** A running dispatcher: `enqueue` never waits and never throws. */
export interface WebhookDispatcher {
  /** Queues the event for every webhook subscribed to its type. */
  enqueue(event: GenericWebhookBody): void;
  /** Deliveries waiting, waiting for a retry, or in flight. */
  size(): number;
  /** Stops: cancels retries and aborts attempts in flight (their events are dropped). */
  close(): void;
}

interface Delivery {
  readonly hook: WebhookConfig;
  readonly event: GenericWebhookBody;
  /** Attempts made so far. */
  attempts: number;
}

const defaultPost: WebhookPost = async (url, init) => {
  const res = await fetch(url, { method: "POST", redirect: "manual", ...init });
  return {
    status: res.status,
    headers: res.headers,
    drain: () => res.body?.cancel() ?? Promise.resolve(),
  };
};

/** The body and headers one attempt sends; the signature is fresh on every attempt. */
function request(d: Delivery, nowMs: number): { headers: Record<string, string>; body: string } {
  const body = JSON.stringify(d.hook.kind === "slack" ? slackBody(d.event) : d.event);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "toolgate-webhooks",
    "toolgate-event": d.event.type,
    "toolgate-delivery": d.event.id,
  };
  if (d.hook.secret !== undefined)
    headers["toolgate-signature"] = signWebhook(d.hook.secret, body, nowMs);
  return { headers, body };
}

/** Whether a status is worth another attempt: server trouble, throttling, a timeout. */
const retryable = (status: number) => status >= 500 || status === 429 || status === 408;

/**
 * Delivers approval events to the configured webhooks off the call path: `enqueue` puts
 * one delivery per subscribed webhook in a bounded queue and returns; a few workers POST
 * them. A 5xx, 408, 429, network error or timeout is retried with exponential backoff
 * (`baseDelayMs` doubling to `maxDelayMs`, each wait jittered between half and all of it,
 * or the receiver's `Retry-After` if longer) up to the webhook's `maxAttempts`; any other
 * status (a redirect included: the body is not sent elsewhere) ends it as failed.
 * Timers come from the injected scheduler, so tests drive retries with fake time.
 *
 * @example
 * const d = createWebhookDispatcher({ webhooks: config.webhooks });
 * d.enqueue(event);
 */
export function createWebhookDispatcher(options: WebhookDispatcherOptions): WebhookDispatcher {
  const now = options.now ?? Date.now;
  const scheduler = options.scheduler ?? realScheduler;
  const random = options.random ?? Math.random;
  const post = options.post ?? defaultPost;
  const maxQueue = options.maxQueue ?? 1000;
  const concurrency = options.concurrency ?? 4;
  const base = options.baseDelayMs ?? 1000;
  const maxDelay = options.maxDelayMs ?? 300_000;
  const ready: Delivery[] = [];
  const waiting = new Set<unknown>();
  const inFlight = new Set<AbortController>();
  let closed = false;
  let pumpQueued = false;

  const end = (d: Delivery, outcome: DeliveryOutcome, detail: Record<string, unknown> = {}) => {
    options.metrics?.delivery(d.hook.name, d.event.type, outcome);
    const fields = {
      webhook: d.hook.name,
      event: d.event.type,
      approval: d.event.approval.id,
      ...detail,
    };
    if (outcome === "delivered") options.logger?.debug(fields, "webhook delivered");
    else options.logger?.warn(fields, `webhook ${outcome}`);
  };

  const retryLater = (d: Delivery, retryAfterS: number | undefined) => {
    const exp = Math.min(maxDelay, base * 2 ** (d.attempts - 1));
    const jittered = exp / 2 + random() * (exp / 2);
    const wait = Math.min(maxDelay, Math.max(jittered, (retryAfterS ?? 0) * 1000));
    const timer = scheduler.setTimeout(() => {
      waiting.delete(timer);
      ready.push(d);
      pump();
    }, wait);
    waiting.add(timer);
  };

  const attempt = async (d: Delivery) => {
    const controller = new AbortController();
    inFlight.add(controller);
    const timer = scheduler.setTimeout(() => controller.abort(), d.hook.timeoutMs);
    const started = now();
    d.attempts++;
    let status: number | undefined;
    let retryAfter: number | undefined;
    try {
      const res = await post(d.hook.url, { ...request(d, started), signal: controller.signal });
      status = res.status;
      const ra = Number(res.headers.get("retry-after"));
      retryAfter = Number.isFinite(ra) && ra > 0 ? ra : undefined;
      await res.drain().catch(() => {});
    } catch {
      status = undefined; // network error, refused connection or our timeout
    } finally {
      scheduler.clearTimeout(timer);
      inFlight.delete(controller);
    }
    if (closed) return;
    const seconds = Math.max(0, now() - started) / 1000;
    const result = { status: status ?? "no answer", attempt: d.attempts };
    if (status !== undefined && status >= 200 && status < 300) {
      options.metrics?.attempt(d.hook.name, "ok", seconds);
      end(d, "delivered", result);
    } else if ((status === undefined || retryable(status)) && d.attempts < d.hook.maxAttempts) {
      options.metrics?.attempt(d.hook.name, "retry", seconds);
      retryLater(d, retryAfter);
    } else {
      options.metrics?.attempt(d.hook.name, "error", seconds);
      end(d, "failed", result);
    }
  };

  const pump = () => {
    while (!closed && inFlight.size < concurrency && ready.length > 0) {
      const d = ready.shift() as Delivery;
      void attempt(d).finally(pump);
    }
  };

  return {
    enqueue(event) {
      if (closed) return;
      for (const hook of options.webhooks) {
        if (!hook.events.includes(event.type)) continue;
        const d: Delivery = { hook, event, attempts: 0 };
        if (ready.length + waiting.size + inFlight.size >= maxQueue) {
          end(d, "dropped", { queue: maxQueue });
          continue;
        }
        ready.push(d);
      }
      // Even signing and serialising wait for the next turn of the event loop: the
      // caller (an approval being created or decided) goes on at once.
      if (!pumpQueued && ready.length > 0) {
        pumpQueued = true;
        setImmediate(() => {
          pumpQueued = false;
          pump();
        });
      }
    },
    size: () => ready.length + waiting.size + inFlight.size,
    close() {
      closed = true;
      for (const t of waiting) scheduler.clearTimeout(t);
      waiting.clear();
      for (const c of inFlight) c.abort();
      ready.length = 0;
    },
  };
}
