import { describe, expect, it } from "vitest";
import {
  checkModern,
  claimsModern,
  decodeHeaderValue,
  isRefusal,
  META,
  type ModernRefusal,
} from "./envelope.js";

const V = "2026-07-28";
const envelope = (extra: Record<string, unknown> = {}) => ({
  [META.protocolVersion]: V,
  [META.clientCapabilities]: {},
  [META.clientInfo]: { name: "c", version: "1" },
  ...extra,
});
const call = (meta: unknown = envelope(), name = "add") => ({
  method: "tools/call",
  params: { name, arguments: {}, _meta: meta } as Record<string, unknown>,
});
const hdrs =
  (h: Record<string, string>) =>
  (n: string): string | undefined =>
    h[n];
const good = { "mcp-protocol-version": V, "mcp-method": "tools/call", "mcp-name": "add" };
const refused = (r: ReturnType<typeof checkModern>): ModernRefusal => {
  if (!isRefusal(r)) throw new Error("expected a refusal");
  return r;
};

describe("claimsModern", () => {
  it("routes on the _meta claim, whatever its type", () => {
    expect(claimsModern(call(), hdrs({}))).toBe(true);
    expect(claimsModern(call({ [META.protocolVersion]: 7 }), hdrs({}))).toBe(true);
  });
  it("routes a modern header without envelope to the modern path", () => {
    expect(claimsModern({ method: "tools/list" }, hdrs({ "mcp-protocol-version": V }))).toBe(true);
  });
  it("keeps claim-less and 2025 traffic (incl. initialize) on the 2025 path", () => {
    expect(claimsModern({ method: "initialize", params: {} }, hdrs({}))).toBe(false);
    expect(
      claimsModern(
        { method: "tools/call", params: { _meta: { progressToken: 1 } } },
        hdrs({ "mcp-protocol-version": "2025-11-25" }),
      ),
    ).toBe(false);
    expect(claimsModern("x", hdrs({}))).toBe(false);
  });
});

describe("decodeHeaderValue", () => {
  it("decodes the base64 sentinel and keeps plain values", () => {
    expect(decodeHeaderValue("=?base64?YWRk?=")).toBe("add");
    expect(decodeHeaderValue("add")).toBe("add");
    expect(decodeHeaderValue(`=?base64?${Buffer.from("créer").toString("base64")}?=`)).toBe(
      "créer",
    );
  });
  it("rejects a malformed or non-UTF-8 payload", () => {
    expect(decodeHeaderValue("=?base64?!!!?=")).toBeUndefined();
    expect(decodeHeaderValue("=?base64?/w==?=")).toBeUndefined();
  });
});

describe("checkModern", () => {
  it("accepts a well-formed request and returns its envelope", () => {
    const r = checkModern(call(), hdrs(good));
    expect(isRefusal(r)).toBe(false);
    expect(r).toMatchObject({ version: V, method: "tools/call", clientInfo: { name: "c" } });
    expect(isRefusal(checkModern(call(), hdrs({ ...good, "mcp-name": "=?base64?YWRk?=" })))).toBe(
      false,
    );
  });
  it("refuses header/body disagreement with 400/-32020", () => {
    for (const h of [
      { ...good, "mcp-name": "deploy" },
      { ...good, "mcp-name": undefined as unknown as string },
      { ...good, "mcp-method": "tools/list" },
      { ...good, "mcp-method": undefined as unknown as string },
      { ...good, "mcp-protocol-version": "2025-11-25" },
      { ...good, "mcp-protocol-version": undefined as unknown as string },
      { ...good, "mcp-name": "=?base64?ZGVwbG95?=" },
    ]) {
      const r = refused(checkModern(call(), hdrs(h)));
      expect(r.status).toBe(400);
      expect(r.error.code).toBe(-32020);
    }
    const m = refused(checkModern(call(), hdrs({ ...good, "mcp-name": "deploy" })));
    expect(m.error.data).toEqual({ mismatch: { header: "deploy", body: "add" } });
  });
  it("refuses a name header on a method that has none", () => {
    const r = refused(
      checkModern(
        { method: "tools/list", params: { _meta: envelope() } },
        hdrs({ "mcp-protocol-version": V, "mcp-method": "tools/list", "mcp-name": "x" }),
      ),
    );
    expect(r.error.code).toBe(-32020);
  });
  it("refuses an unsupported version with 400/-32022 and the supported list", () => {
    const h = { ...good, "mcp-protocol-version": "2099-01-01" };
    const r = refused(
      checkModern(call(envelope({ [META.protocolVersion]: "2099-01-01" })), hdrs(h)),
    );
    expect(r.status).toBe(400);
    expect(r.error).toEqual({
      code: -32022,
      message: "Unsupported protocol version: 2099-01-01",
      data: { supported: [V], requested: "2099-01-01" },
    });
  });
  it("refuses envelope fields of the wrong type with 400/-32602 naming the key", () => {
    const cases: Array<[unknown, string]> = [
      [null, "_meta"],
      ["x", "_meta"],
      [envelope({ [META.protocolVersion]: 2026 }), META.protocolVersion],
      [envelope({ [META.clientCapabilities]: "x" }), META.clientCapabilities],
      [envelope({ [META.clientCapabilities]: undefined }), META.clientCapabilities],
      [envelope({ [META.clientInfo]: { name: 1 } }), META.clientInfo],
      [envelope({ [META.logLevel]: "loud" }), META.logLevel],
      [envelope({ progressToken: { a: 1 } }), "progressToken"],
    ];
    for (const [meta, key] of cases) {
      const r = refused(checkModern(call(meta), hdrs(good)));
      expect(r.status, key).toBe(400);
      expect(r.error.code, key).toBe(-32602);
      expect(JSON.stringify(r.error.data), key).toContain(key === "_meta" ? "_meta" : key);
    }
  });
  it("refuses a modern header with no envelope at all", () => {
    const r = refused(checkModern({ method: "tools/call", params: { name: "add" } }, hdrs(good)));
    expect(r.error).toMatchObject({ code: -32602, data: { envelope: { missing: ["_meta"] } } });
  });
  it("answers unknown methods, ping included, with 404/-32601", () => {
    for (const method of ["ping", "foo/bar", "initialize", "logging/setLevel"]) {
      const r = refused(
        checkModern(
          { method, params: { _meta: envelope() } },
          hdrs({ "mcp-protocol-version": V, "mcp-method": method }),
        ),
      );
      expect(r.status).toBe(404);
      expect(r.error).toEqual({ code: -32601, message: "Method not found" });
    }
  });
});
