/**
 * Real processes on loopback for the suite: gateways started with the real `toolgate
 * serve`, the fixture upstream, and the Binance.US mock. Their output goes to files in the
 * artifacts folder (see artifacts.ts), where the secrets scan reads it.
 *
 * Waiting here is real (an external process starts or stops), always bounded, and
 * polled in short steps.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { artifactSubdir } from "./artifacts.js";
import { SECRETS } from "./secrets.js";

/** `--import <tsx loader>` for children, whatever their cwd. */
export const TSX_IMPORT = ["--import", import.meta.resolve("tsx")];
/** The real gateway entry point. */
export const GATEWAY_BIN = join(
  dirname(fileURLToPath(import.meta.resolve("@toolgate/gateway"))),
  "bin.ts",
);
/** The fixture upstream server script. */
export const FIXTURE_SERVER = fileURLToPath(new URL("./fixture-server.ts", import.meta.url));

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/** Polls `check` every `stepMs` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 15_000,
  stepMs = 25,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** A child process whose stdout/stderr are both kept in memory and written to files. */
interface Spawned {
  child: ChildProcess;
  out(): string;
  exited: Promise<number | null>;
}

function spawnLogged(
  name: string,
  dir: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Spawned {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let text = "";
  const file = createWriteStream(join(dir, `${name}.log`), { flags: "a" });
  const keep = (d: Buffer) => {
    text += String(d);
    file.write(d);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      live.delete(child);
      // Let the last buffered output arrive before the file is closed.
      setImmediate(() => file.end());
      resolve(code);
    });
  });
  return { child, out: () => text, exited };
}

/** A running `toolgate serve`. */
export interface GatewayProcess {
  /** e.g. `http://127.0.0.1:41234` */
  readonly url: string;
  readonly mcpUrl: string;
  /** The gateway's folder (config, policies, audit log). */
  readonly dir: string;
  readonly child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
  /** The text of `/metrics` (also kept in the artifacts for the secrets scan). */
  metrics(): Promise<string>;
  /** One sample of `/metrics` (the first series of that name, labels ignored unless given). */
  metric(name: string, labels?: string): Promise<number>;
}

export interface GatewayOptions {
  /** A name for its artifacts folder and log file. */
  name: string;
  /** `toolgate.config.yaml` text. */
  config: string;
  /** Other files of its folder (policies...). */
  files?: Record<string, string>;
  /** Extra environment; API key and admin token are set from SECRETS. */
  env?: Record<string, string>;
  /** Start in this folder instead of a fresh one (several instances, one config). */
  dir?: string;
}

/** Starts the real `toolgate serve` on a free port and waits for its banner. */
export async function startGateway(opts: GatewayOptions): Promise<GatewayProcess> {
  const dir = opts.dir ?? artifactSubdir(opts.name);
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, "toolgate.config.yaml"), opts.config);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: "0",
    HOST: "127.0.0.1",
    TOOLGATE_API_KEY: SECRETS.agentKey,
    TOOLGATE_OTHER_KEY: SECRETS.otherKey,
    TOOLGATE_ADMIN_TOKEN: SECRETS.adminToken,
    UPSTREAM_TOKEN: SECRETS.upstreamToken,
    LOG_LEVEL: "info",
    ...opts.env,
  };
  const s = spawnLogged(
    opts.name,
    dir,
    [...TSX_IMPORT, GATEWAY_BIN, "serve", "--config", "toolgate.config.yaml"],
    env,
    dir,
  );
  const m = await waitFor(
    `gateway ${opts.name} to start`,
    () => {
      if (s.child.exitCode !== null)
        throw new Error(`exited with ${s.child.exitCode}:\n${s.out()}`);
      return /MCP endpoint\s+(http:\/\/\S+)\/mcp/.exec(s.out());
    },
    30_000,
    50,
  );
  const url = m[1] as string;
  let scrape = 0;
  const gw: GatewayProcess = {
    url,
    mcpUrl: `${url}/mcp`,
    dir,
    child: s.child,
    output: s.out,
    exited: s.exited,
    async stop() {
      if (s.child.exitCode === null) s.child.kill("SIGTERM");
      return s.exited;
    },
    async metrics() {
      const text = await (await fetch(`${url}/metrics`)).text();
      writeFileSync(join(dir, `metrics-${++scrape}.txt`), text);
      return text;
    },
    async metric(name, labels) {
      const text = await gw.metrics();
      for (const line of text.split("\n")) {
        if (!line.startsWith(name)) continue;
        const rest = line.slice(name.length);
        if (!(rest.startsWith(" ") || rest.startsWith("{"))) continue;
        if (labels && !rest.includes(labels)) continue;
        return Number(line.slice(line.lastIndexOf(" ") + 1));
      }
      return Number.NaN;
    },
  };
  return gw;
}

/** The fixture upstream over HTTP, restartable on the same port. */
export interface FixtureUpstream {
  readonly url: string;
  readonly port: number;
  /** Calls executed since the last (re)start: id -> times. */
  stats(): Promise<{
    calls: Record<string, number>;
    /** `hang` calls that arrived, and those the gateway cancelled, by id. */
    hung: string[];
    cancelled: string[];
    sessions: number;
    pid: number;
  }>;
  /** SIGKILL (a crash); resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the fixture upstream (see fixture-server.ts) over HTTP on a free port. */
export async function startFixtureUpstream(
  opts: { name?: string; token?: string } = {},
): Promise<FixtureUpstream> {
  const dir = artifactSubdir(opts.name ?? "upstream");
  const tokenArgs = opts.token ? ["--token", opts.token] : [];
  let port = 0;
  let current: Spawned | undefined;
  const launch = async () => {
    const s = spawnLogged(
      "upstream",
      dir,
      [...TSX_IMPORT, FIXTURE_SERVER, "--http", String(port), ...tokenArgs],
      { ...process.env },
      dir,
    );
    current = s;
    const m = await waitFor(
      "the fixture upstream to listen",
      () => {
        if (s.child.exitCode !== null)
          throw new Error(`exited with ${s.child.exitCode}:\n${s.out()}`);
        return /listening http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(s.out());
      },
      20_000,
      25,
    );
    port = Number(m[1]);
  };
  await launch();
  const up: FixtureUpstream = {
    get url() {
      return `http://127.0.0.1:${port}/mcp`;
    },
    get port() {
      return port;
    },
    async stats() {
      return (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as Awaited<
        ReturnType<FixtureUpstream["stats"]>
      >;
    },
    async kill() {
      if (current && current.child.exitCode === null) {
        current.child.kill("SIGKILL");
        await current.exited;
      }
    },
    async restart() {
      await up.kill();
      await launch();
    },
    async stop() {
      if (current && current.child.exitCode === null) {
        current.child.kill("SIGTERM");
        await current.exited;
      }
    },
  };
  return up;
}

/** Arguments for a stdio upstream entry running the fixture server (config `command`/`args`). */
export function fixtureStdioCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: [...TSX_IMPORT, FIXTURE_SERVER, "--stdio"] };
}

/** Opens an MCP session with the SDK client (Bearer key; default the agent grant's). */
export async function connectClient(
  mcpUrl: string,
  key: string = SECRETS.agentKey,
  capabilities: Record<string, unknown> = {},
): Promise<Client> {
  const client = new Client({ name: "reliability", version: "1.0.0" }, { capabilities });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

/**
 * Ends a session the way a well-behaved client does: `DELETE` (the SDK's
 * `terminateSession`), then closes the transport. `client.close()` alone leaves the
 * session on the server until its idle timeout.
 */
export async function endSession(client: Client): Promise<void> {
  const transport = client.transport as StreamableHTTPClientTransport | undefined;
  await transport?.terminateSession();
  await client.close();
}

/** Lines of a JSON-lines file (e.g. the audit log), parsed; missing file -> []. */
export function readJsonLines<T = Record<string, unknown>>(file: string): T[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as T);
}

/**
 * Sum of every sample of `name` in a `/metrics` text (all label sets, or only those whose
 * labels include `labels`), e.g. a counter's total over tools and codes. NaN when absent.
 */
export function metricSum(text: string, name: string, labels?: string): number {
  let sum = Number.NaN;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(" ") || rest.startsWith("{"))) continue;
    if (labels && !rest.includes(labels)) continue;
    sum = (Number.isNaN(sum) ? 0 : sum) + Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** One limit counter as `GET /admin/api/counters` reports it. */
export interface AdminCounter {
  grant: string;
  counter: string;
  used: number;
  max: number;
  resetAtMs: number;
}

/** The gateway's limit counters per grant, through its admin API (admin token from SECRETS). */
export async function adminCounters(gw: GatewayProcess): Promise<AdminCounter[]> {
  const res = await fetch(`${gw.url}/admin/api/counters`, {
    headers: { Authorization: `Bearer ${SECRETS.adminToken}` },
  });
  if (!res.ok) throw new Error(`GET /admin/api/counters answered ${res.status}`);
  return ((await res.json()) as { counters: AdminCounter[] }).counters;
}

/**
 * The head of most of the suite's configs: the fixture upstream `fx` at `upstreamUrl`
 * (with the gateway's own upstream credential when `upstreamToken` is set) and the grant
 * `agent`, whose key comes from TOOLGATE_API_KEY, on `policy.yaml`. Tests append the
 * lines that make them different (more grants, store, approvals...).
 */
export function fixtureConfigLines(
  upstreamUrl: string,
  opts: { upstreamToken?: boolean } = {},
): string[] {
  const headers = opts.upstreamToken
    ? `, headers: { Authorization: "Bearer \${UPSTREAM_TOKEN}" }`
    : "";
  return [
    "upstreams:",
    `  - { name: fx, url: "${upstreamUrl}"${headers} }`,
    "grants:",
    `  agent: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.yaml }`,
  ];
}
