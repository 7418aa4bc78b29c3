import { compilePolicy } from "@toolgate/policy-engine";
import { describe, expect, it } from "vitest";
import { ToolgateMcpError } from "../errors.js";
import type { UpstreamConfig } from "../options.js";
import { createToolgateMcp } from "../toolgate-mcp.js";
import { resolveUpstream, UPSTREAM_KINDS, upstreamKind, upstreamPlan } from "./registry.js";

const policy = compilePolicy({ version: "1", default: "allow" });
const scheduler = { setTimeout: () => 0, clearTimeout: () => undefined };

function optionsError(upstreams: unknown[]): string {
  try {
    createToolgateMcp({ upstreams: upstreams as UpstreamConfig[], apiKeys: { k: "g" }, policy });
  } catch (e) {
    if (e instanceof ToolgateMcpError) return e.message;
    throw e;
  }
  throw new Error("did not throw");
}

describe("upstream transport registry", () => {
  it("knows the three kinds, and the kind of a config written without one", () => {
    expect(UPSTREAM_KINDS).toEqual(["http", "stdio", "in-process"]);
    expect(upstreamKind({ name: "a", url: "http://x/mcp" })).toBe("http");
    expect(upstreamKind({ name: "a", command: "node" })).toBe("stdio");
    expect(upstreamKind({ name: "a", server: () => undefined })).toBe("in-process");
    expect(upstreamKind({ name: "a", kind: "stdio", url: "http://x" })).toBe("stdio");
    expect(upstreamKind({ name: "a" })).toBeUndefined();
  });

  it("accepts old and explicit configs alike", () => {
    expect(resolveUpstream({ name: "a", url: "http://127.0.0.1:1/mcp" }).kind).toBe("http");
    expect(resolveUpstream({ kind: "stdio", name: "b", command: "node", args: ["s.js"] })).toEqual({
      kind: "stdio",
      name: "b",
      command: "node",
      args: ["s.js"],
    });
  });

  it("plans each kind: supervision and sharing come from its transport", () => {
    const server = { connect: async () => undefined };
    const plan = (c: unknown) => {
      const { supervise, shared } = upstreamPlan(resolveUpstream(c), scheduler);
      return { supervise, shared };
    };
    expect(plan({ name: "a", url: "http://127.0.0.1:1/mcp" })).toEqual({
      supervise: true,
      shared: false,
    });
    expect(plan({ name: "a", command: "node" })).toEqual({ supervise: true, shared: false });
    expect(plan({ name: "a", server })).toEqual({ supervise: false, shared: true });
    expect(plan({ name: "a", server: () => server })).toEqual({ supervise: false, shared: false });
  });

  it("names the path and the fix for a config of no known kind", () => {
    const m = optionsError([{ name: "a", adress: "http://x" }]);
    expect(m).toContain("upstreams.0.kind: set kind to one of http, stdio, in-process");
    expect(m).toContain("url for http, command for stdio, server for in-process");
    expect(m).not.toContain("Invalid input");
  });

  it("checks the fields of the kind given, naming each", () => {
    const m = optionsError([{ kind: "http", name: "a", command: "node" }]);
    expect(m).toContain("upstreams.0.url: give an http(s) URL");
    const bad = optionsError([
      { name: "ok", command: "" },
      { kind: "sse", name: "b" },
    ]);
    expect(bad).toContain("upstreams.0.command: give the executable to spawn");
    expect(bad).toContain("upstreams.1.kind: set kind to one of");
  });
});
