import { mkdtempSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BuiltinFactory, RunningGateway } from "../src/gateway.js";
import { banner, serveCommand } from "../src/serve.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { memoryLogger } from "./helpers/gateway.js";
import { CapturedIo } from "./helpers/io.js";

const gw = {
  url: "http://127.0.0.1:8080",
  mcpUrl: "http://127.0.0.1:8080/mcp",
  adminUrl: "http://127.0.0.1:8080/admin",
  notes: [],
  // The banner reads the MCP endpoint's OAuth metadata; this gateway has none.
  mcp: { oauth: undefined },
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

describe("serve", () => {
  it("says what to do when the port is taken", async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const port = (busy.address() as AddressInfo).port;
    const io = new CapturedIo(mkdtempSync(join(tmpdir(), "toolgate-serve-")), {
      PORT: String(port),
      TOOLGATE_ADMIN_TOKEN: "admin-token-0123456789",
    });
    const builtins: BuiltinFactory = async (entry) => ({
      upstream: { name: entry.name, server: fakeUpstream() },
      close: async () => {},
    });
    try {
      const code = await serveCommand([], io, {
        builtins,
        logger: memoryLogger().logger,
        stopSignal: new Promise<string>(() => {}),
      });
      expect(code).toBe(1);
      expect(io.err).toContain("EADDRINUSE");
      expect(io.err).toContain("PORT=");
    } finally {
      busy.close();
    }
  });
});
