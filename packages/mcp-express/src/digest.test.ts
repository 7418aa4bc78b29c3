import { describe, expect, it } from "vitest";
import { argumentsDigest, canonicalJson } from "./digest.js";

describe("canonicalJson / argumentsDigest", () => {
  it("sorts keys at every depth and drops undefined members", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}',
    );
  });
  it("gives equal digests for reordered keys and different ones for different values", () => {
    expect(argumentsDigest({ to: "bob", amount: 5 })).toBe(
      argumentsDigest({ amount: 5, to: "bob" }),
    );
    expect(argumentsDigest({ to: "bob", amount: 5 })).not.toBe(
      argumentsDigest({ to: "bob", amount: 6 }),
    );
    expect(argumentsDigest(undefined)).toBe(argumentsDigest({}));
    expect(argumentsDigest({})).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});
