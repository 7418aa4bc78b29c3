/**
 * The one load generator of the end-to-end benchmarks (the middleware's and the
 * gateway's): raw JSON-RPC POSTs over keep-alive sockets (the SDK client would spend
 * more CPU per call than the servers it measures, on the same two cores), an MCP
 * session or a stateless 2026 target, closed-loop load at a given concurrency,
 * interleaved rounds with per-process CPU time, and the small statistics they report.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";

/** The 2025 revision sessions are opened with. */
export const SESSION_PROTOCOL = "2025-11-25";
/** The stateless revision (no initialize; the version rides in every request). */
export const STATELESS_PROTOCOL = "2026-07-28";

/** One MCP endpoint: port, headers (auth, session), sockets, and the call it gets. */
export interface LoadTarget {
  readonly port: number;
  readonly headers: Record<string, string>;
  readonly agent: Agent;
  /** Builds the body of call number `id`. */
  readonly body: (id: number) => string;
  /** True when an answer is the expected success (anything else stops the bench). */
  readonly ok: (status: number, text: string) => boolean;
}

/**
 * Idle keep-alive sockets are dropped after this long, before a Node server's own 5 s
 * keep-alive timeout: otherwise a socket idle while other sides ran could be reused at
 * the moment the server closes it, and the call would fail with a reset.
 */
export const IDLE_MS = 4000;

/** A raw answer. */
export interface RawReply {
  readonly status: number;
  readonly text: string;
  readonly sid: string | undefined;
}

/** One POST to /mcp on the target's keep-alive sockets. */
export function postRaw(
  t: Pick<LoadTarget, "port" | "headers" | "agent">,
  body: string,
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: t.port,
        path: "/mcp",
        method: "POST",
        agent: t.agent,
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "content-length": Buffer.byteLength(body),
          ...t.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const sid = res.headers["mcp-session-id"];
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
            sid: typeof sid === "string" ? sid : undefined,
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** `tools/call echo` with `{ message: "hello" }`, as a 2025 (session) request. */
const echoBody = (id: number) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}`;

/** The same call as a stateless 2026 request (version and client info in `_meta`). */
const echoBodyStateless = (id: number) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"${STATELESS_PROTOCOL}","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`;

/** Success check: HTTP 200, the expected text, no tool error (a refusal would flatter). */
export const answerContains =
  (text: string) =>
  (status: number, body: string): boolean =>
    status === 200 && body.includes(text) && !body.includes('"isError":true');

/** Options of {@link openTarget}. */
export interface TargetOptions {
  /** Stateless 2026 requests instead of a 2025 session. Default false. */
  readonly stateless?: boolean;
  /** What a successful answer contains. Default `"hello"`. */
  readonly expect?: string;
}

/**
 * A target on `port` with up to `sockets` keep-alive connections: a 2025 session
 * (initialize + initialized; a stateless upstream answers without a session id and calls
 * go without one), or stateless 2026 requests, which any instance behind a balancer can
 * serve.
 */
export async function openTarget(
  port: number,
  auth: Record<string, string>,
  sockets: number,
  options: TargetOptions = {},
): Promise<LoadTarget> {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, timeout: IDLE_MS });
  const ok = answerContains(options.expect ?? "hello");
  if (options.stateless === true) {
    return {
      port,
      agent,
      headers: {
        ...auth,
        "mcp-protocol-version": STATELESS_PROTOCOL,
        "mcp-method": "tools/call",
        "mcp-name": "echo",
      },
      body: echoBodyStateless,
      ok,
    };
  }
  const t: LoadTarget = { port, agent, headers: { ...auth }, body: echoBody, ok };
  const init = await postRaw(
    t,
    JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: SESSION_PROTOCOL,
        capabilities: {},
        clientInfo: { name: "bench", version: "1" },
      },
    }),
  );
  if (init.status !== 200) throw new Error(`initialize failed: HTTP ${init.status} ${init.text}`);
  if (init.sid !== undefined) t.headers["mcp-session-id"] = init.sid;
  t.headers["mcp-protocol-version"] = SESSION_PROTOCOL;
  await postRaw(t, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  return t;
}

/** Throughput and latency of one batch of calls. */
export interface LoadStats {
  readonly calls: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Sends `calls` calls with `concurrency` in flight (closed loop). */
export async function runLoad(
  t: LoadTarget,
  concurrency: number,
  calls: number,
): Promise<LoadStats> {
  const latencies: number[] = [];
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < calls) {
      const id = ++started;
      const t0 = process.hrtime.bigint();
      const r = await postRaw(t, t.body(id));
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (!t.ok(r.status, r.text))
        throw new Error(`unexpected answer: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    calls,
    seconds,
    rps: calls / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
  };
}

/** What {@link interleave} measured: load stats and CPU ms per side and process. */
export interface Interleaved<S extends string> {
  readonly stats: Record<S, LoadStats[]>;
  /** CPU ms each watched process spent while each side ran. */
  readonly cpuMs: Record<S, Record<string, number>>;
}

/**
 * Runs `rounds` rounds over `sides`, rotating the order each round so drift and other
 * load on the machine hit every side alike; while a side runs, the CPU time of every
 * process in `pids` is charged to it. Ratios are then taken round by round.
 */
export async function interleave<S extends string>(
  sides: readonly S[],
  rounds: number,
  pids: Readonly<Record<string, number | undefined>>,
  run: (side: S) => Promise<LoadStats>,
): Promise<Interleaved<S>> {
  const stats = {} as Record<S, LoadStats[]>;
  const cpu = {} as Record<S, Record<string, number>>;
  for (const s of sides) {
    stats[s] = [];
    cpu[s] = Object.fromEntries(Object.keys(pids).map((p) => [p, 0]));
  }
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(r + k) % sides.length]!;
      const before = Object.entries(pids).map(([p, pid]) => [p, cpuMs(pid)] as const);
      stats[side].push(await run(side));
      const acc: Record<string, number> = cpu[side];
      for (const [p, c0] of before) acc[p] = (acc[p] ?? 0) + cpuMs(pids[p]) - c0;
    }
  }
  return { stats, cpuMs: cpu };
}

/** CPU time (user + system, ms) a process has used so far; Linux only, else NaN. */
export function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Median of a list of numbers (NaN when empty). */
export function median(xs: readonly number[]): number {
  const v = [...xs].sort((x, y) => x - y);
  if (v.length === 0) return Number.NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** The `q` quantile (nearest rank) of a list of numbers (NaN when empty). */
export function quantile(xs: readonly number[], q: number): number {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor(v.length * q))] ?? Number.NaN;
}

/** Rounds to `d` decimals. */
export const round = (n: number, d = 3): number => Math.round(n * 10 ** d) / 10 ** d;
