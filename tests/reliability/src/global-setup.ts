/**
 * Vitest global setup of the reliability suite: one artifacts folder for the run, and,
 * after every test file has finished, the secrets scan over all of it. A leak found there
 * fails the run even when no single test looked at the file that holds it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { scanForSecrets } from "./artifacts.js";

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), "toolgate-reliability-"));
  project.provide("artifactsDir", dir);
  return () => {
    const leaks = scanForSecrets(dir);
    if (leaks.length > 0) {
      const list = leaks
        .slice(0, 20)
        .map((l) => `  ${l.file}:${l.line} holds ${l.secret}`)
        .join("\n");
      // Kept for inspection: the message names the folder. Vitest reports an error thrown
      // here but still exits 0, so the exit code is set as well.
      process.exitCode = 1;
      throw new Error(
        `secrets scan: ${leaks.length} artifact line(s) hold a secret (artifacts kept in ${dir}):\n${list}`,
      );
    }
    if (process.env.TOOLGATE_KEEP_ARTIFACTS) {
      process.stdout.write(`reliability artifacts kept in ${dir}\n`);
    } else {
      // A child killed at the end of a test may still be flushing its log into the folder:
      // retry, and never fail a passing run over cleaning up a temp folder.
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      } catch (err) {
        process.stdout.write(`could not remove ${dir}: ${(err as Error).message}\n`);
      }
    }
  };
}
