import { describe, expect, it } from "vitest";
import { classify, idKey, nestedDeeperThan, paramsProblem } from "./jsonrpc.js";

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
    // Responses MCP peers would not recognise either.
    expect(classify({ jsonrpc: "2.0", id: 1, result: [] })).toBeUndefined();
    expect(classify({ jsonrpc: "2.0", id: 1, error: { code: "x", message: "m" } })).toBeUndefined();
    expect(classify({ jsonrpc: "2.0", id: 1, error: { code: 1.5, message: "m" } })).toBeUndefined();
    expect(classify({ jsonrpc: "2.0", id: 1, error: { code: 1 } })).toBeUndefined();
  });
  it("names the params an MCP peer would silently drop (the client would wait forever)", () => {
    expect(paramsProblem(undefined)).toBeUndefined();
    expect(paramsProblem({ a: [1], _meta: { progressToken: "t", other: 1 } })).toBeUndefined();
    expect(paramsProblem({ _meta: { progressToken: 7 } })).toBeUndefined();
    expect(paramsProblem([])).toBe("params must be an object");
    expect(paramsProblem({ _meta: null })).toBe("params._meta must be an object");
    expect(paramsProblem({ _meta: [] })).toBe("params._meta must be an object");
    for (const token of [{}, 1.5, 2 ** 60, null, true]) {
      expect(paramsProblem({ _meta: { progressToken: token } })).toMatch(/progressToken/);
    }
    expect(
      paramsProblem({ _meta: { "io.modelcontextprotocol/related-task": { taskId: 1 } } }),
    ).toMatch(/related-task/);
  });
  it("measures nesting without recursing", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(nestedDeeperThan(deep, 100)).toBe(true);
    expect(nestedDeeperThan({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(nestedDeeperThan({ a: [{ b: {} }] }, 3)).toBe(true);
    expect(nestedDeeperThan("x", 0)).toBe(false);
  });
  it("keeps numeric and string ids apart", () => {
    expect(idKey(1)).not.toBe(idKey("1"));
  });
});
