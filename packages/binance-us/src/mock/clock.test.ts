import { describe, expect, it } from "vitest";
import { createMockClock, createRealClock } from "./clock.js";

describe("createMockClock", () => {
  it("starts at 2026-01-01 and stands still until advanced", async () => {
    const clock = createMockClock();
    expect(clock.now()).toBe(Date.UTC(2026, 0, 1));
    await clock.advance(1500);
    expect(clock.now()).toBe(Date.UTC(2026, 0, 1) + 1500);
  });

  it("fires due timers in time order, ties in arming order, with now() at each timer's instant", async () => {
    const clock = createMockClock(0);
    const seen: string[] = [];
    clock.setTimeout(() => seen.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => seen.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => seen.push(`c@${clock.now()}`), 20);
    clock.setTimeout(() => seen.push("late"), 31);
    await clock.advance(30);
    expect(seen).toEqual(["a@10", "b@20", "c@20"]);
    expect(clock.pending()).toBe(1);
    expect(clock.now()).toBe(30);
  });

  it("runs microtasks between timers so awaited work lands before the next one", async () => {
    const clock = createMockClock(0);
    const seen: string[] = [];
    clock.setTimeout(() => {
      void Promise.resolve().then(() => seen.push("then-of-first"));
    }, 5);
    clock.setTimeout(() => seen.push("second"), 5);
    await clock.advance(5);
    expect(seen).toEqual(["then-of-first", "second"]);
  });

  it("fires timers armed by timers inside the same advance", async () => {
    const clock = createMockClock(0);
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 10);
    }, 10);
    await clock.advance(25);
    expect(seen).toEqual([10, 20]);
  });

  it("clears timeouts and intervals; intervals repeat and can clear themselves", async () => {
    const clock = createMockClock(0);
    let ticks = 0;
    const h = clock.setInterval(() => {
      ticks += 1;
      if (ticks === 3) clock.clearInterval(h);
    }, 100);
    const t = clock.setTimeout(() => {
      throw new Error("must not fire");
    }, 50);
    clock.clearTimeout(t);
    await clock.advance(1000);
    expect(ticks).toBe(3);
    expect(clock.pending()).toBe(0);
  });

  it("advanceTo never moves backwards", async () => {
    const clock = createMockClock(1000);
    await clock.advanceTo(500);
    expect(clock.now()).toBe(1000);
    await clock.advanceTo(2000);
    expect(clock.now()).toBe(2000);
  });
});

describe("createRealClock", () => {
  it("uses Date.now and clearable timers", () => {
    const clock = createRealClock();
    expect(Math.abs(clock.now() - Date.now())).toBeLessThan(50);
    const h = clock.setTimeout(() => {
      throw new Error("must not fire");
    }, 10_000);
    clock.clearTimeout(h);
  });
});
