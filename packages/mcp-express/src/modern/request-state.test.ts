import { createInProcessCounterStore } from "@toolgate/policy-engine";
import { describe, expect, it } from "vitest";
import { createRequestStateCodec, spendOnce } from "./request-state.js";

const SECRET = "0123456789abcdef0123456789abcdef";
const binding = { grant: "g", sub: "", tool: "deploy", args: "d1", upstream: "u" };

function codec(now = { t: 1_000 }) {
  return { now, c: createRequestStateCodec({ secret: SECRET, now: () => now.t }) };
}

describe("request state codec", () => {
  it("round-trips data for the same binding, in any key order", () => {
    const { c } = codec();
    const t = c.seal({ binding, data: { s: "upstream-state" } }, 60_000);
    const reordered = { upstream: "u", args: "d1", tool: "deploy", sub: "", grant: "g" };
    const o = c.open<{ s: string }>(t, reordered);
    expect(o.ok && o.data).toEqual({ s: "upstream-state" });
    expect(o.ok && o.expiresAt).toBe(61_000);
  });

  it("refuses another binding: grant, user, tool, arguments, upstream", () => {
    const { c } = codec();
    const t = c.seal({ binding, data: 1 }, 60_000);
    for (const k of Object.keys(binding)) {
      expect(c.open(t, { ...binding, [k]: "other" })).toEqual({
        ok: false,
        reason: "binding_mismatch",
      });
    }
    expect(c.open(t, { ...binding, extra: "x" })).toEqual({
      ok: false,
      reason: "binding_mismatch",
    });
  });

  it("refuses an expired token at its expiry", () => {
    const { c, now } = codec();
    const t = c.seal({ binding, data: 1 }, 500);
    now.t += 499;
    expect(c.open(t, binding).ok).toBe(true);
    now.t += 1;
    expect(c.open(t, binding)).toEqual({ ok: false, reason: "expired" });
  });

  it("refuses forgeries: other key, edited body, edited signature, garbage", () => {
    const { c } = codec();
    const other = createRequestStateCodec({ secret: `${SECRET}x`, now: () => 1_000 });
    expect(c.open(other.seal({ binding, data: 1 }, 60_000), binding)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    const t = c.seal({ binding, data: { admin: false } }, 60_000);
    const [, body, sig] = t.split(".") as [string, string, string];
    const payload = JSON.parse(Buffer.from(body, "base64url").toString()) as Record<
      string,
      unknown
    >;
    const edited = Buffer.from(JSON.stringify({ ...payload, d: { admin: true } })).toString(
      "base64url",
    );
    expect(c.open(`tgs1.${edited}.${sig}`, binding)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(c.open(`tgs1.${body}.${sig.slice(0, -2)}AA`, binding).ok).toBe(false);
    for (const bad of [
      undefined,
      5,
      {},
      "",
      "tgs1.",
      "tgs1.a.b.c",
      "x".repeat(1_100_000),
      "tgs1.%%.x",
    ]) {
      expect(c.open(bad, binding).ok).toBe(false);
    }
  });

  it("insists on a 32-byte secret", () => {
    expect(() => createRequestStateCodec({ secret: "short", now: Date.now })).toThrow(/32 bytes/);
  });

  it("spends a nonce once until it expires", async () => {
    let t = 0;
    const store = createInProcessCounterStore({ now: () => t });
    expect(await spendOnce(store, "n1", 1_000, t)).toBe(true);
    expect(await spendOnce(store, "n1", 1_000, t)).toBe(false);
    expect(await spendOnce(store, "n2", 1_000, t)).toBe(true);
    t = 1_001;
    expect(await spendOnce(store, "n1", 2_000, t)).toBe(true);
  });
});
