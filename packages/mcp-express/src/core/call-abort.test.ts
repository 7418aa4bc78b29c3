import { describe, expect, it } from "vitest";
import { CallAbort } from "./call-abort.js";

describe("CallAbort", () => {
  it("tells aborted and reason without building a signal", () => {
    const a = new CallAbort();
    expect(a.aborted).toBe(false);
    a.abort("client disconnected");
    a.abort("later reason is ignored");
    expect(a.aborted).toBe(true);
    expect(a.reason).toBe("client disconnected");
  });

  it("a signal built after the abort is already aborted with the same reason", () => {
    const a = new CallAbort();
    const reason = Symbol("session closed");
    a.abort(reason);
    expect(a.signal.aborted).toBe(true);
    expect(a.signal.reason).toBe(reason);
  });

  it("listeners added before the abort run once; removed ones do not", () => {
    const a = new CallAbort();
    let fired = 0;
    let removedFired = 0;
    const removed = () => removedFired++;
    a.addEventListener("abort", () => fired++);
    a.addEventListener("abort", removed);
    a.removeEventListener("abort", removed);
    a.abort("cancelled");
    a.abort("again");
    expect(fired).toBe(1);
    expect(removedFired).toBe(0);
    expect(a.signal.reason).toBe("cancelled");
  });
});
