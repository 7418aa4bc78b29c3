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
  return new WebhookQueue(options);
}

/** What one attempt got: the status (undefined: no answer) and the asked-for wait. */
interface AttemptResult {
  readonly status: number | undefined;
  readonly retryAfterS: number | undefined;
}

class WebhookQueue implements WebhookDispatcher {
  readonly #o: WebhookDispatcherOptions;
  readonly #now: () => number;
  readonly #scheduler: Scheduler;
  readonly #post: WebhookPost;
  readonly #ready: Delivery[] = [];
  readonly #waiting = new Set<unknown>();
  readonly #inFlight = new Set<AbortController>();
  #closed = false;
  #pumpQueued = false;

  constructor(options: WebhookDispatcherOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#scheduler = options.scheduler ?? realScheduler;
    this.#post = options.post ?? defaultPost;
  }

  enqueue(event: GenericWebhookBody): void {
    if (this.#closed) return;
    const maxQueue = this.#o.maxQueue ?? 1000;
    for (const hook of this.#o.webhooks) {
      if (!hook.events.includes(event.type)) continue;
      const d: Delivery = { hook, event, attempts: 0 };
      if (this.size() >= maxQueue) {
        this.#end(d, "dropped", { queue: maxQueue });
        continue;
      }
      this.#ready.push(d);
    }
    // Even signing and serialising wait for the next turn of the event loop: the
    // caller (an approval being created or decided) goes on at once.
    if (!this.#pumpQueued && this.#ready.length > 0) {
      this.#pumpQueued = true;
      setImmediate(() => {
        this.#pumpQueued = false;
        this.#pump();
      });
    }
  }

  size(): number {
    return this.#ready.length + this.#waiting.size + this.#inFlight.size;
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#waiting) this.#scheduler.clearTimeout(t);
    this.#waiting.clear();
    for (const c of this.#inFlight) c.abort();
    this.#ready.length = 0;
  }

  #pump(): void {
    const concurrency = this.#o.concurrency ?? 4;
    while (!this.#closed && this.#inFlight.size < concurrency && this.#ready.length > 0) {
      const d = this.#ready.shift() as Delivery;
      void this.#attempt(d).finally(() => this.#pump());
    }
  }

  #end(d: Delivery, outcome: DeliveryOutcome, detail: Record<string, unknown> = {}): void {
    this.#o.metrics?.delivery(d.hook.name, d.event.type, outcome);
    const fields = {
      webhook: d.hook.name,
      event: d.event.type,
      approval: d.event.approval.id,
      ...detail,
    };
    if (outcome === "delivered") this.#o.logger?.debug(fields, "webhook delivered");
    else this.#o.logger?.warn(fields, `webhook ${outcome}`);
  }

  /** One POST with the webhook's timeout; never throws. */
  async #send(d: Delivery, startedMs: number): Promise<AttemptResult> {
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const timer = this.#scheduler.setTimeout(() => controller.abort(), d.hook.timeoutMs);
    try {
      const res = await this.#post(d.hook.url, {
        ...request(d, startedMs),
        signal: controller.signal,
      });
      const ra = Number(res.headers.get("retry-after"));
      await res.drain().catch(() => {});
      return { status: res.status, retryAfterS: Number.isFinite(ra) && ra > 0 ? ra : undefined };
    } catch {
      // A network error, a refused connection or our own timeout: no answer.
      return { status: undefined, retryAfterS: undefined };
    } finally {
      this.#scheduler.clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
  }

  async #attempt(d: Delivery): Promise<void> {
    const started = this.#now();
    d.attempts++;
    const { status, retryAfterS } = await this.#send(d, started);
    if (this.#closed) return;
    const seconds = Math.max(0, this.#now() - started) / 1000;
    const detail = { status: status ?? "no answer", attempt: d.attempts };
    const metrics = this.#o.metrics;
    if (status !== undefined && status >= 200 && status < 300) {
      metrics?.attempt(d.hook.name, "ok", seconds);
      this.#end(d, "delivered", detail);
    } else if ((status === undefined || retryable(status)) && d.attempts < d.hook.maxAttempts) {
      metrics?.attempt(d.hook.name, "retry", seconds);
      this.#retryLater(d, retryAfterS);
    } else {
      metrics?.attempt(d.hook.name, "error", seconds);
      this.#end(d, "failed", detail);
    }
  }

  #retryLater(d: Delivery, retryAfterS: number | undefined): void {
    const base = this.#o.baseDelayMs ?? 1000;
    const maxDelay = this.#o.maxDelayMs ?? 300_000;
    const exp = Math.min(maxDelay, base * 2 ** (d.attempts - 1));
    const jittered = exp / 2 + (this.#o.random ?? Math.random)() * (exp / 2);
    const wait = Math.min(maxDelay, Math.max(jittered, (retryAfterS ?? 0) * 1000));
    const timer = this.#scheduler.setTimeout(() => {
      this.#waiting.delete(timer);
      this.#ready.push(d);
      this.#pump();
    }, wait);
    this.#waiting.add(timer);
  }
}
