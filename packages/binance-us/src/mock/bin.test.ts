import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";

const binPath = fileURLToPath(new URL("../bin/mock.ts", import.meta.url));
const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const KEY = "K".repeat(64);

let child: ChildProcess | undefined;
afterEach(() => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  child = undefined;
});

describe("bin/mock", () => {
  it("starts, prints the URLs and control API, serves requests, and exits 0 on SIGTERM", async () => {
    child = spawn(
      process.execPath,
      ["--import", "tsx", binPath, "--port", "0", "--api-key", `${KEY}:shh`],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    child.stderr?.on("data", (c: Buffer) => {
      err += c.toString("utf8");
    });
    // Starting node + tsx can take seconds on a loaded machine; this wait is for a real process.
    await vi.waitFor(() => expect(out).toContain("/__mock/clock/advance"), {
      timeout: 10_000,
      interval: 20,
    });
    const restUrl = /REST:\s+(http:\/\/[\d.]+:\d+)/.exec(out)?.[1];
    expect(restUrl).toBeDefined();
    expect(out).toMatch(/WebSocket: ws:\/\/[\d.]+:\d+\/ws\/<listenKey>/);
    const res = await fetch(`${restUrl}/api/v3/userDataStream`, {
      method: "POST",
      headers: { "X-MBX-APIKEY": KEY },
    });
    expect(res.status).toBe(200);
    const unknown = await fetch(`${restUrl}/api/v3/userDataStream`, {
      method: "POST",
      headers: { "X-MBX-APIKEY": "Q".repeat(64) },
    });
    expect(unknown.status).toBe(401);
    const exited = new Promise<number | null>((resolve) =>
      child?.once("exit", (code) => resolve(code)),
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out + err).not.toContain(KEY);
    expect(out + err).not.toContain("shh");
  }, 15_000);

  it("exits 2 with the usage on a bad option", async () => {
    child = spawn(process.execPath, ["--import", "tsx", binPath, "--port", "abc"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr?.on("data", (c: Buffer) => {
      err += c.toString("utf8");
    });
    const code = await new Promise<number | null>((resolve) =>
      child?.once("exit", (c) => resolve(c)),
    );
    expect(code).toBe(2);
    expect(err).toContain("--port must be an integer");
    expect(err).toContain("Usage:");
  }, 15_000);
});
