import { beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { compilePolicy } from "./compile.js";
import type { Identity } from "./contracts.js";
import { createPolicyEngine, type PolicyEngine } from "./engine.js";
import { PolicyError } from "./errors.js";
import { parsePolicyTestSuite, runPolicyTests } from "./policy-tests.js";
import { type PolicyDocument, policyIssues } from "./schema.js";

let now = 0;
let engine: PolicyEngine;
beforeEach(() => {
  now = 1_000_000;
  engine = createPolicyEngine({ now: () => now });
});

/** The documented example: only role=trader may create listen keys, 10 per minute per user. */
const traders: PolicyDocument = {
  version: "1",
  default: "deny",
  tools: {
    binance_us_create_listen_key: {
      require: [
        {
          path: "identity.claims.role",
          op: "eq",
          value: "trader",
          reason: "only traders may open a user-data stream",
        },
      ],
      limits: [{ counter: "create_listen_key", window: "minute", max: 10, scope: "user" }],
    },
    binance_us_keepalive_listen_key: {
      require: [{ path: "identity.scopes", op: "contains", value: "streams:keepalive" }],
    },
    "admin_*": { require: [{ path: "identity.sub", op: "in", value: ["ops-1", "ops-2"] }] },
    audit_read: { deny_if: [{ path: "identity.client_id", op: "eq", value: "untrusted-bot" }] },
  },
};

const who = (sub: string | undefined, role: string | undefined, extra: Partial<Identity> = {}) =>
  ({
    grant: "desk",
    session: `s-${sub}`,
    sub,
    claims: role === undefined ? {} : { role },
    ...extra,
  }) as Identity;

const create = (id: Identity) =>
  engine.decide(compilePolicy(traders), { name: "binance_us_create_listen_key" }, id);

describe("identity conditions", () => {
  it("require on a claim: traders pass, other roles and callers without the claim are denied", async () => {
    expect((await create(who("alice", "trader"))).effect).toBe("allow");
    const viewer = await create(who("bob", "viewer"));
    expect(viewer).toMatchObject({
      effect: "deny",
      code: "CONDITION_FAILED",
      reason: "only traders may open a user-data stream",
      ruleId: "tools.binance_us_create_listen_key.require[0]",
    });
    // An API key has no claims at all: the require fails closed.
    expect((await create({ grant: "desk" })).code).toBe("CONDITION_FAILED");
    // A claim of the wrong type is not equal either.
    expect((await create(who("carol", ["trader"] as unknown as string))).effect).toBe("deny");
  });

  it("scopes with contains, sub with in, client_id in deny_if", async () => {
    const p = compilePolicy(traders);
    const keepalive = (scopes?: string[]) =>
      engine.decide(p, { name: "binance_us_keepalive_listen_key" }, { grant: "g", scopes });
    expect((await keepalive(["streams:keepalive", "x"])).effect).toBe("allow");
    expect(await keepalive(["x"])).toMatchObject({
      effect: "deny",
      reason: 'identity field "identity.scopes" must be containing "streams:keepalive"',
    });
    expect((await keepalive()).effect).toBe("deny");
    const admin = (sub?: string) => engine.decide(p, { name: "admin_reset" }, { grant: "g", sub });
    expect((await admin("ops-2")).effect).toBe("allow");
    expect((await admin("eve")).effect).toBe("deny");
    expect((await admin()).effect).toBe("deny");
    const audit = (clientId?: string) =>
      engine.decide(p, { name: "audit_read" }, { grant: "g", clientId });
    expect((await audit("agent-1")).effect).toBe("allow");
    expect(await audit("untrusted-bot")).toMatchObject({
      effect: "deny",
      reason:
        'calls by a caller whose "identity.client_id" is equal to "untrusted-bot" are not allowed',
    });
  });

  it("arguments cannot spell identity: args.identity is an argument, not the caller", async () => {
    const p = compilePolicy(traders);
    const d = await engine.decide(
      p,
      {
        name: "binance_us_create_listen_key",
        arguments: { identity: { claims: { role: "trader" } }, claims: { role: "trader" } },
      },
      who("mallory", "viewer"),
    );
    expect(d.effect).toBe("deny");
  });

  it("explain shows identity conditions with the caller's values", () => {
    const e = engine.explain(
      compilePolicy(traders),
      { name: "binance_us_create_listen_key" },
      who("bob", "viewer"),
    );
    expect(e.trace.find((s) => s.step === "require")).toMatchObject({ result: "failed" });
    expect(e.verdict.effect).toBe("deny");
  });
});

describe("scope: user", () => {
  it("10 per minute per user inside one shared grant; other users keep their own quota", async () => {
    for (let i = 0; i < 10; i++) {
      const d = await create(who("alice", "trader"));
      expect(d.effect).toBe("allow");
      await d.reservation?.commit();
    }
    const eleventh = await create(who("alice", "trader"));
    expect(eleventh).toMatchObject({ effect: "deny", code: "RATE_LIMITED" });
    expect(eleventh.reason).toMatch(/10 per minute per user/);
    // Same grant, another subject: a full quota of its own.
    for (let i = 0; i < 10; i++) expect((await create(who("bob", "trader"))).effect).toBe("allow");
    expect((await create(who("bob", "trader"))).effect).toBe("deny");
    now += 60_000;
    expect((await create(who("alice", "trader"))).effect).toBe("allow");
  });

  it("keys cannot collide across grant/subject splits, and no subject shares the grant's counter", () => {
    const p = compilePolicy(traders);
    const key = (id: Identity) =>
      engine.evaluate(p, { name: "binance_us_create_listen_key" }, id).counters[0]?.key;
    const trader = { role: "trader" };
    const a = key({ grant: "a|b", sub: "c", claims: trader });
    const b = key({ grant: "a", sub: "b|c", claims: trader });
    expect(a).not.toBe(b);
    expect(key({ grant: "desk", sub: "x", claims: trader })).toBe(
      "create_listen_key|user|4:desk|x",
    );
    expect(key({ grant: "desk", claims: trader })).toBe("create_listen_key|user|4:desk|");
  });
});

describe("validation of identity paths", () => {
  it("names the path and the fix", () => {
    const bad = (path: string) =>
      policyIssues({
        version: "1",
        tools: { t: { require: [{ path, op: "exists" }] } },
      });
    expect(bad("identity.claims.role")).toEqual([]);
    expect(bad("identity.scopes")).toEqual([]);
    expect(bad("identity.password")[0]).toMatchObject({
      path: "tools.t.require[0].path",
      message: expect.stringContaining('"identity.password" is not an identity field'),
      fix: expect.stringContaining("identity.claims.role"),
    });
    expect(bad("identity.claims")[0]?.message).toMatch(/names no claim/);
    expect(bad("identity.sub.x")[0]?.message).toMatch(/has no fields below it/);
    expect(bad("user.role")[0]?.message).toMatch(/must start with "args." or "identity."/);
    // increment_from stays an argument path.
    expect(
      policyIssues({
        version: "1",
        tools: {
          t: {
            limits: [{ counter: "c", window: "minute", max: 1, increment_from: "identity.sub" }],
          },
        },
      }).length,
    ).toBe(1);
    expect(() =>
      compilePolicy({
        version: "1",
        tools: { t: { limits: [{ counter: "c", window: "minute", max: 1, scope: "users" }] } },
      } as unknown as PolicyDocument),
    ).toThrow(PolicyError);
  });

  it("policy test suites can set the caller's identity", async () => {
    const suite = parsePolicyTestSuite(
      parseYaml(`grant: desk
cases:
  - name: viewers may not
    tool: binance_us_create_listen_key
    identity: { sub: bob, claims: { role: viewer } }
    expect: { effect: deny, code: CONDITION_FAILED }
  - name: ten per trader
    tool: binance_us_create_listen_key
    identity: { sub: alice, claims: { role: trader } }
    repeat: 11
    expect: { effect: allow }
    expectLast: { effect: deny, code: RATE_LIMITED }
`),
      "suite.yaml",
    );
    const report = await runPolicyTests(compilePolicy(traders), suite);
    expect(report.ok).toBe(true);
  });
});
