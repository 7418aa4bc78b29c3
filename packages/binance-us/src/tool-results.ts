import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { BINANCE_US_ERRORS, type BinanceUsErrorCode } from "./errors.js";
import { maskListenKey } from "./logger.js";
import type { UserDataStreamStatus } from "./user-data-stream.js";

/** The tool names, as agents and policies already know them. */
export const BINANCE_US_TOOL_NAMES = {
  createListenKey: "binance_us_create_listen_key",
  keepaliveListenKey: "binance_us_keepalive_listen_key",
  closeListenKey: "binance_us_close_listen_key",
  userStreamStatus: "binance_us_user_stream_status",
  userStreamEvents: "binance_us_user_stream_events",
} as const;

/** The weight field every REST-backed result carries. */
export const weightShape = {
  usedWeight1m: z
    .number()
    .optional()
    .describe("X-MBX-USED-WEIGHT-1M after the call (Binance.US allows 1200 per minute per IP)"),
};

/** Output schema of the status tool. */
export const statusShape = {
  enabled: z.boolean(),
  state: z.string(),
  connected: z.boolean(),
  connectedSince: z.number().optional(),
  listenKeyMasked: z.string().optional(),
  keyAgeMs: z.number().optional(),
  lastKeepaliveAt: z.number().optional(),
  nextKeepaliveAt: z.number().optional(),
  reconnects: z.number(),
  rotations: z.number(),
  reconnectAttempt: z.number(),
  lastEventAt: z.number().optional(),
  lastCursor: z.number(),
  bufferedEvents: z.number(),
  droppedEvents: z.number(),
  usedWeight1m: z.number().optional(),
  listenKeyTransport: z
    .enum(["rest", "ws-api"])
    .optional()
    .describe("Which API creates and keeps the listen key alive: REST or the WebSocket API"),
  wsApi: z
    .object({
      connected: z.boolean(),
      connects: z.number(),
      reconnects: z.number(),
      pendingRequests: z.number(),
      nextConnectAt: z.number().optional(),
      lastDisconnect: z.object({ at: z.number(), reason: z.string() }).optional(),
    })
    .optional()
    .describe("The WebSocket API connection, when listen keys go over it"),
  lastError: z
    .object({ code: z.string(), message: z.string() })
    .optional()
    .describe("The error behind the current trouble; absent once the stream is healthy"),
  failedAt: z.number().optional().describe("When a fatal error stopped the stream"),
  lastDisconnect: z
    .object({ at: z.number(), reason: z.string() })
    .optional()
    .describe("When and why the socket was last lost"),
  nextReconnectAt: z.number().optional().describe("When the next reconnect attempt runs"),
  keyValidUntil: z
    .number()
    .optional()
    .describe("Last successful create/keepalive plus the key's 60-minute validity"),
  keepaliveFailingSince: z
    .number()
    .optional()
    .describe("Since when keepalives have been failing (the stream is degraded)"),
  retryAt: z
    .number()
    .optional()
    .describe("From this time (epoch ms) the next status/events call retries a failed stream"),
  advice: z.string().optional().describe("What a person must fix after a fatal error"),
};

/** Output schema of the events tool. */
export const eventsShape = {
  events: z.array(
    z.object({
      cursor: z.number(),
      receivedAt: z.number(),
      kind: z.string(),
      type: z.string(),
      eventTime: z
        .number()
        .optional()
        .describe("The exchange's event time E (epoch ms); order by this, not by cursor"),
      data: z.record(z.string(), z.unknown()),
    }),
  ),
  nextCursor: z.number(),
  dropped: z.boolean().describe("true if events after your cursor were evicted: resync"),
  connected: z.boolean(),
  gaps: z
    .array(
      z.object({
        afterCursor: z.number(),
        from: z.number(),
        to: z.number().optional(),
        reason: z.string(),
      }),
    )
    .optional()
    .describe(
      "Times in this page's range when no event could arrive (to absent: still the case). The exchange does not replay: events it sent then are lost, rebuild from the account snapshot",
    ),
};

/** A successful tool result: text plus structured content. */
export function ok(text: string, structuredContent: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent };
}

/**
 * `listenKeyExpired` carries the full listen key, a bearer credential for the account feed;
 * agents only need to know which key it was, so the result shows its prefix.
 */
export function maskEventData(data: Record<string, unknown>): Record<string, unknown> {
  const key = data.listenKey;
  if (typeof key !== "string") return data;
  return { ...data, listenKey: maskListenKey(key) };
}

/**
 * The status tool's text. An agent reads only this line, so it must say what is wrong now:
 * why the socket is down and when the next attempt runs, or that a connected stream is about
 * to lose its key because keepalives fail.
 */
export function statusText(
  raw: UserDataStreamStatus,
  now: number,
  advice: string | undefined,
): string {
  const err = raw.lastError ? `${raw.lastError.code}: ${raw.lastError.message}` : undefined;
  if (raw.connected) {
    const head = `Connected (key ${raw.listenKeyMasked}, age ${Math.round((raw.keyAgeMs ?? 0) / 60_000)} min); ${raw.reconnects} reconnects, ${raw.bufferedEvents} events buffered, last cursor ${raw.lastCursor}.`;
    if (raw.keepaliveFailingSince === undefined) return head;
    const until = raw.keyValidUntil;
    const lapse =
      until === undefined
        ? ""
        : until > now
          ? `; the exchange drops the key at ${isoTime(until)} unless one succeeds`
          : `; the key has probably lapsed since ${isoTime(until)}, so events may not arrive until it is re-created`;
    const retry =
      raw.nextKeepaliveAt === undefined ? "" : `; next attempt at ${isoTime(raw.nextKeepaliveAt)}`;
    return `${head} Degraded: keepalives failing since ${isoTime(raw.keepaliveFailingSince)}${err ? ` (last error ${err})` : ""}${retry}${lapse}.`;
  }
  if (raw.state === "failed") return `Stopped by a fatal error: ${err}. ${advice ?? ""}`;
  if (raw.state === "connecting" && raw.lastError && isFatalCode(raw.lastError.code)) {
    return `Retrying after the earlier fatal error ${raw.lastError.code}; call again to see the outcome.`;
  }
  const lost = raw.lastDisconnect
    ? `: socket lost at ${isoTime(raw.lastDisconnect.at)}: ${raw.lastDisconnect.reason}`
    : "";
  // Reconnecting without a scheduled attempt means one is running (POST or socket opening).
  const next =
    raw.nextReconnectAt === undefined
      ? raw.state === "reconnecting"
        ? "; attempting now"
        : ""
      : `; next attempt at ${isoTime(raw.nextReconnectAt)} (in ${Math.max(0, Math.ceil((raw.nextReconnectAt - now) / 1000))} s)`;
  return `Not connected (state ${raw.state})${lost}${next}${err ? `; last error ${err}` : ""}.`;
}

/** Epoch ms as an ISO-8601 instant. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

function isFatalCode(code: string): boolean {
  return code in BINANCE_US_ERRORS && BINANCE_US_ERRORS[code as BinanceUsErrorCode].fatal;
}

/** What a person must fix after a fatal error, and when the stream retries. */
export function fatalAdvice(code: string, retryAt: number | undefined, now: number): string {
  const fix =
    code === "API_KEY_FORMAT_INVALID"
      ? "The API key is malformed (-2014): set a valid BINANCE_US_API_KEY (or options.apiKey) and restart this server."
      : code === "API_KEY_REJECTED"
        ? "The exchange rejected the API key, this machine's IP or the key's permissions (-2015): check on Binance.US that the key is active, this IP is on its whitelist and it may read user data."
        : "Fix the cause named above.";
  const when =
    retryAt === undefined
      ? ""
      : retryAt <= now
        ? " The stream is retrying now; call again to see the outcome."
        : ` The next ${BINANCE_US_TOOL_NAMES.userStreamStatus} or ${BINANCE_US_TOOL_NAMES.userStreamEvents} call from ${new Date(retryAt).toISOString()} (in ${Math.ceil((retryAt - now) / 1000)} s) retries once.`;
  return fix + when;
}
