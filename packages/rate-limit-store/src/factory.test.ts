import { describe, expect, inject, it } from "vitest";
import { spec } from "../test/contract.js";
import { STORE_BACKENDS } from "./backends/registry.js";
import { RateLimitStoreErrorCode } from "./errors.js";
import { createCounterStore, StoreConfigSchema } from "./factory.js";

describe("StoreConfigSchema", () => {
  it("parses the one-line forms", () => {
    expect(StoreConfigSchema.parse("memory")).toEqual({ type: "memory" });
    expect(StoreConfigSchema.parse("redis://10.0.0.5:6379/2")).toEqual({
      type: "redis",
      url: "redis://10.0.0.5:6379/2",
    });
    expect(
      StoreConfigSchema.parse(
        "rediss://u:p@cache.example:6380/0?fail=open&insurance=true&timeout=250&prefix=tg:&family=6",
      ),
    ).toEqual({
      type: "redis",
      url: "rediss://u:p@cache.example:6380/0?family=6",
      fail: "open",
      insurance: true,
      commandTimeoutMs: 250,
      prefix: "tg:",
    });
  });

  it("parses a cluster seed list with credentials and the store's parameters", () => {
    expect(
      StoreConfigSchema.parse(
        "rediss-cluster://ops:p%40ss@10.0.0.5:7000,10.0.0.6:7001/?fail=open&timeout=250&sharding=scope&holdTimeout=90000",
      ),
    ).toEqual({
      type: "redis-cluster",
      nodes: ["10.0.0.5:7000", "10.0.0.6:7001"],
      tls: true,
      username: "ops",
      password: "p@ss",
      sharding: "scope",
      fail: "open",
      commandTimeoutMs: 250,
      holdTimeoutMs: 90_000,
    });
    expect(StoreConfigSchema.parse("redis-cluster://h:1")).toEqual({
      type: "redis-cluster",
      nodes: ["h:1"],
    });
    const bad = (s: string, re: RegExp) => {
      let msg = "";
      try {
        createCounterStore(s);
      } catch (err) {
        msg = (err as Error).message;
      }
      expect(msg).toMatch(re);
      // The password never shows in the error.
      expect(msg).not.toContain("s3cret");
    };
    bad("redis-cluster://u:s3cret@h:1,h2/?fail=open", /seed node "h2" must be host:port/);
    bad("redis-cluster://u:s3cret@h:1/2", /only database 0/);
    bad("redis-cluster://u:s3cret@h:1?family=6", /unknown parameter \?family/);
    bad("redis-cluster://u:s3cret@h:1?sharding=slot", /store\.sharding/);
  });

  it("picks the backend by URL scheme from the registry", () => {
    expect(STORE_BACKENDS.flatMap((b) => b.schemes)).toEqual([
      "memory:",
      "redis:",
      "rediss:",
      "redis-cluster:",
      "rediss-cluster:",
    ]);
    expect(StoreConfigSchema.parse("memory:")).toEqual({ type: "memory" });
    expect(StoreConfigSchema.parse("memory:?holdTimeout=120000")).toEqual({
      type: "memory",
      holdTimeoutMs: 120_000,
    });
    expect(StoreConfigSchema.parse("redis://h:1/0?holdTimeout=90000")).toEqual({
      type: "redis",
      url: "redis://h:1/0",
      holdTimeoutMs: 90_000,
    });
    expect(() => createCounterStore("memory:?fail=open")).toThrow(/unknown option \?fail/);
    expect(() => createCounterStore("memory:?holdTimeout=0")).toThrow(/store\.holdTimeoutMs/);
    expect(() => createCounterStore("postgres://db/x")).toThrow(
      /must be "memory", "redis:\/\/host:port\/db" or "rediss:\/\/host:port\/db"/,
    );
  });

  it("parses the object form", () => {
    expect(
      StoreConfigSchema.parse({ type: "redis", url: "redis://h:1/0", fail: "closed" }),
    ).toEqual({
      type: "redis",
      url: "redis://h:1/0",
      fail: "closed",
    });
  });

  it("explains what is wrong and how to write it", () => {
    expect(() => createCounterStore("mysql://x")).toThrow(
      /must be "memory", "redis:\/\/host:port\/db"/,
    );
    expect(() => createCounterStore("redis://h:1/0?fail=maybe")).toThrow(/store\.fail/);
    expect(() => createCounterStore("redis://h:1/0?insurance=yes")).toThrow(
      /insurance must be true or false/,
    );
    expect(() =>
      createCounterStore({ type: "redis", url: "redis://h:1", fail: "sideways" } as never),
    ).toThrow(/store\.fail/);
    try {
      createCounterStore("redis://admin:hunter2@h:1/0?timeout=-5");
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: RateLimitStoreErrorCode.CONFIG_INVALID });
      expect(String((err as Error).message)).not.toContain("hunter2");
      expect(String((err as Error).message)).toMatch(/commandTimeoutMs/);
    }
  });

  it("rejects bad runtime hooks with a typed error that names the option", () => {
    expect(() => createCounterStore("memory", { now: 42 } as never)).toThrow(
      expect.objectContaining({
        code: RateLimitStoreErrorCode.CONFIG_INVALID,
        message: expect.stringMatching(/createCounterStore runtime\.now/),
      }),
    );
  });
});

describe("createCounterStore", () => {
  it("builds a memory store by default name", async () => {
    let t = 0;
    const store = createCounterStore("memory", { now: () => t, ids: () => "ignored" });
    expect(store.name).toBe("memory");
    expect((await store.reserve([spec("f|grant|1", 1)])).admitted).toBe(true);
    t += 1000;
    expect((await store.reserve([spec("f|grant|1", 1)])).admitted).toBe(true);
    await store.close();
  });

  it("builds a working Redis store from a URL", async () => {
    const url = new URL(inject("redisUrl"));
    url.searchParams.set("prefix", `factory:${Date.now()}:`);
    url.searchParams.set("fail", "open");
    const store = createCounterStore(url.toString());
    expect(store.name).toBe("redis");
    expect(await store.ready()).toEqual({ ok: true, store: "redis" });
    const s = spec("f|grant|1", 1, 1, 60_000);
    expect((await store.reserve([s])).admitted).toBe(true);
    expect((await store.reserve([s])).admitted).toBe(false);
    await store.close();
  });
});
