import { describe, expect, it } from "vitest";
import type { RunningGateway } from "../src/gateway.js";
import { banner } from "../src/serve.js";

const gw = {
  url: "http://127.0.0.1:8080",
  mcpUrl: "http://127.0.0.1:8080/mcp",
  adminUrl: "http://127.0.0.1:8080/admin",
  notes: [],
} as unknown as RunningGateway;

describe("banner", () => {
  it("prints a generated key and admin link once, ready to paste", () => {
    const out = banner(gw, {
      generatedKey: "tg_generated_key_0123",
      adminToken: "tg_admin_0123456789",
      adminTokenGenerated: true,
    });
    expect(out).toContain('Bearer tg_generated_key_0123"');
    expect(out).toContain("/admin?token=tg_admin_0123456789");
    expect(out).not.toContain("in your shell");
  });

  it("never prints configured secrets, and says which variable the snippet reads", () => {
    const out = banner(gw, { adminToken: "configured-admin-token", adminTokenGenerated: false });
    expect(out).not.toContain("configured-admin-token");
    expect(out).toContain('Bearer $TOOLGATE_API_KEY"');
    expect(out).toContain("reads the key from $TOOLGATE_API_KEY in your shell");
  });
});
