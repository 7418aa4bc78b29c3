import { describe, expect, it } from "vitest";
import { EventBuffer } from "./event-buffer.js";
import { parseUserDataMessage, parseUserDataPayload, userDataEventIdentity } from "./events.js";
import { executionReport } from "./test-utils/fakes.js";

describe("user-data events", () => {
  it("validates executionReport case-sensitively and keeps amounts as strings", () => {
    const raw = executionReport({
      C: "orig",
      c: "new",
      x: "TRADE",
      X: "FILLED",
      l: "0.01",
      z: "0.01",
    });
    const ev = parseUserDataMessage(JSON.stringify(raw));
    expect(ev?.kind).toBe("executionReport");
    if (ev?.kind !== "executionReport") return;
    expect(ev.data.c).toBe("new");
    expect(ev.data.C).toBe("orig");
    expect(ev.data.x).toBe("TRADE");
    expect(ev.data.X).toBe("FILLED");
    expect(ev.data.z).toBe("0.01");
    expect(typeof ev.data.q).toBe("string");
    expect((ev.data as Record<string, unknown>).I).toBe(1); // unknown fields kept
  });

  it("rejects a wrongly-cased field as invalid rather than dropping the event", () => {
    const raw = executionReport();
    delete raw.x;
    const ev = parseUserDataPayload({ ...raw, X_: 1 });
    expect(ev?.kind).toBe("invalid");
    if (ev?.kind === "invalid") expect(ev.reason).toContain("x");
  });

  it("parses the other known types, accepts E as a string, passes unknown types through", () => {
    expect(
      parseUserDataPayload({
        e: "outboundAccountPosition",
        E: 1,
        u: 2,
        B: [{ a: "BTC", f: "1.0", l: "0.0" }],
      })?.kind,
    ).toBe("outboundAccountPosition");
    expect(
      parseUserDataPayload({ e: "balanceUpdate", E: 1, a: "USD", d: "-5.5", T: 2 })?.kind,
    ).toBe("balanceUpdate");
    const list = {
      e: "listStatus",
      E: 1,
      s: "BTCUSD",
      g: 7,
      c: "SINGLE",
      l: "EXEC_STARTED",
      L: "EXECUTING",
      r: "NONE",
      C: "oco1",
      T: 3,
      O: [{ s: "BTCUSD", i: 1, c: "a" }],
    };
    expect(parseUserDataPayload(list)?.kind).toBe("listStatus");
    const expired = parseUserDataMessage(
      '{"e":"listenKeyExpired","E":"1699596037418","listenKey":"abc"}',
    );
    expect(expired).toMatchObject({ kind: "listenKeyExpired", eventTime: 1699596037418 });
    const unknown = parseUserDataPayload({ e: "externalLockUpdate", E: "5", foo: 1 });
    expect(unknown).toMatchObject({ kind: "unknown", type: "externalLockUpdate", eventTime: 5 });
    expect(parseUserDataPayload({ e: "BalanceUpdate", E: 1 })?.kind).toBe("unknown"); // case matters
    expect(parseUserDataMessage("not json")).toBeUndefined();
    expect(parseUserDataPayload({ result: null, id: 1 })).toBeUndefined();
  });

  it("unwraps combined-stream envelopes", () => {
    const ev = parseUserDataPayload({
      stream: "key",
      data: { e: "balanceUpdate", E: 1, a: "BTC", d: "1", T: 1 },
    });
    expect(ev?.kind).toBe("balanceUpdate");
  });

  it("gives distinct identities to distinct fills and equal ones to the same event", () => {
    const a = parseUserDataPayload(executionReport({ E: 1, i: 9, t: 1, x: "TRADE" }))!;
    const b = parseUserDataPayload(executionReport({ E: 1, i: 9, t: 2, x: "TRADE" }))!;
    expect(userDataEventIdentity(a)).not.toBe(userDataEventIdentity(b));
    expect(userDataEventIdentity(a)).toBe(userDataEventIdentity(parseUserDataPayload(a.data)!));
  });
});

describe("EventBuffer", () => {
  it("drop_oldest keeps the newest events and tells the reader it missed some", () => {
    const buf = new EventBuffer<string>({ size: 3 });
    for (const s of ["a", "b", "c", "d", "e"]) buf.push(s, 0);
    const page = buf.since(0, 10);
    expect(page.events.map((e) => e.event)).toEqual(["c", "d", "e"]);
    expect(page.events.map((e) => e.cursor)).toEqual([3, 4, 5]);
    expect(page.dropped).toBe(true);
    expect(page.droppedTotal).toBe(2);
    const next = buf.since(page.nextCursor);
    expect(next.events).toEqual([]);
    expect(next.dropped).toBe(false);
    expect(next.nextCursor).toBe(5);
    expect(buf.since(3, 1).events.map((e) => e.event)).toEqual(["d"]);
    expect(buf.since(2).dropped).toBe(false);
  });

  it("drop_newest refuses new events once full", () => {
    const buf = new EventBuffer<string>({ size: 2, overflow: "drop_newest" });
    expect(buf.push("a", 0)).toBeDefined();
    buf.push("b", 0);
    expect(buf.push("c", 0)).toBeUndefined();
    const page = buf.since(0);
    expect(page.events.map((e) => e.event)).toEqual(["a", "b"]);
    expect(page.dropped).toBe(true);
  });

  it("drop_newest makes room from read events, so a reader that keeps up loses nothing", () => {
    const buf = new EventBuffer<string>({ size: 2, overflow: "drop_newest" });
    let cursor = 0;
    const got: string[] = [];
    for (const s of ["a", "b", "c", "d", "e"]) {
      expect(buf.push(s, 0)).toBeDefined();
      const page = buf.since(cursor);
      got.push(...page.events.map((e) => e.event));
      expect(page.dropped).toBe(false);
      cursor = page.nextCursor;
    }
    expect(got).toEqual(["a", "b", "c", "d", "e"]);
    expect(buf.droppedTotal).toBe(0);
    // "e" was handed out but counts as read only once the reader asks for what follows it
    // (at-least-once), so the backlog is now "e" and "f": "g" is refused and reported.
    expect(buf.push("f", 0)).toBeDefined();
    expect(buf.push("g", 0)).toBeUndefined();
    const page = buf.since(cursor);
    expect(page.events.map((e) => e.event)).toEqual(["f"]);
    expect(page.dropped).toBe(true);
    expect(buf.droppedTotal).toBe(1);
  });

  it("drop_oldest counts only unread events as dropped", () => {
    const buf = new EventBuffer<string>({ size: 2 });
    buf.push("a", 0);
    buf.push("b", 0);
    const read = buf.since(0);
    expect(buf.since(read.nextCursor).events).toEqual([]); // acknowledges "a" and "b"
    buf.push("c", 0); // evicts "a", already read
    expect(buf.droppedTotal).toBe(0);
    expect(buf.since(read.nextCursor).dropped).toBe(false);
    buf.push("d", 0); // evicts "b", already read
    buf.push("e", 0); // evicts "c", unread
    expect(buf.droppedTotal).toBe(1);
    expect(buf.since(read.nextCursor).dropped).toBe(true);
  });
});
