// The suite's own machinery must be able to fail: the secrets scan finds a planted leak
// (in any of the shapes a leak takes), and the process harness really reaches a gateway
// and an upstream and sees the calls land.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { TestProject } from "vitest/node";
import { expectNoSecrets, scanForSecrets } from "../src/artifacts.js";
import setupRun from "../src/global-setup.js";
import {
  connectClient,
  endSession,
  type FixtureUpstream,
  fixtureConfigLines,
  type GatewayProcess,
  startFixtureUpstream,
  startGateway,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

describe("secrets scan", () => {
  it("finds a planted key whole, truncated, or base64-encoded, with file and line", () => {
    const dir = mkdtempSync(join(tmpdir(), "toolgate-scan-"));
    mkdirSync(join(dir, "gw"));
    writeFileSync(join(dir, "gw", "a.log"), `ok\n{"auth":"Bearer ${SECRETS.agentKey}"}\n`);
    writeFileSync(join(dir, "b.log"), `key=${SECRETS.binanceKey.slice(0, 30)}…\n`);
    writeFileSync(
      join(dir, "c.txt"),
      `basic ${Buffer.from(SECRETS.adminToken).toString("base64")}\n`,
    );
    writeFileSync(join(dir, "clean.log"), "nothing to see\n");
    const leaks = scanForSecrets(dir);
    expect(leaks).toEqual(
      expect.arrayContaining([
        { file: join("gw", "a.log"), line: 2, secret: "agentKey" },
        { file: "b.log", line: 1, secret: "binanceKey" },
        { file: "c.txt", line: 1, secret: "adminToken" },
      ]),
    );
    expect(leaks).toHaveLength(3);
    expect(() => expectNoSecrets(dir)).toThrow(/3 artifact line/);
    expect(scanForSecrets(dir, ["listenkey-abcdefghijklmnop"])).toHaveLength(3);
  });
});

describe("the end-of-run scan", () => {
  it("fails the run (exit code and error) when any artifact of the run holds a secret", () => {
    let dir = "";
    const teardown = setupRun({
      provide: (_key: string, value: string) => {
        dir = value;
      },
    } as unknown as TestProject);
    writeFileSync(join(dir, "gw.log"), `{"msg":"auth","key":"${SECRETS.otherKey}"}\n`);
    const before = process.exitCode;
    try {
      expect(teardown).toThrow(/1 artifact line\(s\) hold a secret/);
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = before;
    }
  });
});

describe("process harness", () => {
  let up: FixtureUpstream;
  let gw: GatewayProcess;
  afterAll(async () => {
    await gw?.stop();
    await up?.stop();
  });

  it("calls a tool through a real gateway to a real upstream that needs its own token", async () => {
    up = await startFixtureUpstream({ name: "harness-up", token: SECRETS.upstreamToken });
    gw = await startGateway({
      name: "harness-gw",
      config: [
        ...fixtureConfigLines(up.url, { upstreamToken: true }),
        "audit: { path: audit.jsonl }",
      ].join("\n"),
      files: { "policy.yaml": 'version: "1"\ndefault: deny\ntools:\n  work: {}\n' },
    });
    const client = await connectClient(gw.mcpUrl);
    const r = await client.callTool({ name: "work", arguments: { id: "h1" } });
    expect(r.content).toEqual([{ type: "text", text: "done:h1" }]);
    expect((await up.stats()).calls).toEqual({ h1: 1 });
    expect(await gw.metric("toolgate_sessions")).toBe(1);
    await endSession(client);
    expect(await gw.metric("toolgate_sessions")).toBe(0);
    expect(await gw.stop()).toBe(0);
    expectNoSecrets(gw.dir);
  });
});
