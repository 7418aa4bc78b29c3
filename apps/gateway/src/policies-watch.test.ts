import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { Logger } from "./logger.js";
import { watchPolicyFiles } from "./policies.js";

function watchWithAudit(auditPath: string, dir: string) {
  const logger = { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn() };
  const stop = watchPolicyFiles([join(dir, "policy.yaml")], {
    debounceMs: 10,
    reload: () => {},
    logger: logger as unknown as Logger,
    auditPath,
  });
  stop();
  return logger.info.mock.calls.map((c) => c[1] as string);
}

describe("watchPolicyFiles", () => {
  it("hints when the audit log shares a watched policy folder (each record would wake the watcher)", () => {
    const dir = mkdtempSync(join(tmpdir(), "toolgate-watch-"));
    writeFileSync(join(dir, "policy.yaml"), 'version: "1"\n');
    mkdirSync(join(dir, ".toolgate"));
    expect(watchWithAudit(join(dir, "audit.jsonl"), dir)).toEqual([
      expect.stringContaining("the audit log is in a watched policy folder"),
    ]);
    expect(watchWithAudit(join(dir, ".toolgate", "audit.jsonl"), dir)).toEqual([]);
  });
});
