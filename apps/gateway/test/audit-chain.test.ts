import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { AuditLog } from "../src/audit.js";
import { GENESIS_HASH } from "../src/audit-chain.js";
import { runCli } from "../src/cli.js";
import { auditEntry } from "./helpers/audit-entry.js";
import { TSX_IMPORT } from "./helpers/gateway.js";
import { CapturedIo } from "./helpers/io.js";

const entry = auditEntry;

/** A log of `n` records in a fresh folder; rotates after about `perFile` records. */
function writeLog(n: number, perFile = 1000) {
  const dir = mkdtempSync(join(tmpdir(), "toolgate-chain-"));
  const path = join(dir, "audit.jsonl");
  const probe = JSON.stringify(entry(10)).length + 200; // + seq, prev, hash
  const log = new AuditLog({ path, maxBytes: probe * perFile, keep: 10 });
  for (let i = 0; i < n; i++) log.write(entry(i));
  log.close();
  return { dir, path, head: log.head };
}

async function verify(dir: string, ...files: string[]) {
  const io = new CapturedIo(dir);
  const code = await runCli(["audit", "verify", ...files], io);
  return { code, out: io.out, err: io.err };
}

const lines = (p: string) => readFileSync(p, "utf8").trimEnd().split("\n");
const save = (p: string, ls: string[]) => writeFileSync(p, `${ls.join("\n")}\n`);

describe("audit hash chain", () => {
  it("chains every record to the one before it, from genesis", async () => {
    const { dir, path, head } = writeLog(5);
    const recs = lines(path).map(
      (l) => JSON.parse(l) as { seq: number; prev: string; hash: string },
    );
    expect(recs.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(recs[0]?.prev).toBe(GENESIS_HASH);
    for (let i = 1; i < 5; i++) expect(recs[i]?.prev).toBe(recs[i - 1]?.hash);
    expect(head).toEqual({ seq: 4, hash: recs[4]?.hash });
    const r = await verify(dir, "audit.jsonl");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(
      "ok: 5 record(s) in 1 file(s), chained from the first record ever written",
    );
    expect(r.out).toContain(`head: seq 4 ${head.hash}`);
  });

  it("names an edited record by file and line", async () => {
    const { dir, path } = writeLog(6);
    const ls = lines(path);
    ls[3] = (ls[3] as string).replace('"effect":"allow"', '"effect":"deny"');
    save(path, ls);
    const r = await verify(dir, "audit.jsonl");
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      "broken: audit.jsonl:4: the record's content does not match its hash (edited)",
    );
  });

  it("catches an edit whose hash was recomputed, at the next record", async () => {
    const { dir, path } = writeLog(6);
    const ls = lines(path);
    // A forger who knows the scheme fixes the edited record's own hash; its successor
    // still links to the original.
    const edited = JSON.parse((ls[2] as string).replace('"d2"', '"dX"')) as Record<string, unknown>;
    const { hash: _h, ...rest } = edited;
    const { createHash } = await import("node:crypto");
    const body = JSON.stringify(rest);
    const hash = `sha256:${createHash("sha256").update(body).digest("hex")}`;
    ls[2] = `${body.slice(0, -1)},"hash":"${hash}"}`;
    save(path, ls);
    const r = await verify(dir, "audit.jsonl");
    expect(r.code).toBe(1);
    expect(r.err).toContain("broken: audit.jsonl:4: the record (seq 3) does not follow seq 2");
  });

  it("names the record after a deleted one", async () => {
    const { dir, path } = writeLog(6);
    const ls = lines(path);
    ls.splice(2, 1);
    save(path, ls);
    const r = await verify(dir, "audit.jsonl");
    expect(r.code).toBe(1);
    expect(r.err).toContain("broken: audit.jsonl:3: the record (seq 3) does not follow seq 1");
    expect(r.err).toContain("(2 record(s) before it verified)");
  });

  it("names the first of two reordered records", async () => {
    const { dir, path } = writeLog(6);
    const ls = lines(path);
    [ls[3], ls[4]] = [ls[4] as string, ls[3] as string];
    save(path, ls);
    const r = await verify(dir, "audit.jsonl");
    expect(r.code).toBe(1);
    expect(r.err).toContain("broken: audit.jsonl:4: the record (seq 4) does not follow seq 2");
  });

  it("refuses a record without a hash and an unreadable file", async () => {
    const { dir, path } = writeLog(3);
    const ls = lines(path);
    ls.push(JSON.stringify(entry(9)));
    save(path, ls);
    const r = await verify(dir, "audit.jsonl");
    expect(r.code).toBe(1);
    expect(r.err).toContain("audit.jsonl:4: the record has no hash");
    expect((await verify(dir, "nope.jsonl")).code).toBe(2);
    expect((await verify(dir)).code).toBe(2);
  });

  it("a chain across rotation verifies; files out of order or one missing do not", async () => {
    const { dir, path } = writeLog(10, 3);
    const files = ["audit.jsonl.3", "audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"];
    const first = JSON.parse(lines(path)[0] as string) as { prev: string; seq: number };
    const lastOfPrevious = JSON.parse(lines(`${path}.1`).at(-1) as string) as { hash: string };
    expect(first.prev).toBe(lastOfPrevious.hash);
    const ok = await verify(dir, ...files);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toContain(
      "ok: 10 record(s) in 4 file(s), chained from the first record ever written",
    );
    // The newest files alone still verify, starting mid-chain.
    const tail = await verify(dir, "audit.jsonl.1", "audit.jsonl");
    expect(tail.code).toBe(0);
    expect(tail.out).toMatch(/chained from seq \d+ \(earlier files rotated away/);
    const skipped = await verify(dir, "audit.jsonl.3", "audit.jsonl.1", "audit.jsonl");
    expect(skipped.code).toBe(1);
    expect(skipped.err).toMatch(
      /broken: audit\.jsonl\.1:1: the record \(seq \d+\) does not follow/,
    );
    const swapped = await verify(
      dir,
      "audit.jsonl.3",
      "audit.jsonl.1",
      "audit.jsonl.2",
      "audit.jsonl",
    );
    expect(swapped.code).toBe(1);
  });

  it("continues the chain after a restart, and after a restart right behind a rotation", async () => {
    const { dir, path } = writeLog(4);
    const again = new AuditLog({ path });
    again.write(entry(4));
    again.close();
    expect((await verify(dir, "audit.jsonl")).code).toBe(0);
    // Rotated, then the process stopped before the new file got a record.
    const { renameSync } = await import("node:fs");
    renameSync(path, `${path}.1`);
    const third = new AuditLog({ path });
    third.write(entry(5));
    third.close();
    const r = await verify(dir, "audit.jsonl.1", "audit.jsonl");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("ok: 6 record(s)");
  });

  it("the toolgate binary exits 1 on a broken chain", async () => {
    const { dir, path } = writeLog(3);
    const ls = lines(path);
    ls.splice(1, 1);
    save(path, ls);
    const bin = new URL("../src/bin.ts", import.meta.url).pathname;
    const run = promisify(execFile);
    const err = await run(
      process.execPath,
      [...TSX_IMPORT, bin, "audit", "verify", "audit.jsonl"],
      {
        cwd: dir,
      },
    ).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toContain("broken: audit.jsonl:2:");
  });
});

describe("audit log after a crash mid-write", () => {
  it("starts a new line after a half-written one, and verify names the half line", async () => {
    const { dir, path } = writeLog(3);
    const { appendFileSync } = await import("node:fs");
    appendFileSync(path, '{"time":"2026-01-01T00:00:00.000Z","decisionId":"half');
    const again = new AuditLog({ path });
    again.write(entry(3));
    again.close();
    const ls = lines(path);
    expect(ls).toHaveLength(5);
    expect(JSON.parse(ls[4] as string)).toMatchObject({ decisionId: "d3" });
    const r = await verify(dir, "audit.jsonl");
    expect(r.code).toBe(1);
    expect(r.err).toContain("broken: audit.jsonl:4: the record has no hash");
  });
});
