import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { callerCwd } from "../src/cli.js";

const repo = fileURLToPath(new URL("../../../", import.meta.url));

describe("callerCwd", () => {
  it("uses INIT_CWD only under the toolgate and start scripts", () => {
    expect(callerCwd({ npm_lifecycle_event: "toolgate", INIT_CWD: "/home/me/p" }, "/repo")).toBe(
      "/home/me/p",
    );
    expect(callerCwd({ npm_lifecycle_event: "start", INIT_CWD: "/home/me/p" }, "/repo")).toBe(
      "/home/me/p",
    );
    // A CLI a test spawned while `pnpm test` runs keeps the folder it was started in.
    expect(callerCwd({ npm_lifecycle_event: "test", INIT_CWD: "/repo" }, "/tmp/x")).toBe("/tmp/x");
    expect(callerCwd({}, "/tmp/x")).toBe("/tmp/x");
    expect(callerCwd({ npm_lifecycle_event: "toolgate", INIT_CWD: "relative" }, "/r")).toBe("/r");
  });
});

describe("pnpm toolgate from a folder below the repository root", () => {
  // Inside the repository (git-ignored tmp/), so pnpm finds the root script, which it runs
  // in the root: the policy file exists only in the caller's folder.
  const dir = join(repo, "tmp", `caller-cwd-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "only-here.json"), '{ "version": "1", "default": "deny" }\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads relative paths from the caller's folder", () => {
    const env: Record<string, string | undefined> = { ...process.env };
    delete env.INIT_CWD;
    delete env.npm_lifecycle_event;
    const r = spawnSync("pnpm", ["--silent", "toolgate", "validate", "only-here.json"], {
      cwd: dir,
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("ok: only-here.json is valid");
    expect(r.status).toBe(0);
  }, 60_000);
});
