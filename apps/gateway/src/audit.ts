import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { type ChainHead, chainLine, EMPTY_CHAIN, readChainHead } from "./audit-chain.js";

/**
 * One audit record. Argument *values* are never part of it: only their keys and a
 * digest, so the audit trail can prove which call was made without holding secrets.
 */
export interface AuditEntry {
  /** ISO-8601 time of the decision. */
  readonly time: string;
  readonly decisionId: string;
  readonly grant: string;
  /** The verified subject (OAuth `sub`) behind the grant; never the token itself. */
  readonly subject?: string | undefined;
  /** The OAuth client id of the caller's token. */
  readonly clientId?: string | undefined;
  readonly session?: string | undefined;
  readonly tool: string;
  readonly upstream?: string | undefined;
  readonly effect: string;
  readonly code: string;
  /** Path of the deciding rule in the policy. */
  readonly rule: string;
  readonly reason: string;
  readonly argumentKeys: readonly string[];
  /** sha256 of the canonical JSON of the arguments. */
  readonly argumentsDigest: string;
  /** True when the deciding rule is in shadow mode (decided and logged, never blocked). */
  readonly shadow: boolean;
  readonly shadowEffect?: string | undefined;
  readonly outcome?: string | undefined;
  /**
   * Who approved or rejected a held call: `admin` (the admin token), `caller:withdrawn`,
   * `caller:cancelled`, `timeout`, ...; never the caller's key.
   */
  readonly approver?: string | undefined;
  readonly retryAfterMs?: number | undefined;
  readonly policyVersion?: string | undefined;
  readonly upstreamMs?: number | undefined;
  /** The tool's definition did not match its pin: both digests and what was done. */
  readonly pin?:
    | {
        readonly expected?: string | undefined;
        readonly actual: string;
        readonly action: string;
        readonly shadow: boolean;
      }
    | undefined;
  /**
   * What the tool's result policy did: its action and how many values it removed per
   * detector (from the result and from progress notifications), never the values.
   */
  readonly result?:
    | {
        readonly ruleId: string;
        readonly action: string;
        readonly shadowAction?: string | undefined;
        readonly redactions: Readonly<Record<string, number>>;
        readonly progressRedactions?: Readonly<Record<string, number>> | undefined;
        readonly progressWithheld?: number | undefined;
        readonly logRedactions?: Readonly<Record<string, number>> | undefined;
        readonly logsWithheld?: number | undefined;
        readonly bytesIn?: number | undefined;
        readonly bytesOut?: number | undefined;
      }
    | undefined;
}

/**
 * A tool definition that no longer matches its pin (`tool_definition_changed`), or one
 * recorded on first use (`tool_definition_trusted`): the digests, never the definition.
 */
export interface ToolDefinitionEntry {
  readonly time: string;
  readonly event: "tool_definition_changed" | "tool_definition_trusted";
  readonly grant: string;
  readonly upstream: string;
  readonly tool: string;
  /** The pin or first-seen digest the definition was held to. */
  readonly oldDigest?: string | undefined;
  readonly newDigest: string;
  /** `hide`, `approval`, `report`, or `show` for a first trust. */
  readonly action: string;
  readonly mode: string;
  readonly shadow: boolean;
  /** Paths of the fields that changed, when the gateway saw the approved definition. */
  readonly changed?: readonly string[] | undefined;
  readonly policyVersion: string;
}

/**
 * A `resources/read` result screened by the policy's `resources` section: what was done
 * and how many values were removed per detector; never a value, nor the URI (a client's
 * URI may carry a credential).
 */
export interface ResourceResultEntry {
  readonly time: string;
  readonly event: "resource_result";
  readonly grant: string;
  readonly sub?: string | undefined;
  readonly session?: string | undefined;
  readonly result: {
    readonly ruleId: string;
    readonly action: string;
    readonly shadowAction?: string | undefined;
    readonly redactions: Readonly<Record<string, number>>;
    readonly bytesIn?: number | undefined;
    readonly bytesOut?: number | undefined;
  };
}

/**
 * A policy published from the policy studio: who, which file, and the content hashes
 * (sha256 of the exact bytes) before and after, so the audit trail says which policy
 * decided every later call. The policy text itself is in the file, not here.
 */
export interface PolicyPublishedEntry {
  readonly time: string;
  readonly event: "policy_published";
  /** The authenticated publisher (today the admin token: "admin"). */
  readonly by: string;
  readonly grant: string;
  /** Every grant that uses the file (they all get the new policy). */
  readonly grants: readonly string[];
  /** The policy file's name. */
  readonly policy: string;
  readonly oldHash: string;
  readonly newHash: string;
  readonly oldVersion: string;
  readonly newVersion: string;
  /** True when changed rules were published in `mode: shadow`. */
  readonly shadow: boolean;
  readonly note?: string | undefined;
}

/** Options of {@link AuditLog}. */
export interface AuditLogOptions {
  /** File to append JSON lines to; its folder is created. */
  readonly path: string;
  /** Rotate when the file would exceed this size. Default 10 MiB. */
  readonly maxBytes?: number;
  /** Rotated files kept (`audit.jsonl.1` newest ... `.N` oldest). Default 5. */
  readonly keep?: number;
  /**
   * When {@link AuditLog.append} writes: `call` (default) at once, so a call's record is
   * in the file before its answer leaves; `turn` once per event-loop turn, with the
   * other records of that turn (fewer writes; see the class notes for what a crash can
   * lose). {@link AuditLog.write} is synchronous either way.
   */
  readonly flush?: "call" | "turn";
  /**
   * Told when buffered records (see {@link AuditLog.append}) could not be written (a full
   * disk): the error and how many records were lost. Default: a process warning.
   */
  readonly onError?: (err: Error, lost: number) => void;
}

/** Buffered records are written at once past this many bytes, without waiting for the turn's end. */
const FLUSH_BYTES = 64 * 1024;

/** Logs holding buffered records: written out when the process exits (an uncaught error too). */
const unflushed = new Set<AuditLog>();
let exitHookInstalled = false;

function flushAllOnExit(): void {
  for (const log of [...unflushed]) {
    try {
      log.flush();
    } catch {
      // Exiting anyway; flush() already reported what was lost.
    }
  }
}

/** Records accepted but not yet in the file, in order. */
interface Pending {
  lines: string[];
  heads: ChainHead[];
  bytes: number[];
  total: number;
}

type AnyEntry = AuditEntry | PolicyPublishedEntry | ToolDefinitionEntry | ResourceResultEntry;

/**
 * An append-only JSON-lines audit log with size-capped rotation.
 *
 * {@link write} appends synchronously: the record is in the file when it returns. The
 * per-call records of the gateway go through {@link append}, which does the same by
 * default (`flush: "call"`: an audit record lost in a crash after its call went through
 * is worse than a few microseconds per call). With `flush: "turn"` they are chained at
 * once and written together with the other records of the same event-loop turn, in one
 * write (or sooner past 64 KiB). What that costs: the answer of a call may leave before
 * its record is in the file (a reader of the file may see it a moment later), and a
 * process killed outright (SIGKILL, out of memory, a fatal native error) loses at most
 * the records of its last turn. An uncaught exception or `process.exit()` still writes
 * them (on the process's `exit` event); `close()`, `flush()`, `write()` and `head` write
 * them first.
 *
 * The log is a hash chain: each line carries `seq`, `prev` (the previous record's hash)
 * and `hash` (of the line itself up to that field), across rotation and restarts, so an
 * edited, deleted or reordered record is found by `toolgate audit verify` (see
 * `verifyChain` in audit-chain.ts).
 *
 * @example
 * const audit = new AuditLog({ path: ".toolgate/audit.jsonl", maxBytes: 10 << 20, keep: 5 });
 * audit.write(entry);
 */
export class AuditLog {
  readonly path: string;
  readonly maxBytes: number;
  readonly keep: number;
  /** When {@link append} writes (see {@link AuditLogOptions.flush}). */
  readonly flushEvery: "call" | "turn";
  readonly #onError: (err: Error, lost: number) => void;
  #fd: number | undefined;
  #size = 0;
  /** The last record in the file. */
  #head: ChainHead = EMPTY_CHAIN;
  /** The last record accepted (in the file or pending): the next one links to it. */
  #next: ChainHead = EMPTY_CHAIN;
  #pending: Pending = { lines: [], heads: [], bytes: [], total: 0 };
  #scheduled = false;

  constructor(options: AuditLogOptions) {
    this.path = options.path;
    this.maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
    this.keep = options.keep ?? 5;
    this.flushEvery = options.flush ?? "call";
    this.#onError =
      options.onError ??
      ((err, lost) =>
        process.emitWarning(`audit log ${this.path}: ${lost} record(s) lost: ${err.message}`));
    // Another log of this process buffering for the same file: its records come first.
    for (const other of unflushed) if (other.path === this.path) other.flush();
    mkdirSync(dirname(this.path), { recursive: true });
    this.#open();
    // Continue the chain after a restart: from the file's last record, or, when the file
    // was just rotated and is still empty, from the last record of the newest rotated one.
    const from = this.#size > 0 ? this.path : existsSync(`${this.path}.1`) ? `${this.path}.1` : "";
    this.#head = (from === "" ? undefined : readChainHead(from)) ?? EMPTY_CHAIN;
    this.#next = this.#head;
  }

  /** The last record written: its `seq` and `hash` (anchor it elsewhere to pin the log). */
  get head(): ChainHead {
    this.flush();
    return this.#head;
  }

  /** Appends one record (one line) synchronously, after any buffered ones; rotates as needed. */
  write(entry: AnyEntry): void {
    this.#accept(entry);
    this.#flushOrThrow();
  }

  /**
   * Appends one per-call record: at once (`flush: "call"`), or chained now and written
   * with the rest of this event-loop turn's records (`flush: "turn"`, see the class
   * notes). A failure is reported to `onError` with the number of records lost, not thrown.
   */
  append(entry: AnyEntry): void {
    try {
      this.#accept(entry);
    } catch (err) {
      // This record could not be chained or the file not rotated: it is lost, and said so.
      this.#onError(err as Error, 1);
      return;
    }
    if (this.flushEvery === "call" || this.#pending.total >= FLUSH_BYTES) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes the buffered records now; a failure is reported to `onError`. */
  flush(): void {
    try {
      this.#flushOrThrow();
    } catch {
      // Reported by #flushOrThrow.
    }
  }

  /** Writes the buffered records, then closes the file; later writes reopen it. */
  close(): void {
    this.flush();
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #accept(entry: AnyEntry): void {
    const chained = chainLine(entry, this.#next);
    const line = `${chained.line}\n`;
    const bytes = Buffer.byteLength(line);
    const size = this.#size + this.#pending.total;
    if (size > 0 && size + bytes > this.maxBytes) {
      // Rotation is between records: what is pending goes into the current file first.
      this.#flushOrThrow();
      if (this.#size > 0) this.#rotate();
    }
    const p = this.#pending;
    p.lines.push(line);
    p.heads.push(chained.head);
    p.bytes.push(bytes);
    p.total += bytes;
    this.#next = chained.head;
    // Only a log that leaves records buffered past this call needs writing at exit.
    if (p.lines.length === 1 && this.flushEvery === "turn") {
      unflushed.add(this);
      if (!exitHookInstalled) {
        exitHookInstalled = true;
        process.on("exit", flushAllOnExit);
      }
    }
  }

  #flushOrThrow(): void {
    this.#scheduled = false;
    const p = this.#pending;
    if (p.lines.length === 0) return;
    this.#pending = { lines: [], heads: [], bytes: [], total: 0 };
    unflushed.delete(this);
    const buf = Buffer.from(p.lines.length === 1 ? (p.lines[0] as string) : p.lines.join(""));
    let written = 0;
    try {
      if (this.#fd === undefined) this.#open();
      while (written < buf.length) written += writeSync(this.#fd as number, buf, written);
    } catch (err) {
      this.#lost(p, written, err as Error);
      throw err;
    } finally {
      this.#size += written;
    }
    // The head moves only once the lines are written: a failed write (full disk) leaves
    // the chain linking to the last record that is really in the file.
    this.#head = p.heads[p.heads.length - 1] as ChainHead;
  }

  /** After a failed write: the chain continues from the last whole record in the file. */
  #lost(p: Pending, written: number, err: Error): void {
    let whole = 0;
    for (let done = 0; whole < p.bytes.length; whole++) {
      done += p.bytes[whole] as number;
      if (done > written) break;
    }
    if (whole > 0) this.#head = p.heads[whole - 1] as ChainHead;
    this.#next = this.#head;
    // Reopened before the next record, which then starts on a line of its own even
    // after a half-written one.
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch {
        // The descriptor is dropped either way.
      }
    }
    this.#fd = undefined;
    this.#onError(err, p.lines.length - whole);
  }

  #open(): void {
    this.#fd = openSync(this.path, "a");
    this.#size = fstatSync(this.#fd).size;
    // A crash mid-write can leave a last line without its newline; the next record must
    // not be glued to it (the half line stays, and `audit verify` names it).
    if (this.#size > 0 && !endsWithNewline(this.path, this.#size)) {
      writeSync(this.#fd, "\n");
      this.#size += 1;
    }
  }

  #rotate(): void {
    this.close();
    const oldest = `${this.path}.${this.keep}`;
    if (existsSync(oldest)) rmSync(oldest);
    for (let i = this.keep - 1; i >= 1; i--) {
      const from = `${this.path}.${i}`;
      if (existsSync(from)) renameSync(from, `${this.path}.${i + 1}`);
    }
    renameSync(this.path, `${this.path}.1`);
    this.#open();
  }
}

function endsWithNewline(path: string, size: number): boolean {
  const fd = openSync(path, "r");
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}
