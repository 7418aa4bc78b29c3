import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "./sha256.js";

describe("sha256Hex", () => {
  it("equals the streaming hash for any string (ASCII, Unicode, lone surrogates)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(sha256Hex(s)).toBe(createHash("sha256").update(s).digest("hex"));
      }),
    );
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
});
