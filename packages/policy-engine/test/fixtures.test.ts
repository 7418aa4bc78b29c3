import { fileURLToPath } from "node:url";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type CompiledPolicy,
  compilePolicy,
  createPolicyEngine,
  type Decision,
  formatPolicyTestReport,
  loadPolicyFile,
  loadPolicyTestSuite,
  mergePolicies,
  type PolicyEngine,
  runPolicyTests,
} from "../src/index.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const CREATE = "binance_us_create_listen_key";
const KEEPALIVE = "binance_us_keepalive_listen_key";

async function callN(
  engine: PolicyEngine,
  policy: CompiledPolicy,
  name: string,
  grant: string,
  n: number,
): Promise<Decision[]> {
  const out: Decision[] = [];
  for (let i = 0; i < n; i++) {
    const d = await engine.decide(policy, { name, arguments: {} }, { grant });
    await d.reservation?.commit();
    out.push(d);
  }
  return out;
}

describe("fixture policies, enforced exactly", () => {
  let now: number;
  let engine: PolicyEngine;
  let create: CompiledPolicy;
  let keepalive: CompiledPolicy;

  beforeEach(async () => {
    now = 1_700_000_000_000;
    engine = createPolicyEngine({ now: () => now });
    create = compilePolicy(await loadPolicyFile(fixture("binance-us-create-listen-key.json")));
    keepalive = compilePolicy(
      await loadPolicyFile(fixture("binance-us-keepalive-listen-key.json")),
    );
  });

  it("admits 10 create calls per grant per minute, denies the 11th with a retry time", async () => {
    now += 0;
    const first = await callN(engine, create, CREATE, "alice", 10);
    expect(first.map((d) => d.effect)).toEqual(Array(10).fill("allow"));
    expect(first[9]?.limits?.[0]).toMatchObject({
      key: `${CREATE}_rate|grant|alice`,
      used: 10,
      remaining: 0,
    });
    now += 18_000;
    const [eleventh] = await callN(engine, create, CREATE, "alice", 1);
    expect(eleventh).toMatchObject({
      effect: "deny",
      code: "RATE_LIMITED",
      ruleId: `tools.${CREATE}.limits[0]`,
      retryAfterMs: 42_000,
      policyVersion: create.version,
    });
    expect(eleventh?.reservation).toBeUndefined();
    expect(eleventh?.reason).toBe(
      `rate limit "${CREATE}_rate" reached: 10 per minute per grant; retry in 42s`,
    );
    // Another grant is unaffected.
    const bob = await callN(engine, create, CREATE, "bob", 10);
    expect(bob.every((d) => d.effect === "allow")).toBe(true);
    // Still denied 1 ms before the window ends, admitted once it has.
    now += 41_999;
    expect((await callN(engine, create, CREATE, "alice", 1))[0]?.effect).toBe("deny");
    now += 1;
    const next = await callN(engine, create, CREATE, "alice", 11);
    expect(next.map((d) => d.effect)).toEqual([...Array(10).fill("allow"), "deny"]);
  });

  it("admits 60 keepalives per grant per minute, denies the 61st, resets next window", async () => {
    const sixty = await callN(engine, keepalive, KEEPALIVE, "alice", 61);
    expect(sixty.filter((d) => d.effect === "allow")).toHaveLength(60);
    expect(sixty[60]).toMatchObject({ effect: "deny", code: "RATE_LIMITED", retryAfterMs: 60_000 });
    expect((await callN(engine, keepalive, KEEPALIVE, "carol", 1))[0]?.effect).toBe("allow");
    now += 60_000;
    expect((await callN(engine, keepalive, KEEPALIVE, "alice", 1))[0]?.effect).toBe("allow");
  });

  it("denies every other tool by default", async () => {
    for (const [policy, other] of [
      [create, KEEPALIVE],
      [keepalive, CREATE],
      [create, "binance_us_get_account"],
      [keepalive, "anything"],
    ] as const) {
      const d = await engine.decide(policy, { name: other }, { grant: "alice" });
      expect(d).toMatchObject({ effect: "deny", code: "DEFAULT_DENY", ruleId: "default" });
      expect(d.reason).toBe(`tool "${other}" is not allowed by this policy (default deny)`);
    }
  });

  it("a rolled-back call costs no quota", async () => {
    for (let i = 0; i < 10; i++) {
      const d = await engine.decide(create, { name: CREATE }, { grant: "alice" });
      await d.reservation?.rollback();
    }
    const ten = await callN(engine, create, CREATE, "alice", 10);
    expect(ten.every((d) => d.effect === "allow")).toBe(true);
  });

  it("merging both gives the default policy: both tools, separate counters", async () => {
    const merged = compilePolicy(mergePolicies([create.document, keepalive.document]));
    const c = await callN(engine, merged, CREATE, "alice", 11);
    const k = await callN(engine, merged, KEEPALIVE, "alice", 61);
    expect(c.filter((d) => d.effect === "allow")).toHaveLength(10);
    expect(k.filter((d) => d.effect === "allow")).toHaveLength(60);
    expect((await engine.decide(merged, { name: "x" }, { grant: "alice" })).code).toBe(
      "DEFAULT_DENY",
    );
    expect(
      engine.visibleTools(merged, [{ name: CREATE }, { name: KEEPALIVE }, { name: "x" }], {
        grant: "a",
      }),
    ).toEqual([{ name: CREATE }, { name: KEEPALIVE }]);
  });

  it("the YAML policy test suite passes against the merged default policy", async () => {
    const merged = compilePolicy(mergePolicies([create.document, keepalive.document]));
    const suite = await loadPolicyTestSuite(fixture("binance-us.policy-test.yaml"));
    const report = await runPolicyTests(merged, suite);
    expect(report.ok, formatPolicyTestReport(report)).toBe(true);
    expect(report.total).toBe(5);
  });
});
