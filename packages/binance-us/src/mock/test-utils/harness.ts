import { createHmac } from "node:crypto";
import { afterEach, vi } from "vitest";
import WebSocket from "ws";
import { createMockClock, type MockClock } from "../clock.js";
import type { BinanceUsMockOptions } from "../options.js";
import { type BinanceUsMock, startBinanceUsMock } from "../server.js";

/** A well-formed (64 letters/digits) API key. */
export const KEY_A = "A".repeat(64);
export const KEY_B = "B".repeat(64);
export const SECRET = "s3cr3t-for-tests-only";

export interface Harness {
  mock: BinanceUsMock;
  clock: MockClock;
}

export async function startHarness(options: BinanceUsMockOptions = {}): Promise<Harness> {
  const clock = createMockClock();
  const mock = await startBinanceUsMock({ clock, ...options });
  return { mock, clock };
}

/**
 * Per-file lifecycle for the mock tests: every mock started and every probe connected
 * through it is closed after each test, even when one test starts several mocks.
 */
export function useMockLifecycle(): {
  start(options?: BinanceUsMockOptions): Promise<Harness>;
  /** `connect` plus cleanup after the test. */
  probe(url: string, opts?: { autoPong?: boolean }): Probe;
  /** `probe` that waits for the socket to open. */
  open(url: string, opts?: { autoPong?: boolean }): Promise<Probe>;
} {
  const mocks: BinanceUsMock[] = [];
  const probes: Probe[] = [];
  afterEach(async () => {
    for (const p of probes.splice(0)) p.ws.terminate();
    for (const m of mocks.splice(0)) await m.close();
  });
  const probe = (url: string, opts: { autoPong?: boolean } = {}): Probe => {
    const p = connect(url, opts);
    probes.push(p);
    return p;
  };
  return {
    async start(options = {}) {
      const h = await startHarness(options);
      mocks.push(h.mock);
      return h;
    },
    probe,
    async open(url, opts = {}) {
      const p = probe(url, opts);
      await p.opened;
      return p;
    },
  };
}

export interface RestReply {
  status: number;
  body: unknown;
  headers: Headers;
}

export async function rest(
  mock: BinanceUsMock,
  method: string,
  path: string,
  init: { apiKey?: string; query?: string; form?: string } = {},
): Promise<RestReply> {
  const headers: Record<string, string> = {};
  if (init.apiKey !== undefined) headers["X-MBX-APIKEY"] = init.apiKey;
  if (init.form !== undefined) headers["Content-Type"] = "application/x-www-form-urlencoded";
  const url = `${mock.restUrl}${path}${init.query ? `?${init.query}` : ""}`;
  const res = await fetch(url, {
    method,
    headers,
    ...(init.form !== undefined ? { body: init.form } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text === "" ? undefined : JSON.parse(text),
    headers: res.headers,
  };
}

export async function createKey(mock: BinanceUsMock, apiKey = KEY_A): Promise<string> {
  const r = await rest(mock, "POST", "/api/v3/userDataStream", { apiKey });
  if (r.status !== 200) throw new Error(`POST failed: ${JSON.stringify(r.body)}`);
  return (r.body as { listenKey: string }).listenKey;
}

export function sign(params: string, secret = SECRET): string {
  return `${params}&signature=${createHmac("sha256", secret).update(params).digest("hex")}`;
}

/** A WebSocket client that records everything it sees. */
export interface Probe {
  ws: WebSocket;
  messages: unknown[];
  pings: number;
  pongs: number;
  closed: { code: number; reason: string } | undefined;
  /** True when the server sent a close frame (ws reports 1006 when none came). */
  opened: Promise<void>;
  upgradeRejected: Promise<{ status: number; body: string }>;
}

export function connect(url: string, opts: { autoPong?: boolean } = {}): Probe {
  const ws = new WebSocket(url, { autoPong: opts.autoPong ?? true });
  let rejected!: (v: { status: number; body: string }) => void;
  const probe: Probe = {
    ws,
    messages: [],
    pings: 0,
    pongs: 0,
    closed: undefined,
    opened: new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    }),
    upgradeRejected: new Promise((resolve) => {
      rejected = resolve;
    }),
  };
  probe.opened.catch(() => {});
  ws.on("unexpected-response", (_req, res) => {
    let body = "";
    res.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    res.on("end", () => rejected({ status: res.statusCode ?? 0, body }));
  });
  ws.on("message", (data) => probe.messages.push(JSON.parse(String(data))));
  ws.on("ping", () => {
    probe.pings += 1;
  });
  ws.on("pong", () => {
    probe.pongs += 1;
  });
  ws.on("close", (code, reason) => {
    probe.closed = { code, reason: reason.toString("utf8") };
  });
  ws.on("error", () => {});
  return probe;
}

/** Waits (real time, short polls) for socket I/O the fake clock cannot speed up. */
export function until(check: () => void | Promise<void>): Promise<void> {
  return vi.waitFor(check, { timeout: 2000, interval: 5 });
}
