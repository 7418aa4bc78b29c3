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
}

/**
 * An append-only JSON-lines audit log with size-capped rotation. Writes are synchronous
 * on purpose: an audit record that is lost in a crash after the call went through is
 * worse than a few microseconds per call.
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
  #fd: number | undefined;
  #size = 0;
  #head: ChainHead = EMPTY_CHAIN;

  constructor(options: AuditLogOptions) {
    this.path = options.path;
    this.maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
    this.keep = options.keep ?? 5;
    mkdirSync(dirname(this.path), { recursive: true });
    this.#open();
    // Continue the chain after a restart: from the file's last record, or, when the file
    // was just rotated and is still empty, from the last record of the newest rotated one.
    const from = this.#size > 0 ? this.path : existsSync(`${this.path}.1`) ? `${this.path}.1` : "";
    this.#head = (from === "" ? undefined : readChainHead(from)) ?? EMPTY_CHAIN;
  }

  /** The last record written: its `seq` and `hash` (anchor it elsewhere to pin the log). */
  get head(): ChainHead {
    return this.#head;
  }

  /** Appends one record (one line), rotating first if the line would not fit. */
  write(
    entry: AuditEntry | PolicyPublishedEntry | ToolDefinitionEntry | ResourceResultEntry,
  ): void {
    const chained = chainLine(entry, this.#head);
    const line = `${chained.line}\n`;
    const bytes = Buffer.byteLength(line);
    if (this.#size > 0 && this.#size + bytes > this.maxBytes) this.#rotate();
    if (this.#fd === undefined) this.#open();
    writeSync(this.#fd as number, line);
    // The head moves only once the line is written: a failed write (full disk) leaves
    // the chain linking to the last record that is really in the file.
    this.#head = chained.head;
    this.#size += bytes;
  }

  /** Closes the file; later writes reopen it. */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
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
