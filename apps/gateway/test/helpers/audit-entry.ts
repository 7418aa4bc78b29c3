import type { AuditEntry } from "../../src/audit.js";

/** Audit record number `i` (its time and decision id follow `i`). */
export const auditEntry = (i: number): AuditEntry => ({
  time: new Date(i * 1000).toISOString(),
  decisionId: `d${i}`,
  grant: "demo",
  tool: "transfer_funds",
  effect: "allow",
  code: "ALLOWED",
  rule: "tools.transfer_funds",
  reason: "allowed",
  argumentKeys: ["amount"],
  argumentsDigest: "ab".repeat(32),
  shadow: false,
});
