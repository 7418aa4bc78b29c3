import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { CompiledPolicy } from "./compile.js";
import { type Decision, DecisionCode, type Identity } from "./contracts.js";
import { createPolicyEngine } from "./engine.js";
import { PolicyError, PolicyErrorCode, type PolicyIssue } from "./errors.js";
import { parseOptions } from "./seams/options.js";
import { createMemoryStore } from "./store/memory-store.js";
import { formatPath } from "./syntax.js";

const EFFECTS = ["allow", "deny", "require_approval"] as const;
const CODES = Object.values(DecisionCode) as [DecisionCode, ...DecisionCode[]];

/** What a call must produce. Omitted fields are not checked. */
export const PolicyTestExpectSchema = z.strictObject({
  effect: z.enum(EFFECTS),
  code: z.enum(CODES).optional(),
  /** A substring the reason must contain. */
  reason: z.string().optional(),
  ruleId: z.string().optional(),
  retryAfterMs: z.number().int().min(0).optional(),
  /** The effect a shadow rule would have decided; `none` = no shadow report. */
  shadow: z.enum([...EFFECTS, "none"]).optional(),
});
/** One expectation of a policy test case. */
export type PolicyTestExpect = z.infer<typeof PolicyTestExpectSchema>;

/**
 * One case: the clock advances by `advanceMs`, then `tool` is called `repeat` times
 * (default 1) with `args` as `grant`/`session` (and, for `identity.*` conditions and
 * `scope: user` limits, as the verified caller in `identity`: `sub`, `client_id`,
 * `scopes`, `claims`). Every call must match `expect`, except
 * that with `expectLast` the last call must match that instead, which is how "the
 * 11th call is denied" reads in one case. Allowed calls are committed unless
 * `upstream` is `failure` (then rolled back, as a failed upstream call would be).
 * Cases run in order and share counters and clock, unless `reset` starts afresh.
 */
export const PolicyTestCaseSchema = z.strictObject({
  name: z.string().min(1),
  tool: z.string().min(1),
  args: z.record(z.string(), z.unknown()).optional(),
  grant: z.string().min(1).optional(),
  session: z.string().min(1).optional(),
  identity: z
    .strictObject({
      sub: z.string().min(1).optional(),
      client_id: z.string().min(1).optional(),
      scopes: z.array(z.string()).optional(),
      claims: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
  repeat: z.number().int().min(1).max(100_000).optional(),
  advanceMs: z.number().int().min(0).optional(),
  upstream: z.enum(["success", "failure"]).optional(),
  reset: z.boolean().optional(),
  expect: PolicyTestExpectSchema,
  expectLast: PolicyTestExpectSchema.optional(),
});
/** One policy test case. */
export type PolicyTestCase = z.infer<typeof PolicyTestCaseSchema>;

/**
 * A policy test suite (YAML or JSON). `grant` is the default grant of every case
 * (default `"test"`); `startAtMs` the fake clock's start (default 2025-01-01T00:00Z);
 * `policy` is a path for tools that load the policy themselves (the runner ignores it).
 *
 * @example
 * cases:
 *   - { name: first ten pass, tool: binance_us_create_listen_key, repeat: 10, expect: { effect: allow } }
 *   - { name: 11th denied, tool: binance_us_create_listen_key, expect: { effect: deny, code: RATE_LIMITED } }
 *   - { name: next minute, tool: binance_us_create_listen_key, advanceMs: 60000, expect: { effect: allow } }
 */
export const PolicyTestSuiteSchema = z.strictObject({
  policy: z.string().optional(),
  grant: z.string().min(1).optional(),
  startAtMs: z.number().int().min(0).optional(),
  cases: z.array(PolicyTestCaseSchema).min(1),
});
/** A parsed policy test suite. */
export type PolicyTestSuite = z.infer<typeof PolicyTestSuiteSchema>;

/** Outcome of one case. */
export interface PolicyTestCaseResult {
  readonly index: number;
  readonly name: string;
  readonly ok: boolean;
  /** Calls made (stops at the first mismatch). */
  readonly calls: number;
  /** 1-based number of the call that did not match. */
  readonly failedCall?: number | undefined;
  /** What differed, e.g. `call 11 of 11: effect: expected "deny", got "allow"`. */
  readonly message?: string | undefined;
  /** The decision of the last call made (without its reservation). */
  readonly last?: Omit<Decision, "reservation"> | undefined;
}

/** Outcome of a suite. */
export interface PolicyTestReport {
  readonly ok: boolean;
  readonly total: number;
  readonly passed: number;
  readonly failed: number;
  readonly policyVersion: string;
  readonly results: readonly PolicyTestCaseResult[];
}

/** Options of {@link runPolicyTests}. */
/** Options of {@link runPolicyTests}. */
export const RunPolicyTestsOptionsSchema = z
  .object({
    /** Overrides the suite's `startAtMs`. */
    startAtMs: z.number().int().min(0).optional(),
  })
  .strict();

/** Options of {@link runPolicyTests}, derived from {@link RunPolicyTestsOptionsSchema}. */
export type RunPolicyTestsOptions = z.input<typeof RunPolicyTestsOptionsSchema>;

const DEFAULT_START = Date.UTC(2025, 0, 1);

function suiteIssues(error: z.ZodError): PolicyIssue[] {
  return error.issues.map((i) => ({
    path: formatPath(i.path as PropertyKey[]),
    message: i.message,
    fix:
      i.code === "unrecognized_keys"
        ? "remove the key; a case has name, tool, args, grant, session, identity, repeat, advanceMs, upstream, reset, expect, expectLast"
        : "see the policy test suite format in the README",
  }));
}

/**
 * Validates a suite value.
 *
 * @throws PolicyError `POLICY_TEST_INVALID` listing every problem.
 */
export function parsePolicyTestSuite(input: unknown, source?: string): PolicyTestSuite {
  const r = PolicyTestSuiteSchema.safeParse(input);
  if (!r.success)
    throw new PolicyError(PolicyErrorCode.POLICY_TEST_INVALID, suiteIssues(r.error), { source });
  return r.data;
}

/**
 * Reads a suite file (YAML or JSON; YAML is a superset, so one parser serves both).
 *
 * @throws PolicyError `POLICY_IO`, `POLICY_PARSE` or `POLICY_TEST_INVALID`.
 */
export async function loadPolicyTestSuite(path: string): Promise<PolicyTestSuite> {
  let value: unknown;
  try {
    value = parseYaml(await readFile(path, "utf8"));
  } catch (err) {
    const io = (err as NodeJS.ErrnoException).code !== undefined;
    throw new PolicyError(
      io ? PolicyErrorCode.POLICY_IO : PolicyErrorCode.POLICY_PARSE,
      [
        {
          path: "",
          message: (err as Error).message,
          fix: io ? "check the path" : "fix the YAML/JSON syntax",
        },
      ],
      { source: path, cause: err },
    );
  }
  return parsePolicyTestSuite(value, path);
}

function mismatch(d: Decision, e: PolicyTestExpect): string | undefined {
  const diffs: string[] = [];
  if (d.effect !== e.effect) diffs.push(`effect: expected "${e.effect}", got "${d.effect}"`);
  if (e.code !== undefined && d.code !== e.code)
    diffs.push(`code: expected ${e.code}, got ${d.code}`);
  if (e.reason !== undefined && !d.reason.includes(e.reason))
    diffs.push(`reason: expected to contain "${e.reason}"`);
  if (e.ruleId !== undefined && d.ruleId !== e.ruleId)
    diffs.push(`ruleId: expected "${e.ruleId}", got "${d.ruleId}"`);
  if (e.retryAfterMs !== undefined && d.retryAfterMs !== e.retryAfterMs)
    diffs.push(`retryAfterMs: expected ${e.retryAfterMs}, got ${d.retryAfterMs ?? "none"}`);
  if (e.shadow !== undefined && (d.shadow?.effect ?? "none") !== e.shadow)
    diffs.push(`shadow: expected ${e.shadow}, got ${d.shadow?.effect ?? "none"}`);
  if (diffs.length === 0) return undefined;
  return `${diffs.join("; ")} (decision: ${d.code} at ${d.ruleId}: ${d.reason})`;
}

/**
 * Runs a suite against a compiled policy with a fresh in-process store and a fake
 * clock, so results are deterministic and take milliseconds whatever the windows.
 *
 * @example
 * const report = await runPolicyTests(policy, await loadPolicyTestSuite("policy.test.yaml"));
 * if (!report.ok) console.log(formatPolicyTestReport(report));
 */
export async function runPolicyTests(
  policy: CompiledPolicy,
  suite: PolicyTestSuite,
  options: RunPolicyTestsOptions = {},
): Promise<PolicyTestReport> {
  const opts = parseOptions(RunPolicyTestsOptionsSchema, options, "runPolicyTests options");
  const parsed = parsePolicyTestSuite(suite);
  const start = opts.startAtMs ?? parsed.startAtMs ?? DEFAULT_START;
  let now = start;
  const fresh = () =>
    createPolicyEngine({
      store: createMemoryStore({ now: () => now, sweepIntervalMs: 0 }),
      now: () => now,
    });
  let engine = fresh();
  const results: PolicyTestCaseResult[] = [];
  for (const [index, c] of parsed.cases.entries()) {
    if (c.reset === true) {
      now = start;
      engine = fresh();
    }
    now += c.advanceMs ?? 0;
    const repeat = c.repeat ?? 1;
    const who = c.identity;
    const identity: Identity = {
      grant: c.grant ?? parsed.grant ?? "test",
      session: c.session,
      sub: who?.sub,
      clientId: who?.client_id,
      scopes: who?.scopes,
      claims: who?.claims,
    };
    let result: PolicyTestCaseResult = { index, name: c.name, ok: true, calls: repeat };
    for (let i = 1; i <= repeat; i++) {
      const d = await engine.decide(policy, { name: c.tool, arguments: c.args ?? {} }, identity);
      if (d.reservation !== undefined) {
        if (c.upstream === "failure") await d.reservation.rollback();
        else await d.reservation.commit();
      }
      const { reservation: _r, ...last } = d;
      const expected = i === repeat && c.expectLast !== undefined ? c.expectLast : c.expect;
      const diff = mismatch(d, expected);
      if (diff !== undefined) {
        result = {
          index,
          name: c.name,
          ok: false,
          calls: i,
          failedCall: i,
          message: `call ${i} of ${repeat}: ${diff}`,
          last,
        };
        break;
      }
      if (i === repeat) result = { ...result, last };
    }
    results.push(result);
  }
  const failed = results.filter((r) => !r.ok).length;
  return {
    ok: failed === 0,
    total: results.length,
    passed: results.length - failed,
    failed,
    policyVersion: policy.version,
    results,
  };
}

/** A readable multi-line summary of a report, one line per case. */
export function formatPolicyTestReport(report: PolicyTestReport): string {
  const lines = report.results.map((r) =>
    r.ok ? `  ok    ${r.name}` : `  FAIL  ${r.name}: ${r.message ?? "failed"}`,
  );
  lines.push(
    `${report.passed}/${report.total} passed${report.failed > 0 ? `, ${report.failed} failed` : ""} (policy ${report.policyVersion})`,
  );
  return lines.join("\n");
}
