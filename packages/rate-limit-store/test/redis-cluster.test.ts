/**
 * Redis Cluster refuses a script whose keys live in different hash slots (CROSSSLOT),
 * even on a single node. A one-node cluster therefore proves that every key a call
 * touches (counters and settle marker) shares the store's hash tag.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore } from "../src/redis-store.js";
import { spec } from "./contract.js";
import { type RedisServerProcess, startRedisServer } from "./redis-server.js";

describe("redis store on Redis Cluster", () => {
  let server: RedisServerProcess;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "toolgate-cluster-"));
    server = await startRedisServer({
      args: ["--cluster-enabled", "yes", "--cluster-announce-ip", "127.0.0.1", "--dir", dir],
    });
    const admin = new Redis(server.url);
    await admin.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
    for (let i = 0; i < 100; i++) {
      const info = String(await admin.call("CLUSTER", "INFO"));
      if (info.includes("cluster_state:ok")) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    admin.disconnect();
  });
  afterAll(async () => {
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reserves several scopes in one script, rolls back and commits without CROSSSLOT", async () => {
    const cluster = new Cluster([{ host: "127.0.0.1", port: server.port }], {
      enableOfflineQueue: true,
      redisOptions: { commandTimeout: 1000 },
    });
    // Control: this node does reject keys from different slots in one script.
    await expect(cluster.eval("return 1", 2, "tool|grant|a", "all|global|*")).rejects.toThrow(
      /CROSSSLOT/,
    );
    const store = createRedisStore({ client: cluster, prefix: "cl:" });
    const specs = [
      spec("tool|grant|a", 2, 1, 60_000),
      spec("all|global|*", 5, 1, 60_000),
      spec("s|session|x", 9, 1, 60_000),
    ];
    const a = await store.reserve(specs);
    expect(a).toMatchObject({ admitted: true });
    expect(a.degraded).toBeUndefined();
    const b = await store.reserve(specs);
    expect((await store.reserve(specs)).admitted).toBe(false);
    if (!a.admitted || !b.admitted) throw new Error("expected admissions");
    await store.rollback(a.reservation);
    await store.commit(b.reservation);
    expect((await store.peek(specs)).map((s) => s.used)).toEqual([1, 1, 1]);
    expect(store.stats().errors).toBe(0);
    await store.close();
    await cluster.quit();
  });
});
