/**
 * Everything the gateway processes of this suite say (stdout, stderr, audit logs,
 * metrics scrapes) and every error text clients receive is kept as a file in one folder
 * per run, so that after the whole suite one scan can prove no secret leaked anywhere.
 * Each test file also scans what it produced itself (see {@link expectNoSecrets}), so a
 * leak fails the test that caused it, with the file and line.
 */
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { inject } from "vitest";
import { findSecrets } from "./secrets.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The folder every process and test of this run writes its artifacts to. */
    artifactsDir: string;
  }
}

let fallback: string | undefined;

/** This run's artifacts folder (from the global setup; a temp folder when run alone). */
export function artifactsDir(): string {
  let dir: string | undefined;
  try {
    dir = inject("artifactsDir");
  } catch {
    dir = undefined;
  }
  if (dir) return dir;
  fallback ??= mkdtempSync(join(tmpdir(), "toolgate-reliability-"));
  return fallback;
}

/** A fresh sub-folder of the artifacts folder, e.g. for one gateway's cwd and audit log. */
export function artifactSubdir(prefix: string): string {
  const root = artifactsDir();
  mkdirSync(root, { recursive: true });
  return mkdtempSync(join(root, `${prefix.replace(/[^A-Za-z0-9_-]/g, "_")}-`));
}

/**
 * Appends text a client received (error messages, denial reasons, HTTP bodies) to the
 * artifacts, so the final scan covers what agents are told as well as what is logged.
 */
export function recordClientText(source: string, text: string): void {
  const root = artifactsDir();
  mkdirSync(root, { recursive: true });
  appendFileSync(join(root, "client-texts.log"), `${source}\t${text.replace(/\n/g, "\\n")}\n`);
}

/** Every file under `dir`, recursively. */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** One leak: which file, which line, which secret. */
export interface Leak {
  file: string;
  line: number;
  secret: string;
}

/**
 * Scans every artifact under `dir` (default: the whole run) for the suite's secrets, and
 * `extra` values (e.g. listen keys a test saw). Returns the leaks found.
 */
export function scanForSecrets(dir = artifactsDir(), extra: readonly string[] = []): Leak[] {
  const leaks: Leak[] = [];
  let files: string[];
  try {
    files = walk(dir);
  } catch {
    return leaks;
  }
  for (const file of files) {
    const lines = readFileSync(file, "utf8").split("\n");
    lines.forEach((text, i) => {
      for (const secret of findSecrets(text, extra)) {
        leaks.push({ file: relative(dir, file), line: i + 1, secret });
      }
    });
  }
  return leaks;
}

/** Throws with every leak listed when `dir` holds a secret. */
export function expectNoSecrets(dir = artifactsDir(), extra: readonly string[] = []): void {
  const leaks = scanForSecrets(dir, extra);
  if (leaks.length > 0) {
    const list = leaks
      .slice(0, 20)
      .map((l) => `  ${l.file}:${l.line} holds ${l.secret}`)
      .join("\n");
    throw new Error(`secrets leaked into ${leaks.length} artifact line(s):\n${list}`);
  }
}
