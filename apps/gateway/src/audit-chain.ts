import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { sha256Hex } from "./mask.js";

/**
 * The `prev` of the very first record of a log: 64 zeros. A verified chain that starts
 * here is complete; one that starts elsewhere begins at a rotated-away file.
 */
export const GENESIS_HASH = `sha256:${"0".repeat(64)}`;

/** Where the chain continues from: the last record's sequence number and hash. */
export interface ChainHead {
  /** `seq` of the last record written; -1 before the first. */
  readonly seq: number;
  /** `hash` of the last record written (GENESIS_HASH before the first). */
  readonly hash: string;
}

/** The empty chain: the next record is seq 0 and links to {@link GENESIS_HASH}. */
export const EMPTY_CHAIN: ChainHead = { seq: -1, hash: GENESIS_HASH };

// Every chained line ends with this field, so the bytes the hash covers are exactly the
// line without it: no canonicalisation that a reader could get subtly wrong.
const HASH_SUFFIX = /,"hash":"(sha256:[0-9a-f]{64})"\}$/;

function sha256(text: string): string {
  return `sha256:${sha256Hex(text)}`;
}

/**
 * The chained body of `record` without its closing brace: the record's JSON with `seq`
 * and `prev` appended. Serialised once and extended in place of copying the record into
 * a new object; the bytes are exactly those of `{ ...record, seq, prev }` serialised,
 * which the fallback still builds for anything where the two could differ (a record of
 * its own `seq`/`prev`, an array, a `toJSON`).
 */
function openBody(record: object, seq: number, prev: string): string {
  const plain =
    !Array.isArray(record) &&
    !Object.hasOwn(record, "seq") &&
    !Object.hasOwn(record, "prev") &&
    typeof (record as { toJSON?: unknown }).toJSON !== "function";
  if (!plain) return JSON.stringify({ ...record, seq, prev }).slice(0, -1);
  const json = JSON.stringify(record);
  const tail = `"seq":${seq},"prev":${JSON.stringify(prev)}`;
  return json === "{}" ? `{${tail}` : `${json.slice(0, -1)},${tail}`;
}

/**
 * One chained audit line (without the newline): the record with `seq` and `prev` (the
 * previous record's hash) added, then `hash`, the sha256 of the line up to that field
 * (closed with `}`). Editing a record breaks its own hash; deleting or moving one breaks
 * the next record's `prev`.
 *
 * @example
 * const { line, head } = chainLine({ event: "x" }, EMPTY_CHAIN);
 */
export function chainLine(
  record: object,
  previous: ChainHead,
): { readonly line: string; readonly head: ChainHead } {
  const seq = previous.seq + 1;
  const open = openBody(record, seq, previous.hash);
  const hash = sha256(`${open}}`);
  return { line: `${open},"hash":"${hash}"}`, head: { seq, hash } };
}

/**
 * The head a log continues from after a restart: the last line of the file, read
 * backwards in chunks (a 10 MiB file is not read whole). A last line written before
 * the log was chained is linked by the hash of its bytes; an empty file gives undefined.
 */
export function readChainHead(path: string): ChainHead | undefined {
  const line = lastLine(path);
  if (line === undefined) return undefined;
  const own = HASH_SUFFIX.exec(line);
  if (own?.[1] !== undefined) {
    let seq: unknown;
    try {
      seq = (JSON.parse(line) as { seq?: unknown }).seq;
    } catch {
      // Not JSON after all: linked by its bytes below, and `verify` will name it.
    }
    if (typeof seq === "number" && Number.isInteger(seq)) return { seq, hash: own[1] };
  }
  return { seq: -1, hash: sha256(line) };
}

function lastLine(path: string): string | undefined {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const chunk = Buffer.alloc(64 * 1024);
    const parts: Buffer[] = [];
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = readSync(fd, chunk, 0, end - start, start);
      parts.unshift(Buffer.from(chunk.subarray(0, n)));
      const text = Buffer.concat(parts).toString("utf8").replace(/\n+$/, "");
      const nl = text.lastIndexOf("\n");
      if (nl !== -1) return text.slice(nl + 1);
      if (start === 0) return text === "" ? undefined : text;
      end = start;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The first record that breaks the chain: where it is and why. */
export interface ChainBreak {
  readonly file: string;
  /** 1-based line number in `file`. */
  readonly line: number;
  readonly reason: string;
}

/** What {@link verifyChain} found. */
export interface ChainReport {
  readonly ok: boolean;
  readonly records: number;
  /** True when the first record links to {@link GENESIS_HASH} (nothing rotated away). */
  readonly fromGenesis: boolean;
  /** `seq` of the first record checked. */
  readonly firstSeq?: number | undefined;
  /** The last good record's seq and hash: write it down elsewhere to anchor the log. */
  readonly head: ChainHead;
  readonly broken?: ChainBreak | undefined;
}

type LineCheck = { ok: true; seq: number; prev: string; hash: string } | { ok: false; why: string };

function parseChained(line: string): LineCheck {
  const own = HASH_SUFFIX.exec(line);
  if (own?.[1] === undefined) return { ok: false, why: "the record has no hash (not chained)" };
  let parsed: { seq?: unknown; prev?: unknown };
  try {
    parsed = JSON.parse(line) as { seq?: unknown; prev?: unknown };
  } catch {
    return { ok: false, why: "the record is not valid JSON" };
  }
  const { seq, prev } = parsed;
  if (typeof seq !== "number" || !Number.isInteger(seq) || typeof prev !== "string") {
    return { ok: false, why: "the record has no seq or prev field" };
  }
  if (sha256(`${line.slice(0, own.index)}}`) !== own[1]) {
    return { ok: false, why: "the record's content does not match its hash (edited)" };
  }
  return { ok: true, seq, prev, hash: own[1] };
}

/**
 * Checks one chain across files given oldest first (`audit.jsonl.2 audit.jsonl.1
 * audit.jsonl`): every record's own hash, and that each record links to the one before
 * it (across file boundaries too). Stops at the first broken record. The first record
 * checked may link to a file that was rotated away; that is reported as
 * `fromGenesis: false`, not as a break.
 *
 * @example
 * const report = verifyChain([{ name: "audit.jsonl", text: readFileSync("audit.jsonl", "utf8") }]);
 */
export function verifyChain(
  files: ReadonlyArray<{ readonly name: string; readonly text: string }>,
): ChainReport {
  let head: ChainHead | undefined;
  let firstSeq: number | undefined;
  let fromGenesis = false;
  let records = 0;
  const result = (broken?: ChainBreak): ChainReport => ({
    ok: broken === undefined,
    records,
    fromGenesis,
    firstSeq,
    head: head ?? EMPTY_CHAIN,
    broken,
  });
  for (const file of files) {
    const lines = file.text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    for (const [i, line] of lines.entries()) {
      const at = { file: file.name, line: i + 1 };
      const c = parseChained(line);
      if (!c.ok) return result({ ...at, reason: c.why });
      if (head === undefined) {
        firstSeq = c.seq;
        fromGenesis = c.prev === GENESIS_HASH;
        if (fromGenesis && c.seq !== 0) {
          return result({ ...at, reason: `the first record links to genesis but is seq ${c.seq}` });
        }
      } else if (c.prev !== head.hash || c.seq !== head.seq + 1) {
        return result({
          ...at,
          reason: `the record (seq ${c.seq}) does not follow seq ${head.seq}: a record before it was deleted, moved or edited`,
        });
      }
      head = { seq: c.seq, hash: c.hash };
      records++;
    }
  }
  return result();
}
