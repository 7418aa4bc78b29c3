import { randomUUID } from "node:crypto";
import type { CounterSpec, MeteredCounterStore, ReserveOutcome } from "@toolgate/policy-engine";
import { createMemoryStore } from "@toolgate/policy-engine";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { MARKER_RIDE_MS } from "../src/redis/commit-batch.js";
import { createRedisStore } from "../src/redis-store.js";
import { runStoreContract, spec, WINDOW_MS } from "./contract.js";
import { startRedisServer } from "./redis-server.js";
import { runSmoothContract } from "./smooth-contract.js";

/** Reserves `specs`, which must be admitted; the reservation. */
async function admit(store: MeteredCounterStore, specs: readonly CounterSpec[]) {
  const o = await store.reserve(specs);
  if (!o.admitted) throw new Error("expected admission");
  return o.reservation;
}

const url = inject("redisUrl");
const prefix = () => `test:${randomUUID()}:`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const redisHarness = async () => {
  const store = createRedisStore({ url, prefix: prefix() });
  await store.ready();
  return {
    store,
    slackMs: 15,
    advance: (ms: number) => sleep(ms),
    close: () => store.close(),
  };
};
runStoreContract("redis", redisHarness);
runSmoothContract("redis", redisHarness);

describe("redis store: exact across instances", () => {
  const stores: MeteredCounterStore[] = [];
  let p: string;
  beforeAll(async () => {
    p = prefix();
    // Four stores, four connections: four gateway processes as far as Redis can tell.
    for (let i = 0; i < 4; i++) stores.push(createRedisStore({ url, prefix: p }));
    await Promise.all(stores.map((s) => s.ready()));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  const fire = (specs: Parameters<MeteredCounterStore["reserve"]>[0], total: number) =>
    Promise.all(Array.from({ length: total }, (_, i) => stores[i % 4]!.reserve(specs)));

  it("admits exactly 100 of 1,000 concurrent reservations at max 100", async () => {
    const s = spec("burst|grant|demo", 100, 1, 60_000);
    const outs = await fire([s], 1000);
    expect(outs.filter((o) => o.admitted)).toHaveLength(100);
    expect(outs.every((o) => o.degraded === undefined)).toBe(true);
    expect((await stores[0]!.peek([s]))[0]!.used).toBe(100);
  });

  it("with three limits per call only the tightest binds, and rollback restores exactly", async () => {
    const specs = [
      spec("all|global|*", 1000, 1, 60_000),
      spec("tool|grant|x", 100, 1, 60_000),
      spec("shared|grant|x", 300, 1, 60_000),
    ];
    const outs = await fire(specs, 1000);
    const ok = outs.filter((o): o is Extract<ReserveOutcome, { admitted: true }> => o.admitted);
    expect(ok).toHaveLength(100);
    const refused = outs.filter((o) => !o.admitted);
    expect(refused.every((o) => !o.admitted && o.blockedBy === 1)).toBe(true);
    expect((await stores[1]!.peek(specs)).map((c) => c.used)).toEqual([100, 100, 100]);
    // Roll back half from different instances than reserved them, each twice.
    const half = ok.slice(0, 50);
    await Promise.all(
      half.flatMap((o, i) => [
        stores[(i + 1) % 4]!.rollback(o.reservation),
        stores[(i + 2) % 4]!.rollback(o.reservation),
      ]),
    );
    expect((await stores[2]!.peek(specs)).map((c) => c.used)).toEqual([50, 50, 50]);
    // Exactly 50 more fit again.
    const again = await fire(specs, 200);
    expect(again.filter((o) => o.admitted)).toHaveLength(50);
  });

  it("answers keys already over their limit locally, without admitting what Redis refuses", async () => {
    const s = spec("hot|grant|y", 5, 1, 60_000);
    const before = stores[0]!.stats().localRefusals;
    const outs = [];
    for (let i = 0; i < 20; i++) outs.push(await stores[0]!.reserve([s]));
    expect(outs.filter((o) => o.admitted)).toHaveLength(5);
    expect(stores[0]!.stats().localRefusals - before).toBe(14);
    const local = outs[19]!;
    expect(local.admitted).toBe(false);
    if (!local.admitted) expect(local.retryAfterMs).toBeGreaterThan(59_000);
    // A rollback on this instance clears the mark: the freed unit is admitted again.
    const first = outs[0]!;
    if (!first.admitted) throw new Error("first call must be admitted");
    await stores[0]!.rollback(first.reservation);
    expect((await stores[0]!.reserve([s])).admitted).toBe(true);
  });
});

describe("redis store: local refusals across instances", () => {
  it("a rollback elsewhere is seen here at the latest after localRefusalMaxMs", async () => {
    let t = Date.now();
    const p = prefix();
    const a = createRedisStore({ url, prefix: p, now: () => t, localRefusalMaxMs: 1000 });
    const b = createRedisStore({ url, prefix: p });
    const s = spec("xi|grant|1", 2, 1, 60_000);
    const first = await b.reserve([s]);
    await b.reserve([s]);
    expect((await a.reserve([s])).admitted).toBe(false); // Redis refuses, A remembers
    if (!first.admitted) throw new Error("expected admission");
    await b.rollback(first.reservation);
    const local = a.stats().localRefusals;
    expect((await a.reserve([s])).admitted).toBe(false); // conservative, from memory
    expect(a.stats().localRefusals).toBe(local + 1);
    t += 1000;
    expect((await a.reserve([s])).admitted).toBe(true); // mark expired: asks Redis again
    expect((await b.peek([s]))[0]!.used).toBe(2);
    await Promise.all([a.close(), b.close()]);
  });
});

describe("redis store: clocks", () => {
  it("a local refusal never outlives the window, however slow the reply was", async () => {
    // The clock jumps 400 ms while each call is in flight (a slow network or event loop).
    let t = 1_000_000;
    let inFlightJump = 400;
    const p = prefix();
    const a = createRedisStore({
      url,
      prefix: p,
      localRefusalMaxMs: 600_000,
      now: () => {
        const v = t;
        t += inFlightJump;
        return v;
      },
    });
    const s = spec("slow|grant|1", 1, 1, 2_000);
    expect((await a.reserve([s])).admitted).toBe(true);
    const sent = t;
    expect((await a.reserve([s])).admitted).toBe(false); // Redis refuses; A remembers
    inFlightJump = 0;
    // 2,050 ms after the refused call was sent the window (2,000 ms, less already) is
    // over by this clock: the mark must be gone and the call go to Redis.
    t = sent + 2_050;
    const local = a.stats().localRefusals;
    await a.reserve([s]);
    expect(a.stats().localRefusals).toBe(local);
    await a.close();
  });

  it("settle markers expire by the Redis clock, not a skewed gateway clock", async () => {
    const p = prefix();
    const raw = new Redis(url);
    // A gateway whose clock runs three hours ahead of Redis.
    const a = createRedisStore({ url, prefix: p, now: () => Date.now() + 3 * 3_600_000 });
    const s = spec("skew|grant|1", 5, 1, 2 * 3_600_000);
    const out = await a.reserve([s]);
    if (!out.admitted) throw new Error("expected admission");
    await a.commit(out.reservation);
    const window = await raw.pexpiretime(`${p}{rl}:c:skew|grant|1`);
    const marker = await raw.pexpiretime(`${p}{rl}:r:${out.reservation.id}`);
    // The marker must outlive the window, or a late rollback would undo the commit.
    expect(marker).toBeGreaterThanOrEqual(window);
    await a.rollback(out.reservation);
    expect((await a.peek([s]))[0]!.used).toBe(1);
    const empty = await a.reserve([]);
    if (!empty.admitted) throw new Error("expected admission");
    await a.commit(empty.reservation);
    expect(await raw.exists(`${p}{rl}:r:${empty.reservation.id}`)).toBe(0);
    await a.close();
    await raw.quit();
  });
});

describe("redis store: windows, scripts and connections", () => {
  it("keeps window and retry semantics identical to the memory store for the same sequence", async () => {
    let t = Date.now();
    const mem = createMemoryStore({ now: () => t, sweepIntervalMs: 0 });
    const red = createRedisStore({ url, prefix: prefix() });
    const seq = [3, 4, 4, 2, 1, 0, 1, 5, 0.5];
    for (const w of seq) {
      const s = spec("eq|grant|z", 10, w, 60_000);
      const [a, b] = [await mem.reserve([s]), await red.reserve([s])];
      expect(b.admitted, `weight ${w}`).toBe(a.admitted);
      expect(b.counters[0]?.used).toBe(a.counters[0]?.used);
      t += 1;
    }
    await Promise.all([mem.close(), red.close()]);
  });

  it("adds fractional weights in the same doubles as the memory store, to the last bit", async () => {
    let t = Date.now();
    const mem = createMemoryStore({ now: () => t, sweepIntervalMs: 0 });
    const red = createRedisStore({ url, prefix: prefix() });
    // 0.1 + 0.2 is 0.30000000000000004 in doubles; a counter that says 0.3 would admit a
    // call at max 0.6 + 0.3 that the memory store refuses.
    const seq = [0.1, 0.2, 0.3, 1 / 3, 0.1, 0.2, 0.05, 0.1, 0.2];
    for (const [i, w] of seq.entries()) {
      const s = spec("frac|grant|z", 1.1, w, 60_000);
      // Odd steps name the key twice in one call (the Lua multi-key path).
      const specs = i % 2 === 1 ? [s, s] : [s];
      const [a, b] = [await mem.reserve(specs), await red.reserve(specs)];
      expect(b.admitted, `step ${i}`).toBe(a.admitted);
      expect(
        b.counters.map((c) => c.used),
        `step ${i}`,
      ).toEqual(a.counters.map((c) => c.used));
      if (a.admitted && b.admitted && i === 3) {
        await Promise.all([mem.rollback(a.reservation), red.rollback(b.reservation)]);
      }
      expect((await red.peek([s]))[0]!.used, `step ${i}`).toBe((await mem.peek([s]))[0]!.used);
      t += 1;
    }
    await Promise.all([mem.close(), red.close()]);
  });

  it("gives retry times from the real window and admits again after it", async () => {
    const store = createRedisStore({ url, prefix: prefix(), localRefusalMaxMs: 0 });
    const s = spec("short|grant|a", 2, 1, WINDOW_MS);
    await store.reserve([s]);
    await store.reserve([s]);
    const refused = await store.reserve([s]);
    if (refused.admitted) throw new Error("expected refusal");
    expect(refused.retryAfterMs).toBeGreaterThan(WINDOW_MS - 100);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(WINDOW_MS);
    await sleep(refused.retryAfterMs + 15);
    expect((await store.reserve([s])).admitted).toBe(true);
    await store.close();
  });

  it("reloads its scripts after SCRIPT FLUSH (NOSCRIPT) without degrading", async () => {
    const admin = new Redis(url);
    const store = createRedisStore({ url, prefix: prefix() });
    const s = spec("ns|grant|a", 10, 1, 60_000);
    expect((await store.reserve([s])).admitted).toBe(true);
    await admin.script("FLUSH");
    const out = await store.reserve([s]);
    expect(out.admitted).toBe(true);
    expect(out.degraded).toBeUndefined();
    expect((await store.peek([s]))[0]!.used).toBe(2);
    // Concurrent calls travel auto-pipelined: that path must reload the script too.
    await admin.script("FLUSH");
    const many = await Promise.all(
      Array.from({ length: 50 }, () => store.reserve([spec("ns|grant|b", 100, 1, 60_000)])),
    );
    expect(many.every((o) => o.admitted && o.degraded === undefined)).toBe(true);
    await store.close();
    admin.disconnect();
  });

  it("keeps counting across a reconnect (connection killed server-side)", async () => {
    const server = await startRedisServer();
    const admin = new Redis(server.url);
    const store = createRedisStore({ url: server.url, prefix: prefix(), maxReconnectDelayMs: 50 });
    const s = spec("rc|grant|a", 10, 1, 60_000);
    for (let i = 0; i < 3; i++) await store.reserve([s]);
    await admin.client("KILL", "TYPE", "normal", "SKIPME", "yes");
    let out: ReserveOutcome | undefined;
    for (let i = 0; i < 100; i++) {
      out = await store.reserve([s]);
      if (out.admitted && out.degraded === undefined) break;
      await sleep(20);
    }
    expect(out?.admitted && out.degraded === undefined).toBe(true);
    expect((await store.peek([s]))[0]!.used).toBe(4);
    await store.close();
    admin.disconnect();
    await server.kill();
  });

  it("shares one hash tag across a call's keys and prefixes them", async () => {
    const admin = new Redis(url);
    const p = prefix();
    const store = createRedisStore({ url, prefix: p, hashTag: "tg" });
    await store.reserve([spec("a|grant|1", 5, 1, 60_000), spec("b|global|*", 5, 1, 60_000)]);
    const keys = (await admin.keys(`${p}*`)).sort();
    expect(keys).toEqual([`${p}{tg}:c:a|grant|1`, `${p}{tg}:c:b|global|*`]);
    await store.close();
    admin.disconnect();
  });

  it("accepts a caller-owned ioredis client and leaves it open on close", async () => {
    const client = new Redis(url, { enableOfflineQueue: false, lazyConnect: false });
    const store = createRedisStore({ client, prefix: prefix() });
    expect((await store.ready()).ok).toBe(true);
    expect((await store.reserve([spec("own|grant|1", 1)])).admitted).toBe(true);
    await store.close();
    expect(await client.ping()).toBe("PONG");
    client.disconnect();
  });

  it("commits issued in one tick go out as one command, and each stays final", async () => {
    const client = new Redis(url, { enableOfflineQueue: false });
    const p = prefix();
    const store = createRedisStore({ client, prefix: p });
    const specs = [spec("batch|grant|1", 100)];
    const outs = await Promise.all(Array.from({ length: 20 }, () => store.reserve(specs)));
    const rs = outs.map((o) => {
      if (!o.admitted) throw new Error("expected admissions");
      return o.reservation;
    });
    // One of them is rolled back first: its commit must not turn it into a committed one.
    await store.rollback(rs[0]!);
    // Every command the store sends goes through the client's sendCommand.
    const sent = vi.spyOn(client, "sendCommand");
    const named = (name: string) => sent.mock.calls.filter(([c]) => c.name === name).length;
    // A script goes out as EVAL the first time on a connection, EVALSHA afterwards.
    const scripts = () => named("evalsha") + named("eval");
    await Promise.all(rs.map((r) => store.commit(r)));
    expect(sent).toHaveBeenCalledTimes(1);
    expect(scripts()).toBe(1);
    expect(named("set")).toBe(0);
    const markers = await client.mget(...rs.map((r) => `${p}{rl}:r:${r.id}`));
    expect(markers).toEqual(["rolled-back", ...Array(19).fill("committed")]);
    // Final: a rollback on another instance gives nothing back.
    const other = createRedisStore({ url, prefix: p });
    for (const r of rs.slice(1)) await other.rollback(r);
    expect((await other.peek(specs))[0]!.used).toBe(19);
    // A lone commit is a plain SET.
    const last = await store.reserve(specs);
    if (!last.admitted) throw new Error("expected admission");
    await store.commit(last.reservation);
    expect(await client.get(`${p}{rl}:r:${last.reservation.id}`)).toBe("committed");
    expect(named("set")).toBe(1);
    expect(scripts()).toBe(2); // the last reserve, and still the one commit script
    await store.close();
    await other.close();
    client.disconnect();
  });

  it("a commit marker rides with the next reservation (one write), or goes alone when idle", async () => {
    const client = new Redis(url, { enableOfflineQueue: false });
    const p = prefix();
    const store = createRedisStore({ client, prefix: p });
    const specs = [spec("ride|grant|1", 100)];
    const first = await store.reserve(specs);
    if (!first.admitted) throw new Error("expected admission");
    const sent = vi.spyOn(client, "sendCommand");
    const stream = client.stream as unknown as { _writev?: unknown; _write: unknown };
    const writes = vi.spyOn(stream as { _write: (...a: unknown[]) => void }, "_write");
    const writevs = stream._writev
      ? vi.spyOn(stream as { _writev: (...a: unknown[]) => void }, "_writev")
      : undefined;
    const committed = store.commit(first.reservation);
    // Not sent on its own right away: it waits for the next reservation.
    expect(sent).not.toHaveBeenCalled();
    const second = await store.reserve(specs);
    expect(sent.mock.calls.map(([c]) => c.name)).toEqual(["set", "evalsha"]);
    // Marker and reservation left in one socket write.
    expect(writes.mock.calls.length + (writevs?.mock.calls.length ?? 0)).toBe(1);
    await committed;
    expect(await client.get(`${p}{rl}:r:${first.reservation.id}`)).toBe("committed");
    // Idle: with nothing in flight no reservation is sure to come, so the marker goes out
    // on its own at the end of the turn (no 5 ms wait: an awaited commit stays one trip).
    if (!second.admitted) throw new Error("expected admission");
    sent.mockClear();
    const timers = vi.spyOn(globalThis, "setTimeout");
    await store.commit(second.reservation);
    expect(timers).not.toHaveBeenCalled();
    timers.mockRestore();
    expect(sent.mock.calls.map(([c]) => c.name)).toEqual(["set"]);
    expect(await client.get(`${p}{rl}:r:${second.reservation.id}`)).toBe("committed");
    await store.close();
    client.disconnect();
  });

  it("while another reservation is open, a marker waits for the next one even when the connection is idle", async () => {
    const client = new Redis(url, { enableOfflineQueue: false });
    const p = prefix();
    const store = createRedisStore({ client, prefix: p });
    const specs = [spec("open|grant|1", 100)];
    const admitted = () => admit(store, specs);
    const a = await admitted();
    const b = await admitted(); // still open: its call is in flight
    const sent = vi.spyOn(client, "sendCommand");
    const timers = vi.spyOn(globalThis, "setTimeout");
    const committed = store.commit(a);
    // Nothing in flight on the connection, yet b's commit (or rollback) and more
    // reservations are coming: the marker waits for a ride, MARKER_RIDE_MS at most.
    expect(timers.mock.calls.map(([, ms]) => ms)).toEqual([MARKER_RIDE_MS]);
    await new Promise<void>((r) => setImmediate(r));
    expect(sent).not.toHaveBeenCalled();
    const c = await admitted();
    expect(sent.mock.calls.map(([cmd]) => cmd.name)).toEqual(["set", "evalsha"]);
    await committed;
    expect(await client.get(`${p}{rl}:r:${a.id}`)).toBe("committed");
    // No reservation comes: the timer sends the marker on its own.
    sent.mockClear();
    timers.mockClear();
    const late = store.commit(b);
    const [[fire, ms]] = timers.mock.calls as unknown as [[() => void, number]];
    expect(ms).toBe(MARKER_RIDE_MS);
    expect(sent).not.toHaveBeenCalled();
    fire();
    await late;
    expect(sent.mock.calls.map(([cmd]) => cmd.name)).toEqual(["set"]);
    expect(await client.get(`${p}{rl}:r:${b.id}`)).toBe("committed");
    // A rollback closes its reservation too: the last commit has nothing open beside it,
    // so it goes out at the end of the turn without a timer.
    const d = await admitted();
    await store.rollback(c);
    timers.mockClear();
    await store.commit(d);
    expect(timers).not.toHaveBeenCalled();
    timers.mockRestore();
    expect(await client.get(`${p}{rl}:r:${d.id}`)).toBe("committed");
    await store.close();
    client.disconnect();
  });

  it("a reservation never settled makes at most one later commit wait for a ride", async () => {
    const client = new Redis(url, { enableOfflineQueue: false });
    const p = prefix();
    const store = createRedisStore({ client, prefix: p });
    const specs = [spec("leak|grant|1", 100)];
    const admitted = () => admit(store, specs);
    await admitted(); // its caller never commits nor rolls it back
    const timers = vi.spyOn(globalThis, "setTimeout");
    try {
      const first = await admitted();
      const waiting = store.commit(first);
      // The forgotten one still counts as open: this marker waits for a ride...
      const rides = timers.mock.calls.filter(([, ms]) => ms === MARKER_RIDE_MS);
      expect(rides).toHaveLength(1);
      // ...none comes, and the timer sends it.
      (rides[0]![0] as () => void)();
      await waiting;
      expect(await client.get(`${p}{rl}:r:${first.id}`)).toBe("committed");
      // From then on an awaited commit is one round trip again (no timer).
      timers.mockClear();
      for (let i = 0; i < 3; i++) {
        const r = await admitted();
        await store.commit(r);
        expect(await client.get(`${p}{rl}:r:${r.id}`)).toBe("committed");
      }
      expect(timers.mock.calls.filter(([, ms]) => ms === MARKER_RIDE_MS)).toHaveLength(0);
    } finally {
      timers.mockRestore();
    }
    await store.close();
    client.disconnect();
  });

  it("while reservations keep coming and commits are not awaited (a gateway), every marker rides with the next one", async () => {
    const client = new Redis(url, { enableOfflineQueue: false });
    const p = prefix();
    const store = createRedisStore({ client, prefix: p });
    const specs = [spec("stream|grant|1", 1_000_000)];
    const inFlight = await admit(store, specs); // another call, open throughout
    let current = await admit(store, specs);
    const sent = vi.spyOn(client, "sendCommand");
    const stream = client.stream as unknown as { _writev?: unknown; _write: unknown };
    const writes = vi.spyOn(stream as { _write: (...a: unknown[]) => void }, "_write");
    const writevs = stream._writev
      ? vi.spyOn(stream as { _writev: (...a: unknown[]) => void }, "_writev")
      : undefined;
    const written = () => writes.mock.calls.length + (writevs?.mock.calls.length ?? 0);
    const committed: Promise<void>[] = [];
    const tick = () => new Promise<void>((r) => setImmediate(r));
    for (let i = 0; i < 40; i++) {
      await sleep(2); // the upstream works; requests come about this far apart
      committed.push(store.commit(current)); // its answer went out; nobody awaits this
      // The next request arrives a few turns later (a marker sent alone would have left
      // by then): the marker is still waiting for it...
      await tick();
      await tick();
      expect(written()).toBe(i);
      current = await admit(store, specs);
      // ...and leaves in the same socket write as its reservation.
      expect(written()).toBe(i + 1);
    }
    await Promise.all(committed);
    const names = sent.mock.calls.map(([c]) => c.name);
    expect(names).toEqual(Array.from({ length: 40 }, () => ["set", "evalsha"]).flat());
    await store.commit(current);
    await store.commit(inFlight);
    expect(await client.get(`${p}{rl}:c:stream|grant|1`)).toBe("42");
    await store.close();
    client.disconnect();
  });

  it("callers that await each commit before they reserve again soon stop waiting for rides that never come", async () => {
    const client = new Redis(url, { enableOfflineQueue: false });
    const p = prefix();
    const store = createRedisStore({ client, prefix: p });
    const specs = [spec("await|grant|1", 1_000_000)];
    const rides = vi.spyOn(globalThis, "setTimeout");
    const ids: string[] = [];
    try {
      // 8 callers in step, as a library loop does: reserve, await the commit, again. Their
      // markers see the other 7 reservations open, yet no reservation comes while all 8
      // await their commits: each wait for a ride would stall every caller until it ends.
      const caller = async () => {
        for (let i = 0; i < 40; i++) {
          const r = await admit(store, specs);
          await store.commit(r);
          ids.push(r.id);
        }
      };
      await Promise.all(Array.from({ length: 8 }, caller));
      const waits = rides.mock.calls.filter(
        ([, ms]) => (ms ?? 0) >= 1 && (ms ?? 0) <= MARKER_RIDE_MS,
      );
      // About one wait per round while rides were expected (40 rounds): a handful before
      // the store learns none come, then one probe in 16 rounds.
      expect(waits.length).toBeGreaterThan(0);
      expect(waits.length).toBeLessThanOrEqual(12);
    } finally {
      rides.mockRestore();
    }
    // Every commit still wrote its marker.
    expect(ids).toHaveLength(320);
    const markers = await client.mget(ids.map((id) => `${p}{rl}:r:${id}`));
    expect(markers.every((m) => m === "committed")).toBe(true);
    expect(await client.get(`${p}{rl}:c:await|grant|1`)).toBe("320");
    await store.close();
    client.disconnect();
  });

  it("commands sent in one event-loop turn leave in one socket write, even with nothing in flight", async () => {
    const client = new Redis(url, { enableOfflineQueue: false });
    const store = createRedisStore({ client, prefix: prefix() });
    const warm = await store.reserve([spec("turn|grant|0", 100)]); // scripts loaded
    expect(warm.admitted).toBe(true);
    const stream = client.stream as unknown as { _writev?: unknown; _write: unknown };
    const writes = vi.spyOn(stream as { _write: (...a: unknown[]) => void }, "_write");
    const writevs = stream._writev
      ? vi.spyOn(stream as { _writev: (...a: unknown[]) => void }, "_writev")
      : undefined;
    // Three calls whose requests were read in the same turn (as a gateway reads them).
    const outs = await Promise.all(
      [1, 2, 3].map((i) => store.reserve([spec(`turn|grant|${i}`, 100)])),
    );
    expect(outs.every((o) => o.admitted)).toBe(true);
    expect(writes.mock.calls.length + (writevs?.mock.calls.length ?? 0)).toBe(1);
    await store.close();
    client.disconnect();
  });

  it("rejects bad options naming the field and the fix", () => {
    expect(() => createRedisStore({ url: "http://x" })).toThrow(/url: must start with redis:\/\//);
    expect(() => createRedisStore({ url, prefix: "a{b}" })).toThrow(/prefix.*hash tag/);
    expect(() => createRedisStore({} as never)).toThrow(/exactly one of url/);
  });
});
