/**
 * A real local Redis Cluster for tests: six `redis-server` processes in cluster mode on
 * free ports (three masters, three replicas) joined by `redis-cli --cluster create`.
 * The processes are children of the test process: `stop()` kills them, and so does the
 * exit hook of `redis-server.ts` if the run dies first. Real waits here are forced by
 * external processes (cluster join, failover).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { type RedisServerProcess, startRedisServer } from "./redis-server.js";

/** True when both `redis-server` and `redis-cli` are on PATH. */
export function hasClusterTools(): boolean {
  const ok = (bin: string) => spawnSync(bin, ["--version"], { stdio: "ignore" }).status === 0;
  return ok("redis-server") && ok("redis-cli");
}

/** One node of the cluster as `CLUSTER NODES` reports it. */
export interface ClusterNodeInfo {
  readonly id: string;
  readonly port: number;
  readonly master: boolean;
  /** Reported failing (`fail` flag) by the node asked. */
  readonly failed: boolean;
  /** For a replica, the id of its master. */
  readonly masterId: string | undefined;
}

/** A running local cluster. */
export interface LocalCluster {
  readonly servers: readonly RedisServerProcess[];
  /** `host:port` of every node (seed list). */
  readonly seeds: readonly string[];
  /** Nodes as seen by the node on `askPort` (default: the first running one). */
  nodes(askPort?: number): Promise<ClusterNodeInfo[]>;
  /** Waits until every running node reports `cluster_state:ok` and `masters` masters. */
  waitHealthy(timeoutMs: number): Promise<void>;
  /** Kills every node and removes the working directory. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseNodes(text: string): ClusterNodeInfo[] {
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [id, addr, flags, masterId] = line.split(" ");
      const port = Number(addr!.split("@")[0]!.split(":")[1]);
      const f = flags!.split(",");
      return {
        id: id!,
        port,
        master: f.includes("master"),
        failed: f.includes("fail"),
        masterId: masterId === "-" ? undefined : masterId,
      };
    });
}

async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 });
  r.on("error", () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** Starts six nodes and creates the cluster (three masters, one replica each). */
export async function startLocalCluster(): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), "toolgate-cluster6-"));
  const servers: RedisServerProcess[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) {
      servers.push(
        await startRedisServer({
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            `nodes-${i}.conf`,
            "--cluster-node-timeout",
            "1000",
            "--cluster-announce-ip",
            "127.0.0.1",
            "--dir",
            dir,
          ],
        }),
      );
    }
    const seeds = servers.map((s) => `127.0.0.1:${s.port}`);
    const create = spawn(
      "redis-cli",
      ["--cluster", "create", ...seeds, "--cluster-replicas", "1", "--cluster-yes"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let log = "";
    const append = (d: unknown) => {
      log += String(d);
    };
    create.stdout.on("data", append);
    create.stderr.on("data", append);
    const code = await new Promise<number | null>((r) => create.once("exit", r));
    if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}): ${log}`);
    const cluster: LocalCluster = {
      servers,
      seeds,
      async nodes(askPort) {
        const port = askPort ?? servers.find((s) => s.running)!.port;
        return parseNodes(String(await ask(port, (r) => r.call("CLUSTER", "NODES"))));
      },
      async waitHealthy(timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const running = servers.filter((s) => s.running);
          const states = await Promise.all(
            running.map((s) =>
              ask(s.port, async (r) => {
                const info = String(await r.call("CLUSTER", "INFO"));
                const masters = parseNodes(String(await r.call("CLUSTER", "NODES"))).filter(
                  (n) => n.master && !n.failed,
                ).length;
                return info.includes("cluster_state:ok") && masters === 3;
              }).catch(() => false),
            ),
          );
          if (states.every(Boolean)) return;
          if (Date.now() > deadline) throw new Error(`cluster not healthy after ${timeoutMs} ms`);
          await sleep(100);
        }
      },
      stop,
    };
    await cluster.waitHealthy(30_000);
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}
