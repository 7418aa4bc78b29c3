import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "../src/config.js";
import type { GatewayError } from "../src/errors.js";
import { sha256Hex } from "../src/mask.js";

const KEY = "desk-bot-key-0123456789";

function load(yaml: string) {
  const cwd = mkdtempSync(join(tmpdir(), "toolgate-approvers-"));
  writeFileSync(join(cwd, "toolgate.config.yaml"), yaml);
  return loadGatewayConfig({ cwd, env: { ADMIN: "admin-token-0123456789" } });
}

function issues(yaml: string) {
  try {
    load(yaml);
  } catch (err) {
    return (err as GatewayError).issues;
  }
  throw new Error("config accepted");
}

const base = `grants:
  desk-bot: { apiKey: "${KEY}" }
  other-bot: { apiKey: "other-bot-key-0123456789" }
`;

describe("approvals.approvers in the config", () => {
  it("resolves approvers: hashed tokens, roles, globs, acts-as links", () => {
    const loaded = load(`${base}approvals:
  approvers:
    ana: { token: "ana-approver-token-0123", roles: [risk], actsAs: [desk-bot], tools: ["transfer_*"] }
    ben: { tokenHash: "sha256:${sha256Hex("ben-approver-token-0123")}" }
`);
    const [ana, ben] = loaded.approvers;
    expect(ana).toMatchObject({ name: "ana", tokenHash: sha256Hex("ana-approver-token-0123") });
    expect(ana?.roles).toEqual(["risk"]);
    expect(ana?.actsAs.has("desk-bot")).toBe(true);
    expect(ana?.tools[0]?.test("transfer_funds")).toBe(true);
    expect(ana?.tools[0]?.test("get_time")).toBe(false);
    expect(ben?.grants[0]?.test("anything")).toBe(true);
    // Nothing keeps the plain token.
    expect(JSON.stringify(loaded.approvers)).not.toContain("ana-approver-token-0123");
  });

  it("refuses what would let someone approve their own calls, each with path and fix", () => {
    const found = issues(`${base}approvals:
  callerMayApprove: true
  approvers:
    bot-owner: { token: "${KEY}" }
    ana: { token: "ana-approver-token-0123", actsAs: [no-such-grant] }
    twin: { token: "ana-approver-token-0123" }
    cleo: { oauthSubject: "cleo@desk" }
`);
    const at = (path: string) => found.find((i) => i.path === path);
    expect(at("approvals.approvers.bot-owner.token")).toMatchObject({
      message: expect.stringContaining("API key of grant desk-bot"),
      fix: expect.stringContaining("token of its own"),
    });
    expect(at("approvals.approvers.twin.token")?.message).toContain("same token as approver ana");
    expect(at("approvals.approvers.ana.actsAs.0")?.fix).toContain("desk-bot");
    expect(at("approvals.approvers.cleo.oauthSubject")?.fix).toContain("auth.oauth");
    expect(at("approvals.callerMayApprove")?.fix).toContain("remove callerMayApprove");
  });

  it("refuses malformed approvers at their path", () => {
    const found = issues(`${base}approvals:
  mode: later
  approvers:
    "bad name": { token: "x" }
    nocred: { roles: [risk] }
`);
    const paths = found.map((i) => i.path);
    expect(paths).toContain("approvals.mode");
    expect(paths.some((p) => p.startsWith("approvals.approvers"))).toBe(true);
    expect(found.some((i) => /token, tokenHash or oauthSubject/.test(i.message))).toBe(true);
  });
});
