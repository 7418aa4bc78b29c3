import { describe, expect, it } from "vitest";
import type { TestProject } from "vitest/node";
import setup from "./redis-global-setup.js";
import { freePort, pingRedis } from "./redis-server.js";

describe("redis global setup", () => {
  it("starts a private redis-server when REDIS_URL does not answer, and stops it at teardown", async () => {
    const saved = process.env.REDIS_URL;
    const dead = `redis://127.0.0.1:${await freePort()}`;
    process.env.REDIS_URL = dead;
    const provided: Record<string, unknown> = {};
    const project = {
      provide: (k: string, v: unknown) => {
        provided[k] = v;
      },
    } as unknown as TestProject;
    try {
      const teardown = await setup(project);
      const url = provided.redisUrl as string;
      expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(url).not.toBe(dead);
      expect(await pingRedis(url)).toBe(true);
      await teardown();
      expect(await pingRedis(url, 200)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL;
      else process.env.REDIS_URL = saved;
    }
  });
});
