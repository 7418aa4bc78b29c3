import { executionReport as mockExecutionReport } from "../mock/events.js";
import type { FetchLike } from "../rest-client.js";
import type { StreamSocket, StreamSocketHandlers, WebSocketFactory } from "../socket.js";
import type { Scheduler } from "../time.js";

/** Deterministic clock + scheduler for unit tests; `advance` runs due timers in order. */
export class FakeClock implements Scheduler {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; seq: number; fn: () => void }>();
  #seq = 0;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now = (): number => this.#now;

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn });
    return { fakeTimer: id };
  };

  clearTimeout = (handle: unknown): void => {
    if (typeof handle === "object" && handle !== null && "fakeTimer" in handle) {
      this.#timers.delete((handle as { fakeTimer: number }).fakeTimer);
    }
  };

  /** Armed timers; zero after a clean `close()`. */
  pending(): number {
    return this.#timers.size;
  }

  /** Due times of armed timers, relative to now. */
  pendingDelays(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((a, b) => a - b);
  }

  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flush();
    for (;;) {
      let next: [number, { at: number; seq: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at > target) continue;
        if (
          !next ||
          entry[1].at < next[1].at ||
          (entry[1].at === next[1].at && entry[1].seq < next[1].seq)
        ) {
          next = entry;
        }
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fn();
      await flush();
    }
    this.#now = target;
    await flush();
  }
}

/** Lets pending promise chains (fake fetch, handlers) settle. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface KeyState {
  listenKey: string;
  expiresAt: number;
}

/** A scripted failure for the next matching REST call. */
export interface InjectedFailure {
  method?: string;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  networkError?: boolean;
}

/** One socket as the fake exchange sees it. */
export class FakeServerSocket implements StreamSocket {
  readonly listenKey: string;
  readonly handlers: StreamSocketHandlers;
  state: "connecting" | "open" | "closed" = "connecting";
  /** When true the socket swallows frames both ways (a silently dead TCP connection). */
  silent = false;
  readonly sentPongs: Uint8Array[] = [];
  pingsReceived = 0;
  closedBy: "client-close" | "client-terminate" | "server" | undefined;
  openTimer: unknown;
  readonly #exchange: FakeExchange;

  constructor(exchange: FakeExchange, listenKey: string, handlers: StreamSocketHandlers) {
    this.#exchange = exchange;
    this.listenKey = listenKey;
    this.handlers = handlers;
  }

  ping(): void {
    if (this.state !== "open" || this.silent) return;
    this.pingsReceived++;
    if (this.#exchange.answerPings)
      queueMicrotask(() => this.state === "open" && this.handlers.onPong());
  }

  pong(data?: Uint8Array): void {
    if (this.state === "open" && data) this.sentPongs.push(data);
  }

  close(): void {
    this.#exchange.clock.clearTimeout(this.openTimer);
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    this.closedBy = "client-close";
    if (wasOpen) queueMicrotask(() => this.handlers.onClose(1000, ""));
  }

  terminate(): void {
    this.#exchange.clock.clearTimeout(this.openTimer);
    if (this.state === "closed") return;
    this.state = "closed";
    this.closedBy = "client-terminate";
    queueMicrotask(() => this.handlers.onClose(1006, ""));
  }

  /** Server-side delivery of a frame. */
  deliver(text: string): void {
    if (this.state === "open" && !this.silent) this.handlers.onMessage(text);
  }

  serverClose(code = 1000): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.closedBy = "server";
    this.handlers.onClose(code, "");
  }
}

/**
 * An in-memory stand-in for the exchange used by unit tests: one listen key per API key,
 * 60-minute validity, get-or-extend POST, -1125/-1102/-2014/-2015, scripted failures, and
 * sockets whose liveness the test controls.
 */
export class FakeExchange {
  readonly clock: FakeClock;
  readonly validApiKey: string;
  readonly validityMs = 60 * 60_000;
  key: KeyState | undefined;
  readonly calls: {
    method: string;
    url: string;
    body: string | undefined;
    headers: Record<string, string>;
  }[] = [];
  readonly failures: InjectedFailure[] = [];
  /**
   * Accept sockets for a key that is no longer active; they stay open and never receive an
   * event (an exchange that does not refuse the upgrade for a dead key).
   */
  acceptStaleKeys = false;
  /** Time a socket takes to open (the handshake), on the fake clock. */
  openDelayMs = 10;
  readonly sockets: FakeServerSocket[] = [];
  answerPings = true;
  /** When false, new sockets never open (connection refused). */
  acceptSockets = true;
  #keySeq = 0;
  account = {
    updateTime: 1,
    balances: [{ asset: "BTC", free: "1.00000000", locked: "0.00000000" }],
  };

  constructor(
    clock: FakeClock,
    validApiKey = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
  ) {
    this.clock = clock;
    this.validApiKey = validApiKey;
  }

  #activeKey(): KeyState | undefined {
    if (this.key && this.key.expiresAt <= this.clock.now()) this.key = undefined;
    return this.key;
  }

  /** Invalidate the key now (simulates expiry / a DELETE by another process). */
  expireKey(): void {
    this.key = undefined;
  }

  fetch: FetchLike = async (url, init) => {
    const body = init.body;
    this.calls.push({ method: init.method, url, body, headers: init.headers });
    const respond = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      const all: Record<string, string> = {
        "x-mbx-used-weight-1m": String(this.calls.length),
        ...headers,
      };
      return {
        status,
        headers: { get: (name: string) => all[name.toLowerCase()] ?? null },
        text: async () => JSON.stringify(json),
      };
    };
    const failureIndex = this.failures.findIndex((f) => !f.method || f.method === init.method);
    if (failureIndex >= 0) {
      const [failure] = this.failures.splice(failureIndex, 1);
      if (failure?.networkError) throw new Error("connect ECONNREFUSED");
      return respond(failure!.status, failure!.body ?? {}, failure!.headers);
    }
    const apiKey = init.headers["X-MBX-APIKEY"] ?? "";
    if (!/^[A-Za-z0-9]{64}$/.test(apiKey)) {
      return respond(401, { code: -2014, msg: "API-key format invalid." });
    }
    if (apiKey !== this.validApiKey) {
      return respond(401, { code: -2015, msg: "Invalid API-key, IP, or permissions for action." });
    }
    const path = new URL(url).pathname;
    if (path === "/api/v3/account") return respond(200, this.account);
    if (path === "/api/v3/openOrders") return respond(200, []);
    const params = new URLSearchParams(body ?? new URL(url).search);
    const current = this.#activeKey();
    if (init.method === "POST") {
      if (current) {
        current.expiresAt = this.clock.now() + this.validityMs;
        return respond(200, { listenKey: current.listenKey });
      }
      const listenKey = `lk${String(++this.#keySeq).padStart(2, "0")}`.padEnd(64, "x");
      this.key = { listenKey, expiresAt: this.clock.now() + this.validityMs };
      return respond(200, { listenKey });
    }
    const listenKey = params.get("listenKey");
    if (!listenKey)
      return respond(400, {
        code: -1102,
        msg: "Mandatory parameter 'listenKey' was not sent, was empty/null, or malformed.",
      });
    if (!current || current.listenKey !== listenKey) {
      return respond(400, { code: -1125, msg: "This listenKey does not exist." });
    }
    if (init.method === "PUT") {
      current.expiresAt = this.clock.now() + this.validityMs;
      return respond(200, {});
    }
    this.key = undefined;
    return respond(200, {});
  };

  webSocketFactory: WebSocketFactory = (url, handlers) => {
    const listenKey = url.slice(url.lastIndexOf("/") + 1);
    const socket = new FakeServerSocket(this, listenKey, handlers);
    this.sockets.push(socket);
    socket.openTimer = this.clock.setTimeout(() => {
      if (socket.state !== "connecting") return;
      const stale = this.#activeKey()?.listenKey !== listenKey;
      if (!this.acceptSockets || (stale && !this.acceptStaleKeys)) {
        socket.state = "closed";
        handlers.onError(new Error("Unexpected server response: 400"));
        return;
      }
      socket.state = "open";
      handlers.onOpen();
    }, this.openDelayMs);
    return socket;
  };

  openSockets(): FakeServerSocket[] {
    return this.sockets.filter((s) => s.state === "open");
  }

  /** Push an event to every open socket on the current key. */
  push(event: Record<string, unknown>): void {
    const text = JSON.stringify(event);
    for (const s of this.openSockets()) if (s.listenKey === this.key?.listenKey) s.deliver(text);
  }
}

let seq = 0;
/**
 * A realistic executionReport (the mock's builder) with a unique event time `E`, which the
 * mock would otherwise stamp from its clock, and a fixed `I`.
 */
export function executionReport(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  seq++;
  return mockExecutionReport({ E: 1_767_225_600_000 + seq, I: 1, ...overrides });
}
