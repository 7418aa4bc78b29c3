import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import {
  BINANCE_US_ERRORS,
  BinanceUsError,
  type BinanceUsErrorCode,
  isBinanceUsError,
} from "./errors.js";
import { userDataEventType } from "./events.js";
import { createRedactingLogger, type Logger, maskListenKey, silentLogger } from "./logger.js";
import { BinanceUsRestClient, optionsError } from "./rest-client.js";
import { stripUndefined } from "./strip-undefined.js";
import {
  UserDataStream,
  type UserDataStreamOptions,
  UserDataStreamOptionsSchema,
  type UserDataStreamStatus,
} from "./user-data-stream.js";

/** The tool names, as agents and policies already know them. */
export const BINANCE_US_TOOL_NAMES = {
  createListenKey: "binance_us_create_listen_key",
  keepaliveListenKey: "binance_us_keepalive_listen_key",
  closeListenKey: "binance_us_close_listen_key",
  userStreamStatus: "binance_us_user_stream_status",
  userStreamEvents: "binance_us_user_stream_events",
} as const;

/**
 * Options of {@link createBinanceUsConnector} / {@link registerBinanceUsTools}: the
 * {@link UserDataStream} options with `apiKey` optional (falls back to `env`), plus when to
 * start the managed stream.
 */
export type BinanceUsConnectorOptions = Omit<UserDataStreamOptions, "apiKey"> & {
  apiKey?: string;
  /** Where `BINANCE_US_API_KEY` / `BINANCE_US_API_SECRET` are read from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * `lazy` (default): the managed stream starts on the first status/events call.
   * `eager`: it starts when the connector is created. `off`: the two stream tools report
   * that the managed stream is disabled.
   */
  managedStream?: "lazy" | "eager" | "off";
  /**
   * After a fatal error (-2014/-2015) the managed stream stays stopped; the first
   * status/events call at least this long after the failure restarts it, in case the cause
   * (IP whitelist, key permissions) was fixed on the exchange. Default 60 s, so agents
   * polling often cost at most one weight-1 POST a minute. `connector.restart()` retries at
   * once.
   */
  fatalRetryAfterMs?: number;
};

/**
 * The shared state behind the tools: one REST client (one `Retry-After` gate) and one
 * lazily started managed stream. Several MCP sessions can share one connector, which is
 * what you want: Binance allows one listen key per account anyway.
 */
export interface BinanceUsConnector {
  readonly rest: BinanceUsRestClient;
  readonly managedStream: "lazy" | "eager" | "off";
  /** The connector's clock (options.now, else `Date.now`). */
  readonly now: () => number;
  /** The managed stream, started on first use. Undefined when `managedStream` is `off`. */
  stream(): UserDataStream | undefined;
  /** Whether the managed stream has been started. */
  readonly streamStarted: boolean;
  /**
   * Epoch ms from which a status/events call restarts a stream stopped by a fatal error;
   * undefined unless the stream is in state `failed`.
   */
  retryAt(): number | undefined;
  /**
   * Restarts the managed stream now (after a fatal error, once its cause is fixed), or
   * starts it if it never ran. Resolves on connection, rejects with the typed error.
   */
  restart(): Promise<void>;
  /** Closes the managed stream (no DELETE unless `ownsStream`). */
  close(): Promise<void>;
}

/**
 * Builds a connector, validating the options now so a bad configuration fails at start-up.
 *
 * @example
 * ```ts
 * const connector = createBinanceUsConnector({ restBaseUrl: mock.restUrl, wsBaseUrl: mock.wsUrl, apiKey });
 * ```
 */
export function createBinanceUsConnector(
  options: BinanceUsConnectorOptions = {},
): BinanceUsConnector {
  const env = options.env ?? process.env;
  const { env: _env, managedStream: mode = "lazy", fatalRetryAfterMs = 60_000, ...rest } = options;
  if (!Number.isFinite(fatalRetryAfterMs) || fatalRetryAfterMs < 0) {
    throw new BinanceUsError(
      "OPTIONS_INVALID",
      "invalid options: fatalRetryAfterMs must be a number of milliseconds >= 0",
    );
  }
  const now = options.now ?? Date.now;
  const streamOptions: UserDataStreamOptions = {
    ...rest,
    apiKey: options.apiKey ?? env.BINANCE_US_API_KEY ?? "",
    apiSecret: options.apiSecret ?? (env.BINANCE_US_API_SECRET || undefined),
  };
  const parsed = UserDataStreamOptionsSchema.safeParse(streamOptions);
  if (!parsed.success) {
    if (!streamOptions.apiKey) {
      throw new BinanceUsError(
        "OPTIONS_INVALID",
        "apiKey is missing: pass options.apiKey or set BINANCE_US_API_KEY",
      );
    }
    throw optionsError(parsed.error);
  }
  const logger: Logger = createRedactingLogger(options.logger ?? silentLogger, {
    secrets: () => [streamOptions.apiKey, streamOptions.apiSecret],
  });
  const restClient =
    options.restClient ??
    new BinanceUsRestClient({
      apiKey: streamOptions.apiKey,
      apiSecret: streamOptions.apiSecret,
      restBaseUrl: options.restBaseUrl,
      requestTimeoutMs: options.requestTimeoutMs,
      recvWindowMs: options.recvWindowMs,
      now: options.now,
      fetch: options.fetch,
      logger,
    });
  let stream: UserDataStream | undefined;
  let closed = false;
  // Failures are reported by status() (state "failed", lastError), not by these promises.
  const ignore = () => {};
  const retryAt = (): number | undefined => {
    const failedAt = stream?.status().failedAt;
    return failedAt === undefined ? undefined : failedAt + fatalRetryAfterMs;
  };
  const connector: BinanceUsConnector = {
    rest: restClient,
    managedStream: mode,
    now,
    get streamStarted() {
      return stream !== undefined;
    },
    stream() {
      if (mode === "off" || closed) return stream;
      if (!stream) {
        stream = new UserDataStream({ ...streamOptions, restClient, logger });
        stream.start().catch(ignore);
        return stream;
      }
      const at = retryAt();
      if (at !== undefined && now() >= at) stream.restart().catch(ignore);
      return stream;
    },
    retryAt,
    async restart() {
      if (mode === "off") {
        throw new BinanceUsError("CLOSED", "the managed stream is disabled (managedStream: off)");
      }
      if (closed) throw new BinanceUsError("CLOSED", "the connector is closed");
      const current = stream ?? connector.stream();
      await current?.restart();
    },
    async close() {
      closed = true;
      await stream?.close();
    },
  };
  if (mode === "eager") connector.stream();
  return connector;
}

const weightShape = {
  usedWeight1m: z
    .number()
    .optional()
    .describe("X-MBX-USED-WEIGHT-1M after the call (Binance.US allows 1200 per minute per IP)"),
};

const statusShape = {
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
  lastError: z.object({ code: z.string(), message: z.string() }).optional(),
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

const eventsShape = {
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

function ok(text: string, structuredContent: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent };
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
  const { rest } = connector;

  const fail = (error: unknown): CallToolResult => {
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
  };

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

  const disabledStatus = {
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
        return ok("The managed user-data stream is disabled on this server.", disabledStatus);
      }
      const raw = stream.status();
      const retryAt = connector.retryAt();
      const advice =
        raw.state === "failed" && raw.lastError
          ? fatalAdvice(raw.lastError.code, retryAt, connector.now())
          : undefined;
      const status = stripUndefined({ enabled: true, ...raw, retryAt, advice });
      return ok(statusText(raw, connector.now(), advice), status);
    },
  );

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
      const streamStatus = stream.status();
      const connected = streamStatus.connected;
      // An empty page reads as "nothing happened" unless it says the socket is down: events
      // the exchange sends while it is down are not replayed.
      const stopped =
        streamStatus.state === "failed"
          ? ` The stream is stopped by ${streamStatus.lastError?.code}: see ${BINANCE_US_TOOL_NAMES.userStreamStatus} for what to fix.`
          : connected
            ? ""
            : ` The stream is not connected (state ${streamStatus.state}); events the exchange sends before it reconnects are not replayed, see ${BINANCE_US_TOOL_NAMES.userStreamStatus}.`;
      // Only gaps inside this page's range; later ones are reported when the reader gets there.
      const gaps = stream
        .gaps(cursor ?? 0)
        .filter((g) => g.afterCursor <= page.nextCursor)
        .map((g) => stripUndefined(g));
      const gapLines = gaps.map(
        (g) =>
          `\nGap after cursor ${g.afterCursor}: nothing could arrive from ${isoTime(g.from)} to ${g.to === undefined ? "now" : isoTime(g.to)} (${g.reason}); events the exchange sent then were not delivered, rebuild your view from the account snapshot.`,
      );
      const text = `${events.length} event(s) after cursor ${cursor ?? 0}; next cursor ${page.nextCursor}${page.dropped ? "; some events were dropped by overflow, resync your view" : ""}.${stopped}${gapLines.join("")}${events.length ? `\n${events.map((e) => `#${e.cursor} ${e.type}${e.eventTime === undefined ? "" : ` E=${e.eventTime}`}`).join("\n")}` : ""}`;
      return ok(text, {
        events,
        nextCursor: page.nextCursor,
        dropped: page.dropped,
        connected,
        ...(gaps.length > 0 ? { gaps } : {}),
      });
    },
  );

  return {
    connector,
    close: async () => {
      if (owned) await connector.close();
    },
  };
}

/**
 * `listenKeyExpired` carries the full listen key, a bearer credential for the account feed;
 * agents only need to know which key it was, so the result shows its prefix.
 */
function maskEventData(data: Record<string, unknown>): Record<string, unknown> {
  const key = data.listenKey;
  if (typeof key !== "string") return data;
  return { ...data, listenKey: maskListenKey(key) };
}

/**
 * The status tool's text. An agent reads only this line, so it must say what is wrong now:
 * why the socket is down and when the next attempt runs, or that a connected stream is about
 * to lose its key because keepalives fail.
 */
function statusText(raw: UserDataStreamStatus, now: number, advice: string | undefined): string {
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

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

function isFatalCode(code: string): boolean {
  return code in BINANCE_US_ERRORS && BINANCE_US_ERRORS[code as BinanceUsErrorCode].fatal;
}

function fatalAdvice(code: string, retryAt: number | undefined, now: number): string {
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

function isConnector(value: unknown): value is BinanceUsConnector {
  return (
    typeof value === "object" &&
    value !== null &&
    "rest" in value &&
    typeof (value as { stream?: unknown }).stream === "function"
  );
}
