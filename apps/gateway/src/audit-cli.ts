/**
 * `toolgate audit verify FILE…`: checks the audit log's hash chain and names the first
 * broken record by file and line.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { verifyChain } from "./audit-chain.js";

/** `--help` of `toolgate audit`. */
export const AUDIT_HELP = `Usage: toolgate audit verify FILE... [--json]

Checks the hash chain of audit log files, given oldest first, e.g.
  toolgate audit verify .toolgate/audit.jsonl.2 .toolgate/audit.jsonl.1 .toolgate/audit.jsonl
Each record must match its own hash and link to the record before it, across rotated
files. Prints the number of records and the head (last seq and hash: keep it somewhere
else to detect a rewritten or truncated tail later). Exits 0 when the chain holds, 1 with
the file and line of the first broken record (edited, deleted or reordered), 2 on a
usage error or an unreadable file.
`;

type AuditIo = Parameters<typeof import("./cli.js").runCli>[1];

/**
 * Runs `toolgate audit <subcommand>`; returns the exit code.
 *
 * @example await auditCommand(["verify", "audit.jsonl"], io) // 0 when the chain holds
 */
export async function auditCommand(argv: string[], io: AuditIo): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    io.stdout.write(AUDIT_HELP);
    return 0;
  }
  const [sub, ...names] = positionals;
  if (sub !== "verify" || names.length === 0) {
    io.stderr.write(`error: give "verify" and at least one audit file\n\n${AUDIT_HELP}`);
    return 2;
  }
  const files: Array<{ name: string; text: string }> = [];
  for (const name of names) {
    try {
      files.push({ name, text: readFileSync(resolve(io.cwd, name), "utf8") });
    } catch (err) {
      io.stderr.write(`error: cannot read ${name}: ${(err as NodeJS.ErrnoException).code}\n`);
      return 2;
    }
  }
  const report = verifyChain(files);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.ok ? 0 : 1;
  }
  if (report.broken) {
    const b = report.broken;
    io.stderr.write(
      `broken: ${b.file}:${b.line}: ${b.reason}\n(${report.records} record(s) before it verified)\n`,
    );
    return 1;
  }
  const start = report.fromGenesis
    ? "from the first record ever written"
    : `from seq ${report.firstSeq ?? 0} (earlier files rotated away or not given)`;
  io.stdout.write(
    `ok: ${report.records} record(s) in ${files.length} file(s), chained ${start}\nhead: seq ${report.head.seq} ${report.head.hash}\n`,
  );
  return 0;
}
