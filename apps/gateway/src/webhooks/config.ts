import { z } from "zod";

/** The approval events a webhook can subscribe to. */
export const WEBHOOK_EVENTS = [
  "approval.requested",
  "approval.decided",
  "approval.expired",
] as const;

/** One of {@link WEBHOOK_EVENTS}. */
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** http(s) URL; plain http only on a loopback address (the body and signature travel in it). */
function secureUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (
      u.protocol === "https:" ||
      (u.protocol === "http:" && /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i.test(u.hostname))
    );
  } catch {
    return false;
  }
}

/**
 * One webhook in the config (`webhooks:`). The URL is treated as a secret (a Slack
 * incoming-webhook URL is its own credential): no message, log line or metric shows it;
 * metrics and logs name the webhook by `name`.
 */
export const WebhookSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, "use 1-64 characters of A-Z a-z 0-9 _ . -")
      .optional(),
    url: z
      .string()
      .refine(secureUrl, "use an https URL (plain http only on localhost/127.0.0.1/[::1])"),
    kind: z
      .enum(["generic", "slack"], {
        message: 'use "generic" (signed JSON) or "slack" (a Slack incoming webhook)',
      })
      .default("generic"),
    /** HMAC-SHA256 key of the `Toolgate-Signature` header; required for `generic`. */
    secret: z
      .string()
      .min(
        32,
        `use at least 32 characters, e.g. secret: "\${WEBHOOK_SECRET}" set to \`openssl rand -hex 32\``,
      )
      .optional(),
    events: z
      .array(
        z.enum(WEBHOOK_EVENTS, {
          message: `use one of ${WEBHOOK_EVENTS.join(", ")}`,
        }),
      )
      .min(1, "name at least one event, or remove the webhook")
      .default([...WEBHOOK_EVENTS]),
    /** Longest wait for one delivery attempt. */
    timeoutMs: z
      .number()
      .int()
      .min(100, "use at least 100 ms")
      .max(60_000, "use at most 60000 ms")
      .default(10_000),
    /** Attempts per event before it is given up (and counted as failed). */
    maxAttempts: z.number().int().min(1, "use at least 1").max(20, "use at most 20").default(8),
  })
  .refine((w) => w.kind !== "generic" || w.secret !== undefined, {
    message: `a generic webhook needs a secret to sign with: add secret: "\${WEBHOOK_SECRET}" (at least 32 characters), or use kind: slack`,
    path: ["secret"],
  });

/** The `webhooks:` list of the config; names default to `webhook-<index>` and must be unique. */
export const WebhooksSchema = z
  .array(WebhookSchema)
  .default([])
  .transform((hooks) => hooks.map((h, i) => ({ ...h, name: h.name ?? `webhook-${i}` })))
  .superRefine((hooks, ctx) => {
    const seen = new Set<string>();
    hooks.forEach((h, i) => {
      if (seen.has(h.name)) {
        ctx.addIssue({
          code: "custom",
          path: [i, "name"],
          message: `the name "${h.name}" is used twice; give each webhook its own name`,
        });
      }
      seen.add(h.name);
    });
  });

/** One configured webhook, with defaults applied. */
export type WebhookConfig = z.output<typeof WebhooksSchema>[number];
