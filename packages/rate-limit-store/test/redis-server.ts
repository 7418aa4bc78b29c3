/**
 * Helpers for tests that need a real Redis: probe one, or run private `redis-server`
 * processes on free ports for fault tests (kill, restart, freeze) without touching the
 * shared instance. Real short waits here are forced by an external process starting.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { connect, createServer } from "node:net";

/** How to get a Redis when none is available; used in error messages. */
export const INSTALL_HINT =
  "install it (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis) " +
  "or point REDIS_URL at a running Redis, e.g. REDIS_URL=redis://127.0.0.1:6379";

/** Asks the OS for a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when something at `url` answers PING with PONG within `timeoutMs`. */
export function pingRedis(url: string, timeoutMs = 500): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname || "127.0.0.1", port: Number(u.port || 6379) });
    let buf = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on("error", () => done(false));
    socket.on("connect", () => {
      const pass = u.password ? decodeURIComponent(u.password) : "";
      const user = u.username ? decodeURIComponent(u.username) : "";
      if (pass) socket.write(user ? `AUTH ${user} ${pass}\r\n` : `AUTH ${pass}\r\n`);
      socket.write("PING\r\n");
    });
    socket.on("data", (d) => {
      buf += d.toString("utf8");
      if (buf.includes("+PONG")) done(true);
      else if (buf.includes("-")) done(false);
    });
  });
}

/** True when a `redis-server` binary is on PATH. */
export function hasRedisServer(): boolean {
  const r = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  return r.status === 0;
}

/** A private redis-server child process bound to 127.0.0.1 on its own port. */
export interface RedisServerProcess {
  readonly port: number;
  readonly url: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** Starts it (again) on the same port and resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGKILLs it (a crash, not a shutdown) and resolves when it has exited. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: Redis stops answering without closing connections. */
  freeze(): void;
  thaw(): void;
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of children) c.kill("SIGKILL");
  });
}

async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Spawns a throw-away `redis-server` (no persistence) on a free port; `args` are appended
 * to its command line (e.g. cluster mode). Throws with an
 * install hint when the binary is missing. Call `kill()` when done; the process is also
 * killed when the test process exits.
 */
export async function startRedisServer(
  options: { port?: number; args?: readonly string[] } = {},
): Promise<RedisServerProcess> {
  if (!hasRedisServer()) throw new Error(`redis-server is not installed: ${INSTALL_HINT}`);
  installExitHook();
  const port = options.port ?? (await freePort());
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const server: RedisServerProcess = {
    port,
    url,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      if (server.running) return;
      const c = spawn(
        "redis-server",
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--save",
          "",
          "--appendonly",
          "no",
          "--loglevel",
          "warning",
          ...(options.args ?? []),
        ],
        { stdio: "ignore" },
      );
      child = c;
      children.add(c);
      c.once("exit", () => children.delete(c));
      await waitUntil(() => pingRedis(url, 200), 5000, `redis-server on port ${port}`);
    },
    async kill() {
      const c = child;
      if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGCONT");
      c.kill("SIGKILL");
      await exited;
    },
    freeze() {
      child?.kill("SIGSTOP");
    },
    thaw() {
      child?.kill("SIGCONT");
    },
  };
  await server.start();
  return server;
}
