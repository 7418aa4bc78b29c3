import { compilePolicy } from "@toolgate/policy-engine";
import { describe, expect, it } from "vitest";
import { ToolgateMcpError } from "./errors.js";
import { createToolgateMcp } from "./toolgate-mcp.js";

const policy = compilePolicy({ version: "1", default: "allow" });

function error(fn: () => unknown): ToolgateMcpError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ToolgateMcpError) return e;
    throw e;
  }
  throw new Error("did not throw");
}

describe("createToolgateMcp options", () => {
  it("refuses allowedOrigins entries that are not origins, naming the entry", () => {
    const e = error(() =>
      createToolgateMcp({
        upstreams: [{ name: "a", url: "http://127.0.0.1:1/mcp" }],
        apiKeys: { k: "g" },
        policy,
        allowedOrigins: ["http://localhost:6274", "localhost:6274", "null"],
      }),
    );
    expect(e.code).toBe("OPTIONS_INVALID");
    expect(e.message).toContain("allowedOrigins.1: write an origin as scheme://host[:port]");
    expect(e.message).toContain("allowedOrigins.2:");
    expect(e.message).not.toContain("allowedOrigins.0");
  });
  it("names each bad path and the fix", () => {
    const e = error(() =>
      createToolgateMcp({
        upstreams: [{ name: "bad name!", url: "not a url" }],
        separator: "::",
        apiKeys: { k: "g" },
        policy,
      }),
    );
    expect(e.code).toBe("OPTIONS_INVALID");
    expect(e.message).toContain("separator: use 1-8 chars of [A-Za-z0-9_.-]");
    expect(e.message).toContain("upstreams.0");
  });
  it("requires at least one upstream, unique names and a way to identify callers", () => {
    expect(
      error(() => createToolgateMcp({ upstreams: [], apiKeys: {}, policy })).message,
    ).toContain("configure at least one upstream");
    expect(
      error(() =>
        createToolgateMcp({
          upstreams: [
            { name: "a", url: "http://127.0.0.1:1/mcp" },
            { name: "a", url: "http://127.0.0.1:2/mcp" },
          ],
          apiKeys: {},
          policy,
        }),
      ).message,
    ).toContain("upstream names must be unique");
    expect(
      error(() =>
        createToolgateMcp({ upstreams: [{ name: "a", url: "http://127.0.0.1:1/mcp" }], policy }),
      ).message,
    ).toContain("set apiKeys");
  });
  it("accepts a valid configuration without connecting anything", () => {
    const gw = createToolgateMcp({
      upstreams: [{ name: "a", command: "node", args: ["server.js"] }],
      apiKeys: { k: "g" },
      policy,
    });
    expect(gw.inFlight()).toBe(0);
    expect(gw.upstreamHealth()).toEqual([{ name: "a", ok: false, detail: "not connected yet" }]);
  });
  it("accepts host names, addresses and ports in allowedHosts, and nothing else", () => {
    const base = { upstreams: [{ name: "a", url: "http://127.0.0.1:1/mcp" }], apiKeys: {}, policy };
    expect(() =>
      createToolgateMcp({ ...base, allowedHosts: ["localhost", "127.0.0.1:8080", "::1", "[::1]"] }),
    ).not.toThrow();
    for (const bad of ["", "a b", "user@localhost", "localhost/mcp", "localhost:port", "a,b"]) {
      const e = error(() => createToolgateMcp({ ...base, allowedHosts: [bad] }));
      expect(e.message).toContain("allowedHosts.0: use a host name or address");
    }
    expect(error(() => createToolgateMcp({ ...base, allowedHosts: [] })).message).toContain(
      "allowedHosts: list at least one host",
    );
  });
});
