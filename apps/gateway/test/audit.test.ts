import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type AuditEntry, AuditLog } from "../src/audit.js";
import { chainLine, EMPTY_CHAIN } from "../src/audit-chain.js";

const entry = (i: number): AuditEntry => ({
  time: new Date(0).toISOString(),
  decisionId: `d${i}`,
  grant: "demo",
  tool: "binance_us_create_listen_key",
  effect: "allow",
  code: "ALLOWED",
  rule: "tools.binance_us_create_listen_key.limits[0]",
  reason: "allowed",
  argumentKeys: ["symbol"],
  argumentsDigest: "ab".repeat(32),
  shadow: false,
});

describe("AuditLog", () => {
  it("appends JSON lines and rotates by size, keeping N files", () => {
    const path = join(mkdtempSync(join(tmpdir(), "toolgate-audit-")), "sub", "audit.jsonl");
    // Every chained line is the record plus seq, prev and hash; seq 0..9 keep one width.
    const lineBytes = chainLine(entry(0), EMPTY_CHAIN).line.length + 1;
    const log = new AuditLog({ path, maxBytes: lineBytes * 3, keep: 2 });
    for (let i = 0; i < 10; i++) log.write(entry(i));
    log.close();
    const read = (p: string) =>
      readFileSync(p, "utf8")
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as AuditEntry).decisionId);
    expect(read(path)).toEqual(["d9"]);
    expect(read(`${path}.1`)).toEqual(["d6", "d7", "d8"]);
    expect(read(`${path}.2`)).toEqual(["d3", "d4", "d5"]);
    expect(existsSync(`${path}.3`)).toBe(false);
  });

  it("continues an existing file after a restart", () => {
    const path = join(mkdtempSync(join(tmpdir(), "toolgate-audit-")), "audit.jsonl");
    new AuditLog({ path }).write(entry(1));
    const again = new AuditLog({ path });
    again.write(entry(2));
    again.close();
    expect(readFileSync(path, "utf8").trim().split("\n")).toHaveLength(2);
  });
});
