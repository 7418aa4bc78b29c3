import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import {
  type BinanceUsConnector,
  type BinanceUsConnectorOptions,
  createBinanceUsConnector,
} from "./connector.js";
import { BinanceUsError, isBinanceUsError } from "./errors.js";
import { userDataEventType } from "./events.js";
import { maskListenKey } from "./logger.js";
import type { UserDataStreamStatus } from "./stream-types.js";
import { stripUndefined } from "./strip-undefined.js";
import {
  BINANCE_US_TOOL_NAMES,
  eventsShape,
  fatalAdvice,
  isoTime,
  maskEventData,
  ok,
  statusShape,
  statusText,
  weightShape,
} from "./tool-results.js";

export {
  type BinanceUsConnector,
  type BinanceUsConnectorOptions,
  createBinanceUsConnector,
} from "./connector.js";
export { BINANCE_US_TOOL_NAMES } from "./tool-results.js";

type Fail = (error: unknown) => CallToolResult;

/**
 * A failed tool call. An agent acts on the text alone, so it names the instant it may call
 * again (the connector refuses to send before it anyway) and says when retrying cannot
 * help at all.
 */
function failure(connector: BinanceUsConnector, error: unknown): CallToolResult {
  const typed = isBinanceUsError(error)
    ? error
    : new BinanceUsError("NETWORK_ERROR", "unexpected failure");
  // An agent acts on the text alone, so it names the instant it may call again (the
  // connector refuses to send before it anyway) and says when retrying cannot help at all.
  const retryAt =
    typed.retryAfterMs === undefined ? undefined : connector.now() + typed.retryAfterMs;
  const head = `${typed.code}: ${typed.message}`;
  let text = /[.!?]$/.test(head) ? head : `${head}.`;
  if (retryAt !== undefined) {
    text += ` Retry after ${Math.ceil(typed.retryAfterMs! / 1000)} s (at ${isoTime(retryAt)}); nothing is sent to the exchange before then.`;
  }
  if (typed.fatal) {
    text +=
      " Fatal: retrying cannot help until a person fixes the API key, this IP's whitelist or the key's permissions on Binance.US.";
  }
  return {
    isError: true,
    content: [{ type: "text", text }],
    _meta: {
      binanceUs: stripUndefined({
        code: typed.code,
        ...typed.data,
        retryAt,
        fatal: typed.fatal || undefined,
      }),
    },
  };
}

/** `binance_us_create_listen_key`: get-or-extend the account's key. */
function registerCreateTool(server: McpServer, connector: BinanceUsConnector, fail: Fail): void {
  const rest = connector.listenKeys;
  server.registerTool(
    BINANCE_US_TOOL_NAMES.createListenKey,
    {
      title: "Create Binance.US listen key",
      description:
        "Start (or get) the account's user-data stream: POST /api/v3/userDataStream. Returns the listen key, valid 60 minutes; keep it alive about every 30 minutes. Binance.US has one key per account, so this returns the existing key if there is one and extends it.",
      inputSchema: {},
      outputSchema: { listenKey: z.string(), ...weightShape },
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: true,
      },
    },
    async () => {
      try {
        const { data, usedWeight1m } = await rest.createListenKey();
        return ok(
          `Listen key ${data.listenKey} is active for 60 minutes; call ${BINANCE_US_TOOL_NAMES.keepaliveListenKey} about every 30 minutes to keep it.`,
          stripUndefined({ listenKey: data.listenKey, usedWeight1m }),
        );
      } catch (error) {
        return fail(error);
      }
    },
  );
}

/** `binance_us_keepalive_listen_key`: extend a key by 60 minutes. */
function registerKeepaliveTool(server: McpServer, connector: BinanceUsConnector, fail: Fail): void {
  const rest = connector.listenKeys;
  server.registerTool(
    BINANCE_US_TOOL_NAMES.keepaliveListenKey,
    {
      title: "Keep a Binance.US listen key alive",
      description:
        "Extend a listen key by 60 minutes: PUT /api/v3/userDataStream. Call about every 30 minutes. Fails with LISTEN_KEY_NOT_FOUND if the key expired; then create a new one.",
      inputSchema: {
        listenKey: z.string().min(1).describe("The key from binance_us_create_listen_key"),
      },
      outputSchema: { ok: z.boolean(), ...weightShape },
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: true,
      },
    },
    async ({ listenKey }) => {
      try {
        const { usedWeight1m } = await rest.keepaliveListenKey(listenKey);
        return ok(
          `Listen key ${maskListenKey(listenKey)} extended by 60 minutes.`,
          stripUndefined({ ok: true, usedWeight1m }),
        );
      } catch (error) {
        return fail(error);
      }
    },
  );
}

/** `binance_us_close_listen_key`: end the key for every consumer. */
function registerCloseTool(server: McpServer, connector: BinanceUsConnector, fail: Fail): void {
  const rest = connector.listenKeys;
  server.registerTool(
    BINANCE_US_TOOL_NAMES.closeListenKey,
    {
      title: "Close a Binance.US listen key",
      description:
        "Close the user-data stream: DELETE /api/v3/userDataStream. This ends the stream for every process using the account's key.",
      inputSchema: { listenKey: z.string().min(1).describe("The key to close") },
      outputSchema: { ok: z.boolean(), ...weightShape },
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: true,
      },
    },
    async ({ listenKey }) => {
      try {
        const { usedWeight1m } = await rest.closeListenKey(listenKey);
        return ok(
          `Listen key ${maskListenKey(listenKey)} closed; the stream has ended for every consumer.`,
          stripUndefined({ ok: true, usedWeight1m }),
        );
      } catch (error) {
        return fail(error);
      }
    },
  );
}

const DISABLED_STATUS = {
  enabled: false,
  state: "disabled",
  connected: false,
  reconnects: 0,
  rotations: 0,
  reconnectAttempt: 0,
  lastCursor: 0,
  bufferedEvents: 0,
  droppedEvents: 0,
};

/** The status tool: the managed stream's state in one line plus structured content. */
function registerStatusTool(server: McpServer, connector: BinanceUsConnector): void {
  server.registerTool(
    BINANCE_US_TOOL_NAMES.userStreamStatus,
    {
      title: "Binance.US user-stream status",
      description:
        "Status of the managed user-data stream this server keeps for you (started on first use): connected, key age, next keepalive, reconnects, buffered events.",
      inputSchema: {},
      outputSchema: statusShape,
      annotations: {
        readOnlyHint: true,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: true,
      },
    },
    async () => {
      const stream = connector.stream();
      if (!stream) {
        return ok("The managed user-data stream is disabled on this server.", DISABLED_STATUS);
      }
      const raw = stream.status();
      const retryAt = connector.retryAt();
      const advice =
        raw.state === "failed" && raw.lastError
          ? fatalAdvice(raw.lastError.code, retryAt, connector.now())
          : undefined;
      const wsApi = raw.wsApi ? stripUndefined({ ...raw.wsApi }) : undefined;
      const status = stripUndefined({ enabled: true, ...raw, wsApi, retryAt, advice });
      const via =
        raw.listenKeyTransport === "ws-api"
          ? ` Listen key managed over the WebSocket API (${raw.wsApi?.connected ? "connected" : "not connected"}).`
          : " Listen key managed over REST.";
      return ok(statusText(raw, connector.now(), advice) + via, status);
    },
  );
}

/** The events tool's text: what arrived, whether the stream is down, and every gap. */
function eventsText(
  streamStatus: UserDataStreamStatus,
  cursor: number,
  page: { nextCursor: number; dropped: boolean },
  events: { cursor: number; type: string; eventTime?: number }[],
  gaps: { afterCursor: number; from: number; to?: number; reason: string }[],
): string {
  // An empty page reads as "nothing happened" unless it says the socket is down: events
  // the exchange sends while it is down are not replayed.
  const stopped =
    streamStatus.state === "failed"
      ? ` The stream is stopped by ${streamStatus.lastError?.code}: see ${BINANCE_US_TOOL_NAMES.userStreamStatus} for what to fix.`
      : streamStatus.connected
        ? ""
        : ` The stream is not connected (state ${streamStatus.state}); events the exchange sends before it reconnects are not replayed, see ${BINANCE_US_TOOL_NAMES.userStreamStatus}.`;
  const gapLines = gaps.map(
    (g) =>
      `\nGap after cursor ${g.afterCursor}: nothing could arrive from ${isoTime(g.from)} to ${g.to === undefined ? "now" : isoTime(g.to)} (${g.reason}); events the exchange sent then were not delivered, rebuild your view from the account snapshot.`,
  );
  const list = events.length
    ? `\n${events.map((e) => `#${e.cursor} ${e.type}${e.eventTime === undefined ? "" : ` E=${e.eventTime}`}`).join("\n")}`
    : "";
  return `${events.length} event(s) after cursor ${cursor}; next cursor ${page.nextCursor}${page.dropped ? "; some events were dropped by overflow, resync your view" : ""}.${stopped}${gapLines.join("")}${list}`;
}

/** The events tool: buffered events after a cursor, with gaps and overflow reported. */
function registerEventsTool(server: McpServer, connector: BinanceUsConnector): void {
  server.registerTool(
    BINANCE_US_TOOL_NAMES.userStreamEvents,
    {
      title: "Binance.US user-stream events",
      description:
        "Events (executionReport, outboundAccountPosition, balanceUpdate, listStatus, ...) received after `cursor`, in arrival order. Pass the returned nextCursor next time. `dropped: true` means the buffer overflowed past your cursor. Binance does not guarantee order under load: to rebuild state, order by eventTime (the exchange's E) and, for outboundAccountPosition, data.u.",
      inputSchema: {
        cursor: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe("Return events after this cursor (default 0)"),
        limit: z
          .number()
          .int()
          .min(1)
          .max(500)
          .optional()
          .describe("At most this many (default 50)"),
      },
      outputSchema: eventsShape,
      annotations: {
        readOnlyHint: true,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: true,
      },
    },
    async ({ cursor, limit }) => {
      const stream = connector.stream();
      if (!stream) {
        return ok("The managed user-data stream is disabled on this server.", {
          events: [],
          nextCursor: cursor ?? 0,
          dropped: false,
          connected: false,
        });
      }
      const page = stream.events(cursor ?? 0, limit ?? 50);
      const events = page.events.map((entry) => {
        const ev = entry.event;
        return stripUndefined({
          cursor: entry.cursor,
          receivedAt: entry.receivedAt,
          kind: ev.kind,
          type: userDataEventType(ev),
          eventTime: ev.eventTime,
          data: maskEventData(ev.data as Record<string, unknown>),
        });
      });
      const connected = stream.status().connected;
      // Only gaps inside this page's range; later ones are reported when the reader gets there.
      const gaps = stream
        .gaps(cursor ?? 0)
        .filter((g) => g.afterCursor <= page.nextCursor)
        .map((g) => stripUndefined(g));
      const text = eventsText(stream.status(), cursor ?? 0, page, events, gaps);
      return ok(text, {
        events,
        nextCursor: page.nextCursor,
        dropped: page.dropped,
        connected,
        ...(gaps.length > 0 ? { gaps } : {}),
      });
    },
  );
}

/**
 * Registers the five `binance_us_*` tools on an SDK `McpServer`.
 *
 * - `binance_us_create_listen_key` (no arguments), `binance_us_keepalive_listen_key`
 *   (`listenKey`), `binance_us_close_listen_key` (`listenKey`): the listen-key REST calls.
 * - `binance_us_user_stream_status` and `binance_us_user_stream_events` (`cursor?`,
 *   `limit?`): a managed stream so agents need not hold a WebSocket.
 *
 * Results carry text plus `structuredContent`; failures are `isError` results naming the
 * stable error code. The API key and secret never appear in results; only the create tool
 * returns a listen key, because that is its purpose.
 *
 * @example
 * ```ts
 * const server = new McpServer({ name: "binance-us", version: "0.1.0" });
 * const handle = registerBinanceUsTools(server, { apiKey, restBaseUrl: mock.restUrl, wsBaseUrl: mock.wsUrl });
 * // later: await handle.close();
 * ```
 */
export function registerBinanceUsTools(
  server: McpServer,
  optionsOrConnector: BinanceUsConnectorOptions | BinanceUsConnector = {},
): { connector: BinanceUsConnector; close(): Promise<void> } {
  const owned = !isConnector(optionsOrConnector);
  const connector = isConnector(optionsOrConnector)
    ? optionsOrConnector
    : createBinanceUsConnector(optionsOrConnector);
  const fail: Fail = (error) => failure(connector, error);
  registerCreateTool(server, connector, fail);
  registerKeepaliveTool(server, connector, fail);
  registerCloseTool(server, connector, fail);
  registerStatusTool(server, connector);
  registerEventsTool(server, connector);
  return {
    connector,
    close: async () => {
      if (owned) await connector.close();
    },
  };
}

function isConnector(value: unknown): value is BinanceUsConnector {
  return (
    typeof value === "object" &&
    value !== null &&
    "rest" in value &&
    typeof (value as { stream?: unknown }).stream === "function"
  );
}
