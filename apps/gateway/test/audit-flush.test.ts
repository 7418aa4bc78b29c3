import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it, vi } from "vitest";
import { type AuditEntry, AuditLog } from "../src/audit.js";
import { verifyChain } from "../src/audit-chain.js";
import { auditEntry } from "./helpers/audit-entry.js";

const entry = auditEntry;

const fresh = () => join(mkdtempSync(join(tmpdir(), "toolgate-flush-")), "audit.jsonl");
const ids = (path: string) =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (JSON.parse(l) as AuditEntry).decisionId);
const endOfTurn = () => new Promise((r) => setImmediate(r));
const verify = (...paths: string[]) =>
  verifyChain(paths.map((p) => ({ name: p, text: readFileSync(p, "utf8") })));

describe("AuditLog flush", () => {
  it('"call" (the default) writes each appended record at once', () => {
    const path = fresh();
    const log = new AuditLog({ path });
    log.append(entry(0));
    expect(ids(path)).toEqual(["d0"]);
    log.close();
  });

  it('"turn" writes the records of one event-loop turn together, in order, chained', async () => {
    const path = fresh();
    const log = new AuditLog({ path, flush: "turn" });
    for (let i = 0; i < 3; i++) log.append(entry(i));
    expect(ids(path)).toEqual([]);
    await endOfTurn();
    expect(ids(path)).toEqual(["d0", "d1", "d2"]);
    log.append(entry(3));
    // A synchronous write comes after what is buffered, and head is what is in the file.
    log.write(entry(4));
    expect(ids(path)).toEqual(["d0", "d1", "d2", "d3", "d4"]);
    expect(verify(path)).toMatchObject({ ok: true, records: 5, head: log.head });
    log.close();
  });

  it("close, head and a second log of the same file write what is buffered first", () => {
    const path = fresh();
    const first = new AuditLog({ path, flush: "turn" });
    first.append(entry(0));
    const second = new AuditLog({ path, flush: "turn" });
    expect(ids(path)).toEqual(["d0"]);
    second.append(entry(1));
    expect(second.head.seq).toBe(1);
    first.append(entry(2));
    first.close();
    expect(ids(path)).toEqual(["d0", "d1", "d2"]);
  });

  it("rotates between records while buffering, and the chain runs across the files", async () => {
    const path = fresh();
    const probe = new AuditLog({ path: fresh() });
    probe.write(entry(0));
    const lineBytes = readFileSync(probe.path).length;
    const log = new AuditLog({ path, flush: "turn", maxBytes: lineBytes * 3, keep: 5 });
    for (let i = 0; i < 10; i++) log.append(entry(i));
    await endOfTurn();
    expect([...ids(`${path}.3`), ...ids(`${path}.2`), ...ids(`${path}.1`), ...ids(path)]).toEqual([
      "d0",
      "d1",
      "d2",
      "d3",
      "d4",
      "d5",
      "d6",
      "d7",
      "d8",
      "d9",
    ]);
    expect(verify(`${path}.3`, `${path}.2`, `${path}.1`, path)).toMatchObject({
      ok: true,
      records: 10,
      fromGenesis: true,
    });
  });

  it("reports records it could not write, and the chain continues from the last one written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "toolgate-flush-"));
    const path = join(dir, "logs", "audit.jsonl");
    const onError = vi.fn();
    const log = new AuditLog({ path, flush: "turn", onError });
    log.write(entry(0));
    const written = log.head;
    log.close();
    rmSync(join(dir, "logs"), { recursive: true });
    log.append(entry(1));
    log.append(entry(2));
    await endOfTurn();
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError.mock.calls[0]?.[1]).toBe(2);
    mkdirSync(join(dir, "logs"));
    log.append(entry(3));
    log.close();
    const next = JSON.parse(readFileSync(path, "utf8")) as { seq: number; prev: string };
    expect(next).toMatchObject({ seq: written.seq + 1, prev: written.hash });
  });

  it("an uncaught exception still writes the records of the turn (on exit)", async () => {
    const path = fresh();
    const script = join(mkdtempSync(join(tmpdir(), "toolgate-flush-")), "crash.ts");
    const audit = fileURLToPath(new URL("../src/audit.ts", import.meta.url));
    writeFileSync(
      script,
      `import { AuditLog } from ${JSON.stringify(audit)};
const log = new AuditLog({ path: ${JSON.stringify(path)}, flush: "turn" });
log.append(${JSON.stringify(entry(0))});
throw new Error("crash");
`,
    );
    const run = promisify(execFile);
    const crashed = await run(process.execPath, ["--import", import.meta.resolve("tsx"), script])
      .then(() => undefined)
      .catch((e: { code: number }) => e);
    expect(crashed?.code).toBe(1);
    expect(ids(path)).toEqual(["d0"]);
  });
});
