import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compilePolicy } from "./compile.js";
import {
  formatPolicyTestReport,
  loadPolicyTestSuite,
  parsePolicyTestSuite,
  runPolicyTests,
} from "./policy-tests.js";

const CREATE = "binance_us_create_listen_key";
const policy = compilePolicy({
  version: "1",
  default: "deny",
  tools: {
    [CREATE]: { limits: [{ counter: "create", window: "minute", max: 10, scope: "grant" }] },
  },
});

describe("runPolicyTests", () => {
  it("runs sequences with a fake clock and fresh counters", async () => {
    const report = await runPolicyTests(policy, {
      grant: "alice",
      cases: [
        {
          name: "ten pass, the 11th is denied",
          tool: CREATE,
          repeat: 11,
          expect: { effect: "allow" },
          expectLast: {
            effect: "deny",
            code: "RATE_LIMITED",
            retryAfterMs: 60_000,
            reason: "retry in 60s",
          },
        },
        { name: "other grant unaffected", tool: CREATE, grant: "bob", expect: { effect: "allow" } },
        {
          name: "next window admits",
          tool: CREATE,
          advanceMs: 60_000,
          repeat: 10,
          expect: { effect: "allow" },
        },
        {
          name: "failed upstream calls cost nothing",
          tool: CREATE,
          grant: "carol",
          upstream: "failure",
          repeat: 20,
          expect: { effect: "allow" },
        },
        {
          name: "other tools denied",
          tool: "binance_us_keepalive_listen_key",
          expect: { effect: "deny", code: "DEFAULT_DENY", ruleId: "default" },
        },
      ],
    });
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
    expect(report).toMatchObject({
      ok: true,
      total: 5,
      passed: 5,
      failed: 0,
      policyVersion: policy.version,
    });
    expect(formatPolicyTestReport(report)).toContain("5/5 passed");
  });

  it("says which case failed, at which call, and what differed", async () => {
    const report = await runPolicyTests(policy, {
      cases: [
        {
          name: "wrongly expects 11 allowed",
          tool: CREATE,
          repeat: 11,
          expect: { effect: "allow" },
        },
        { name: "wrong code", tool: "x", expect: { effect: "deny", code: "TOOL_DENIED" } },
        {
          name: "reset gives a fresh store",
          tool: CREATE,
          reset: true,
          repeat: 10,
          expect: { effect: "allow" },
        },
      ],
    });
    expect(report).toMatchObject({ ok: false, passed: 1, failed: 2 });
    expect(report.results[0]).toMatchObject({ ok: false, failedCall: 11, calls: 11 });
    expect(report.results[0]?.message).toMatch(
      /^call 11 of 11: effect: expected "allow", got "deny"/,
    );
    expect(report.results[0]?.message).toContain("RATE_LIMITED");
    expect(report.results[1]?.message).toContain("code: expected TOOL_DENIED, got DEFAULT_DENY");
    expect(formatPolicyTestReport(report)).toContain("FAIL  wrong code");
  });

  it("validates suites and loads them from YAML", async () => {
    expect(() =>
      parsePolicyTestSuite({ cases: [{ name: "x", tool: "t", expect: { effect: "maybe" } }] }),
    ).toThrow(
      expect.objectContaining({
        code: "POLICY_TEST_INVALID",
        message: expect.stringContaining("cases[0].expect.effect"),
      }),
    );
    const dir = await mkdtemp(join(tmpdir(), "toolgate-suite-"));
    try {
      const file = join(dir, "suite.yaml");
      await writeFile(
        file,
        `cases:\n  - name: create\n    tool: ${CREATE}\n    expect: { effect: allow }\n`,
      );
      const suite = await loadPolicyTestSuite(file);
      expect((await runPolicyTests(policy, suite)).ok).toBe(true);
      await expect(loadPolicyTestSuite(join(dir, "missing.yaml"))).rejects.toMatchObject({
        code: "POLICY_IO",
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
