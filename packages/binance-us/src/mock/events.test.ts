import { describe, expect, it } from "vitest";
import {
  balanceUpdate,
  createEventBuilders,
  executionReport,
  executionReportFill,
  listenKeyExpired,
  listStatus,
  mockEvents,
  outboundAccountPosition,
} from "./events.js";

const DECIMAL = /^-?\d+\.\d+$/;

describe("event builders", () => {
  it("builds an executionReport with every documented field, case-sensitive, amounts as strings", () => {
    const ev = executionReport();
    for (const f of "e s c S o f q p P F g C x X r i l z L n N T t I w m M O Z Y Q W V".split(
      " ",
    )) {
      expect(ev).toHaveProperty(f);
    }
    expect(ev.E).toBeUndefined();
    for (const f of ["q", "p", "P", "F", "l", "z", "L", "Z", "Y", "Q"])
      expect(ev[f]).toMatch(DECIMAL);
    expect(ev.c).not.toBe(ev.C);
    expect(ev.x).toBe("NEW");
    expect(executionReport().i).not.toBe(ev.i);
  });

  it("builds a consistent fill", () => {
    const ev = executionReportFill({ q: "2.00000000", p: "10.00000000" });
    expect(ev).toMatchObject({
      x: "TRADE",
      X: "FILLED",
      l: "2.00000000",
      z: "2.00000000",
      Z: "20.00000000",
      N: "USD",
    });
    expect(ev.t).toBeGreaterThan(0);
  });

  it("builds account, balance and OCO events", () => {
    expect(outboundAccountPosition().B).toEqual([
      { a: "USD", f: "1000.00000000", l: "0.00000000" },
      { a: "BTC", f: "0.01000000", l: "0.00000000" },
    ]);
    expect(balanceUpdate({ d: "-5.00000000" })).toMatchObject({
      e: "balanceUpdate",
      d: "-5.00000000",
    });
    const oco = listStatus();
    expect(oco).toMatchObject({ e: "listStatus", c: "OCO", l: "EXEC_STARTED", L: "EXECUTING" });
    expect(oco.O).toHaveLength(2);
  });

  it("sends listenKeyExpired with E as a string", () => {
    expect(listenKeyExpired("k", 1699596037418)).toEqual({
      e: "listenKeyExpired",
      E: "1699596037418",
      listenKey: "k",
    });
  });

  it("binds timestamps to a clock", () => {
    let now = 5_000;
    const b = createEventBuilders(() => now);
    expect(b.executionReport()).toMatchObject({ T: 5_000, O: 5_000, W: 5_000 });
    now = 9_000;
    expect(b.outboundAccountPosition().u).toBe(9_000);
    expect(b.balanceUpdate().T).toBe(9_000);
    expect(b.listenKeyExpired("k").E).toBe("9000");
  });
});

describe("conditional executionReport fields follow the docs", () => {
  it("W only while the order is on the book; d/D and v/A/B/u/U only in their cases", async () => {
    const { parseUserDataPayload } = await import("../events.js");
    const b = mockEvents;
    const onBook = b.executionReport({}, 1_000);
    expect(onBook).toMatchObject({ w: true, W: 1_000 });
    for (const left of [
      b.executionReportFill(),
      b.executionReportCanceled(),
      b.executionReportExpired(),
      b.executionReportPrevented(),
      b.executionReport({ w: false }),
    ]) {
      expect(left.w).toBe(false);
      expect(left).not.toHaveProperty("W");
    }
    expect(b.executionReportPartialFill()).toMatchObject({
      X: "PARTIALLY_FILLED",
      w: true,
      W: expect.any(Number),
    });
    const plain = b.executionReport();
    for (const f of ["d", "D", "v", "A", "B", "u", "U"]) expect(plain).not.toHaveProperty(f);
    expect(b.executionReportTrailing({}, 5)).toMatchObject({ d: 100, D: 5 });
    expect(b.executionReportPrevented()).toMatchObject({
      x: "TRADE_PREVENTION",
      X: "EXPIRED",
      v: 3,
      A: "0.01000000",
      B: "0.01000000",
      u: 1,
      U: 37,
    });
    expect(b.executionReportCanceled({ i: 9 })).toMatchObject({
      x: "CANCELED",
      C: "mock_9",
      c: "cancel_9",
    });
    // Our zod events accept every case (and keep the conditional fields typed).
    for (const e of [
      onBook,
      b.executionReportTrailing(),
      b.executionReportPrevented(),
      b.executionReportFill(),
    ]) {
      const parsed = parseUserDataPayload({ ...e, E: 1 });
      expect(parsed?.kind).toBe("executionReport");
    }
    const stp = parseUserDataPayload({ ...b.executionReportPrevented(), E: 1 });
    expect(stp?.kind === "executionReport" && stp.data.v).toBe(3);
  });
});
