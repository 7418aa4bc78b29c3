import { describe, expect, it } from "vitest";
import { ApprovalStoreSchema, chooseApprovalBackend } from "./backends.js";

describe("approvals backend registry", () => {
  it("follows the counter store's backend when approvals.store is not set", () => {
    expect(chooseApprovalBackend(undefined, { type: "memory" }).backend.type).toBe("memory");
    const r = chooseApprovalBackend(undefined, {
      type: "redis",
      url: "redis://127.0.0.1:6379/0",
      prefix: "app:",
    });
    expect(r.backend.type).toBe("redis");
    expect(r.location).toMatchObject({ url: "redis://127.0.0.1:6379/0", prefix: "app:" });
  });

  it("takes an explicit approvals.store by URL scheme, over the counter store", () => {
    const loc = ApprovalStoreSchema.parse("redis://h:6379/2?prefix=x:");
    expect(loc).toEqual({ type: "redis", url: "redis://h:6379/2", prefix: "x:" });
    expect(chooseApprovalBackend(loc, { type: "memory" }).backend.type).toBe("redis");
    expect(ApprovalStoreSchema.parse("memory")).toEqual({ type: "memory" });
  });

  it("refuses an unknown scheme without echoing the text (it may hold a password)", () => {
    const r = ApprovalStoreSchema.safeParse("postgres://user:hunter2@db/x");
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).not.toContain("hunter2");
    expect(() => chooseApprovalBackend({ type: "postgres" }, { type: "memory" })).toThrow(
      /no approvals backend/,
    );
  });
});
