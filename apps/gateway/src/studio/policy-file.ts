import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { open, readFile, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import {
  type PolicyDocument,
  PolicyError,
  type PolicyIssue,
  parsePolicyText,
} from "@toolgate/policy-engine";
import { parseDocument, stringify } from "yaml";

/** A policy's text format. */
export type PolicyFormat = "json" | "yaml";

/** `sha256:<hex>` of the exact bytes: what the audit log records as old/new content. */
export function contentHash(text: string): string {
  return `sha256:${createHash("sha256").update(text, "utf8").digest("hex")}`;
}

/** The format a policy file is written in, from its extension (as the engine reads it). */
export function formatOfPath(path: string): PolicyFormat {
  const ext = extname(path).toLowerCase();
  return ext === ".yaml" || ext === ".yml" ? "yaml" : "json";
}

/** Result of {@link checkPolicyText}. */
export interface PolicyCheck {
  readonly ok: boolean;
  /** Every problem with its path and fix, exactly as `toolgate validate` words them. */
  readonly issues: readonly PolicyIssue[];
  /** The validated document when ok. */
  readonly document?: PolicyDocument | undefined;
  /** The parsed value even when it is not a valid policy (so a form can still show it). */
  readonly value?: unknown;
}

/**
 * Parses and validates draft text with the engine's own parser, so the studio shows the
 * same path-and-fix messages as `toolgate validate` and refuses what the gateway would.
 */
export function checkPolicyText(text: string, format: PolicyFormat): PolicyCheck {
  let value: unknown;
  try {
    if (format === "json") value = JSON.parse(text);
    else {
      const doc = parseDocument(text, { merge: true, uniqueKeys: true });
      if (doc.errors.length === 0) value = doc.toJS({ maxAliasCount: 100 });
    }
  } catch {
    value = undefined;
  }
  try {
    const document = parsePolicyText(text, { format });
    return { ok: true, issues: [], document, value: document };
  } catch (err) {
    if (err instanceof PolicyError) return { ok: false, issues: err.issues, value };
    return {
      ok: false,
      issues: [{ path: "", message: (err as Error).message, fix: "check the policy" }],
      value,
    };
  }
}

/** A document as text in `format` (JSON two-space indented; YAML as the `yaml` package writes it). */
export function renderPolicy(value: unknown, format: PolicyFormat): string {
  return format === "json"
    ? `${JSON.stringify(value, null, 2)}\n`
    : stringify(value, { lineWidth: 100 });
}

/**
 * The test suite that belongs to a policy file, by convention next to it:
 * `policy.json` → `policy.test.yaml` (or `.test.yml`, `.test.json`). The studio runs it
 * against the draft; `toolgate test policy.json policy.test.yaml` runs it in CI.
 */
export function testFileFor(policyPath: string): string | undefined {
  const stem = join(dirname(policyPath), basename(policyPath, extname(policyPath)));
  for (const ext of [".test.yaml", ".test.yml", ".test.json"]) {
    if (existsSync(stem + ext)) return stem + ext;
  }
  return undefined;
}

/**
 * Replaces a file atomically: the new text goes to a temporary file in the same folder,
 * is flushed to disk, and is renamed over the target, so a reader (the gateway's policy
 * watcher, a crash) sees the old file or the new one, never half of one. A symlinked
 * policy keeps its link: the file it points to is the one replaced. The permissions of
 * the old file are kept.
 *
 * @example
 * await writeFileAtomic("policy.json", text);
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const target = await realpath(path).catch(() => path);
  const mode = await stat(target)
    .then((s) => s.mode & 0o777)
    .catch(() => 0o644);
  // A dot name the watcher ignores (it filters by the policy's own name).
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(text, "utf8");
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Reads a policy file's text (undefined when it cannot be read). */
export async function readPolicyText(path: string): Promise<string | undefined> {
  return readFile(path, "utf8").catch(() => undefined);
}
