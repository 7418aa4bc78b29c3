import { describe, expect, it } from "vitest";
import { SessionEventStore } from "./event-store.js";

describe("SessionEventStore", () => {
  it("replays only the same stream's events after the given id", () => {
    const s = new SessionEventStore();
    const a1 = s.store("p1", "a1");
    s.store("p2", "b1");
    s.store("p1", "a2");
    s.store("p1", "a3");
    expect(SessionEventStore.streamOf(a1)).toBe("p1");
    expect(s.after(a1)?.map((e) => e.data)).toEqual(["a2", "a3"]);
  });
  it("forgets events beyond capacity and refuses unknown ids", () => {
    const s = new SessionEventStore(2);
    const first = s.store("g", "1");
    s.store("g", "2");
    s.store("g", "3");
    expect(s.after(first)).toBeUndefined();
    expect(s.after("nonsense")).toBeUndefined();
  });
});
