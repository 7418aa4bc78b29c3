import { describe, expect, it } from "vitest";
import { classify, idKey } from "./jsonrpc.js";

describe("classify", () => {
  it("recognises the three message kinds", () => {
    expect(classify({ jsonrpc: "2.0", id: 1, method: "ping" })).toBe("request");
    expect(classify({ jsonrpc: "2.0", method: "notifications/initialized" })).toBe("notification");
    expect(classify({ jsonrpc: "2.0", id: "a", result: {} })).toBe("response");
    expect(classify({ jsonrpc: "2.0", id: 3, error: { code: 1, message: "x" } })).toBe("response");
  });
  it("rejects what is not JSON-RPC 2.0", () => {
    expect(classify({ id: 1, method: "ping" })).toBeUndefined();
    expect(classify({ jsonrpc: "2.0", id: 1.5, method: "ping" })).toBeUndefined();
    expect(classify({ jsonrpc: "2.0", id: null, method: "ping" })).toBeUndefined();
    expect(classify({ jsonrpc: "2.0", id: 1, method: "x", params: 3 })).toBeUndefined();
    expect(classify([{ jsonrpc: "2.0", id: 1, method: "ping" }])).toBeUndefined();
    expect(classify("ping")).toBeUndefined();
  });
  it("keeps numeric and string ids apart", () => {
    expect(idKey(1)).not.toBe(idKey("1"));
  });
});
