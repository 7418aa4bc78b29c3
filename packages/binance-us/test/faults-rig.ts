import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { expect, vi } from "vitest";
import { createJsonLogger } from "../src/logger.js";
import { createMockClock, type MockClock } from "../src/mock/clock.js";
import type { MockEvent } from "../src/mock/events.js";
import type { BinanceUsMockOptions } from "../src/mock/options.js";
import { type BinanceUsMock, startBinanceUsMock } from "../src/mock/server.js";
import type { FetchLike } from "../src/rest-client.js";
import { createBinanceUsMcpServer } from "../src/server.js";
import { BINANCE_US_TOOL_NAMES, type BinanceUsConnectorOptions } from "../src/tools.js";
import type { UserDataStreamStatus } from "../src/user-data-stream.js";

// The fault rig: the real mock exchange on a fake clock, the real connector (REST client,
// listen-key manager, managed stream) on the same clock, and its MCP tools reached through a
// real SDK client over an in-memory transport. Every REST request the connector sends, every
// log line and every tool result is kept, so a test can check what was sent and when, and
// the rig's close() sweeps all of it for the API key, the secret and full listen keys.

/** A 64-character key, as the exchange issues them. */
export const API_KEY = `${"Fq8".repeat(21)}R`;
/** The secret of {@link API_KEY}. */
export const SECRET = "faults-secret-7f3a9c1e5b2d4f60";
/**
 * Per-test limit. A scenario takes 0.3 to 5 s on a quiet machine; fake days still need real
 * socket turns, so a loaded 2-core CI box may take several times as long.
 */
export const FAULT_TEST_TIMEOUT_MS = 45_000;
export const SEC = 1_000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;

/** What a tool call returned, as the MCP client sees it. */
export interface ToolResult {
  isError?: boolean;
  content: { type: string; text: string }[];
  structuredContent?: Record<string, unknown>;
  _meta?: Record<string, unknown>;
}

/** One REST request the connector put on the wire (fake-clock time). */
export interface SentRequest {
  at: number;
  method: string;
  path: string;
}

/** The status tool's answer: its text and its structured content. */
export interface StatusView {
  text: string;
  s: UserDataStreamStatus & {
    enabled: boolean;
    retryAt?: number;
    advice?: string;
  };
}

/** An event as the events tool returns it. */
export interface EventView {
  cursor: number;
  kind: string;
  type: string;
  data: Record<string, unknown>;
}

/** Options of {@link startRig}. */
export interface RigOptions {
  connector?: Partial<BinanceUsConnectorOptions>;
  mock?: BinanceUsMockOptions;
  /** How the connector manages listen keys: REST (default) or the WebSocket API. */
  transport?: "rest" | "ws-api";
}

/** Polls `fn` on real time (socket bytes are real) until it stops throwing; bounded. */
export const waitFor = <T>(fn: () => T | Promise<T>) =>
  vi.waitFor(fn, { timeout: 5_000, interval: 5 });

// One real event-loop pause between fake-time steps, so frames in flight on loopback
// (a pong, an event, a REST response) land before the next timer fires.
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 2));

/**
 * Starts the rig. The connector runs the managed stream lazily (started by the first status
 * or events call, as in production), with the documented defaults for keepalive, watchdog
 * and rotation; `random` is fixed so backoff and keepalive jitter are predictable.
 */
export async function startRig(options: RigOptions = {}) {
  const clock: MockClock = createMockClock();
  const lines: string[] = [];
  const mock: BinanceUsMock = await startBinanceUsMock({
    clock,
    apiKeys: { [API_KEY]: { secret: SECRET } },
    logger: {
      info: (fields, msg) => lines.push(JSON.stringify({ msg, ...fields })),
      warn: (fields, msg) => lines.push(JSON.stringify({ msg, ...fields })),
      debug: (fields, msg) => lines.push(JSON.stringify({ msg, ...fields })),
    },
    ...options.mock,
  });
  const listenKeys = new Set<string>();
  mock.control.on("keyCreated", (k) => listenKeys.add(k.listenKey));

  const sent: SentRequest[] = [];
  // Requests whose answer the connector has not read yet. Fake time must not be assumed to
  // stand still while one is in flight, so the waits below also wait for this to reach 0.
  let inflight = 0;
  const transport = options.transport ?? "rest";
  // WebSocket API requests never pass through fetch: the exchange's own log says what
  // arrived, under the REST route each method shares its rules with.
  mock.control.on("request", (q) => {
    if (q.transport === "ws-api") sent.push({ at: q.at, method: q.method, path: q.path });
  });
  const recordingFetch: FetchLike = async (url, init) => {
    sent.push({ at: clock.now(), method: init.method, path: new URL(url).pathname });
    inflight++;
    try {
      const res = await (globalThis.fetch as unknown as FetchLike)(url, init);
      return {
        status: res.status,
        headers: res.headers,
        text: () => res.text().finally(() => inflight--),
      };
    } catch (error) {
      inflight--;
      throw error;
    }
  };
  const server = createBinanceUsMcpServer({
    apiKey: API_KEY,
    apiSecret: SECRET,
    restBaseUrl: mock.restUrl,
    wsBaseUrl: mock.wsUrl,
    now: clock.now,
    scheduler: clock,
    random: () => 0.5,
    fetch: recordingFetch,
    logger: createJsonLogger({ level: "debug", write: (l) => lines.push(l), now: clock.now }),
    ...(transport === "ws-api"
      ? { listenKeyTransport: "ws-api" as const, wsApiUrl: mock.wsApiUrl }
      : {}),
    ...options.connector,
  });
  const client = new Client({ name: "faults", version: "0" });
  const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  await client.connect(clientSide);
  const connector = server.connector;

  // Every tool result, for the secrets sweep. The create tool's own result is the one place
  // a full listen key belongs (handing it out is the tool's purpose), so it is kept apart.
  const outputs: string[] = [];
  const createOutputs: string[] = [];

  const call = async (name: string, args: Record<string, unknown> = {}): Promise<ToolResult> => {
    const res = (await client.callTool({ name, arguments: args })) as ToolResult;
    (name === BINANCE_US_TOOL_NAMES.createListenKey ? createOutputs : outputs).push(
      JSON.stringify(res),
    );
    return res;
  };
  const textOf = (res: ToolResult) => res.content.map((c) => c.text).join("\n");

  const status = async (): Promise<StatusView> => {
    const res = await call(BINANCE_US_TOOL_NAMES.userStreamStatus);
    expect(res.isError).toBeFalsy();
    return { text: textOf(res), s: res.structuredContent as unknown as StatusView["s"] };
  };

  const events = async (cursor: number, limit = 500) => {
    const res = await call(BINANCE_US_TOOL_NAMES.userStreamEvents, { cursor, limit });
    expect(res.isError).toBeFalsy();
    const sc = res.structuredContent as {
      events: EventView[];
      nextCursor: number;
      dropped: boolean;
      connected: boolean;
      gaps?: { afterCursor: number; from: number; to?: number; reason: string }[];
    };
    return { text: textOf(res), ...sc };
  };

  /** The stream's own status, read directly (cheap) for waiting; assertions use the tool. */
  const raw = () => connector.stream()!.status();

  /** Moves fake time forward in steps, letting socket traffic land between steps. */
  const advance = async (ms: number, step = 5 * SEC): Promise<void> => {
    const end = clock.now() + ms;
    while (clock.now() < end) {
      await clock.advance(Math.min(step, end - clock.now()));
      await settle();
    }
  };

  /**
   * Moves fake time forward step by step until `cond` holds; fails after `maxMs` of fake time.
   * Returns the fake time it took.
   */
  const advanceUntil = async (cond: () => boolean, maxMs: number, step = 250): Promise<number> => {
    const start = clock.now();
    // Give real I/O a few turns first: the condition may be one round trip away.
    for (let k = 0; k < 3 && !cond(); k++) await settle();
    for (;;) {
      if (!cond()) await settle();
      if (cond()) return clock.now() - start;
      if (clock.now() - start >= maxMs) {
        throw new Error(`condition not met within ${maxMs} ms of fake time`);
      }
      await clock.advance(step);
    }
  };

  /** The account's active listen key on the exchange (the truth the connector must follow). */
  const exchangeKey = () => mock.control.state().keys[0]?.listenKey;

  /** Open user-data sockets on the exchange and the keys they listen on. */
  const exchangeSockets = () => mock.control.state().sockets.filter((x) => x.kind === "stream");

  /** Requests in flight: REST ones read by fetch, WebSocket API ones awaiting their answer. */
  const pending = () => inflight + (raw().wsApi?.pendingRequests ?? 0);

  /** Pushes an event to the account's active key; returns how many sockets got it. */
  const push = (event: MockEvent) => mock.control.pushEvent({ apiKey: API_KEY }, event);

  /** Waits until the managed stream is connected on the exchange's active key. */
  const untilConnected = (maxMs = 2 * MIN, step = 250) =>
    advanceUntil(
      () => {
        const st = raw();
        const sockets = exchangeSockets();
        return (
          pending() === 0 &&
          st.connected &&
          sockets.length === 1 &&
          sockets[0]!.listenKeys[0] === exchangeKey() &&
          connector.stream()!.listenKey === exchangeKey()
        );
      },
      maxMs,
      step,
    );

  const close = async (): Promise<void> => {
    await client.close();
    await server.close();
    await mock.close();
    sweep();
  };

  /** No API key, secret or full listen key in any log line or tool result. */
  const sweep = () => {
    expect(lines.length).toBeGreaterThan(0);
    expect(outputs.length).toBeGreaterThan(0);
    const everything = [...lines, ...outputs];
    for (const text of everything) {
      expect(text).not.toContain(API_KEY);
      expect(text).not.toContain(SECRET);
      for (const key of listenKeys) expect(text).not.toContain(key);
    }
    for (const text of createOutputs) {
      expect(text).not.toContain(API_KEY);
      expect(text).not.toContain(SECRET);
    }
  };

  return {
    clock,
    mock,
    control: mock.control,
    connector,
    client,
    sent,
    lines,
    listenKeys,
    call,
    textOf,
    status,
    events,
    raw,
    advance,
    advanceUntil,
    untilConnected,
    exchangeKey,
    exchangeSockets,
    push,
    inflight: pending,
    transport,
    close,
  };
}

/** The rig {@link startRig} resolves to. */
export type Rig = Awaited<ReturnType<typeof startRig>>;

/** ISO form of an epoch-ms instant, as the tools print times. */
export const iso = (ms: number) => new Date(ms).toISOString();
