import type { ApprovalRecord } from "../approvals/store.js";
import { maskForApprover } from "../mask.js";
import type { WebhookEventType } from "./config.js";

/** The approval as a webhook carries it: what the approvals page shows, masked alike. */
export interface WebhookApproval {
  readonly id: string;
  readonly status: string;
  readonly grant: string;
  readonly tool: string;
  readonly upstream: string;
  /** Policy's reason for holding the call. */
  readonly reason: string;
  readonly ruleId: string;
  /** The arguments with secrets masked exactly as on the approvals page. */
  readonly arguments: Record<string, unknown>;
  readonly masked: readonly string[];
  readonly argumentsDigest: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly resolvedAt?: string | undefined;
  /** Who decided (`admin`, an approver's name, `timeout`, `caller:withdrawn`); never a key. */
  readonly resolvedBy?: string | undefined;
  readonly resolution?: string | undefined;
}

/** The generic webhook body (`kind: generic`), signed in `Toolgate-Signature`. */
export interface GenericWebhookBody {
  /** Unique per event, the same on every retry (also `Toolgate-Delivery`): dedupe by it. */
  readonly id: string;
  readonly type: WebhookEventType;
  /** When the event happened (ISO-8601). */
  readonly time: string;
  readonly approval: WebhookApproval;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * The approval record as a webhook may show it. The store already holds arguments
 * masked for approvers; they are masked again here, with the same function, so a
 * store filled by other code cannot put a credential into a webhook. The session id is
 * left out: it is a handle on a live MCP session.
 */
export function webhookApproval(r: ApprovalRecord): WebhookApproval {
  const again = maskForApprover(r.arguments, []);
  return {
    id: r.id,
    status: r.status,
    grant: r.grant,
    tool: r.tool,
    upstream: r.upstream,
    reason: r.reason,
    ruleId: r.ruleId,
    arguments: again.arguments,
    masked: [...new Set([...(r.masked ?? []), ...again.masked])],
    argumentsDigest: r.argumentsDigest,
    createdAt: iso(r.createdAt) as string,
    expiresAt: iso(r.expiresAt) as string,
    resolvedAt: iso(r.resolvedAt),
    resolvedBy: r.resolvedBy,
    resolution: r.resolution,
  };
}

/** Slack's mrkdwn control characters: agent-chosen text must not ping `<!channel>` or link. */
function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Slack refuses a section text over 3000 characters; arguments are cut well before. */
const SLACK_ARGS_MAX = 2500;

const HEADLINES: Record<WebhookEventType, string> = {
  "approval.requested": "A tool call is waiting for approval",
  "approval.decided": "A held tool call was decided",
  "approval.expired": "A held tool call expired unapproved",
};

/**
 * A Slack incoming-webhook body (`text` for notifications, `blocks` for the message):
 * headline, tool, grant, status, deadline or decider, the masked arguments in a code
 * block (cut at 2,500 characters) and the approval id. Everything that came from the
 * agent or the config is escaped for Slack's mrkdwn.
 *
 * @example
 * await fetch(slackUrl, { method: "POST", body: JSON.stringify(slackBody(body)) });
 */
export function slackBody(event: GenericWebhookBody): { text: string; blocks: unknown[] } {
  const a = event.approval;
  const e = slackEscape;
  const headline = `${HEADLINES[event.type]}: ${a.tool} (grant ${a.grant})`;
  let args = JSON.stringify(a.arguments, null, 2);
  if (args.length > SLACK_ARGS_MAX)
    args = `${args.slice(0, SLACK_ARGS_MAX)}\n… (cut; full on the approvals page)`;
  const fields = [
    `*Tool*\n${e(a.tool)}`,
    `*Grant*\n${e(a.grant)}`,
    `*Status*\n${e(a.status)}`,
    event.type === "approval.requested"
      ? `*Expires*\n${a.expiresAt}`
      : `*Decided by*\n${e(a.resolvedBy ?? "unknown")}`,
  ];
  const why = event.type === "approval.requested" ? a.reason : (a.resolution ?? a.reason);
  return {
    text: e(headline),
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `*${e(headline)}*\n${e(why)}` } },
      { type: "section", fields: fields.map((text) => ({ type: "mrkdwn", text })) },
      { type: "section", text: { type: "mrkdwn", text: `\`\`\`${e(args)}\`\`\`` } },
      {
        type: "context",
        elements: [
          {
            type: "mrkdwn",
            text: `${e(a.id)} · arguments ${e(a.argumentsDigest)}${a.masked.length > 0 ? ` · masked: ${e(a.masked.join(", "))}` : ""}`,
          },
        ],
      },
    ],
  };
}
