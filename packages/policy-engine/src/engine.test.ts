import { beforeEach, describe, expect, it } from "vitest";
import { compilePolicy } from "./compile.js";
import type { CounterStore, Identity, ReserveOutcome } from "./contracts.js";
import { createPolicyEngine, type PolicyEngine } from "./engine.js";
import type { PolicyDocument } from "./schema.js";

const alice: Identity = { grant: "alice", session: "s1" };
let now = 0;
let engine: PolicyEngine;

beforeEach(() => {
  now = 1_000_000;
  let n = 0;
  engine = createPolicyEngine({ now: () => now, newId: () => `d${++n}` });
});

const policy = (doc: Omit<PolicyDocument, "version">) =>
  compilePolicy({ version: "1", ...doc } as PolicyDocument);

const decide = (
  p: ReturnType<typeof policy>,
  name: string,
  args?: Record<string, unknown>,
  who = alice,
) => engine.decide(p, { name, arguments: args }, who);

describe("default, exact and glob precedence", () => {
  it("default allow and deny; omitted default is deny", async () => {
    expect((await decide(policy({ default: "allow" }), "x")).effect).toBe("allow");
    expect((await decide(policy({ default: "deny" }), "x")).code).toBe("DEFAULT_DENY");
    expect((await decide(policy({}), "x")).code).toBe("DEFAULT_DENY");
  });

  it("exact beats glob; more literal characters beat fewer; ties go to the stricter action, then key order", async () => {
    const p = policy({
      default: "allow",
      tools: {
        "a_*": { action: "deny", reason: "glob a_*" },
        "a_b*": { action: "require_approval" },
        a_bc: { action: "allow" },
        "x?": { action: "deny" },
        "*x": { action: "allow" },
        "q*z": { action: "deny" },
        "q**": { action: "allow" },
      },
    });
    expect(await decide(p, "a_bc")).toMatchObject({ effect: "allow", ruleId: "tools.a_bc" });
    expect(await decide(p, "a_bd")).toMatchObject({
      effect: "require_approval",
      code: "APPROVAL_REQUIRED",
      ruleId: "tools.a_b*",
    });
    expect(await decide(p, "a_z")).toMatchObject({
      effect: "deny",
      code: "TOOL_DENIED",
      reason: "glob a_*",
    });
    // "x?" and "*x" both have one literal and one wildcard: the stricter action wins
    // the tie (a deny cannot be loosened by an equally specific allow)...
    expect(await decide(p, "xx")).toMatchObject({ effect: "deny", ruleId: "tools.x?" });
    expect((await decide(p, "xy")).ruleId).toBe("tools.x?");
    expect((await decide(p, "x")).ruleId).toBe("tools.*x");
    // ...and between equal actions the key that sorts first.
    const same = policy({ tools: { "y?": { reason: "y?" }, "*y": { reason: "*y" } } });
    expect((await decide(same, "yy")).ruleId).toBe("tools.*y");
    const approval = policy({ tools: { "*z": {}, "z?": { action: "require_approval" } } });
    expect((await decide(approval, "zz")).effect).toBe("require_approval");
    // "q*z" (2 literals) beats "q**" (1 literal).
    expect((await decide(p, "qaz")).effect).toBe("deny");
    expect((await decide(p, "qa")).effect).toBe("allow");
  });

  it("glob characters other than * and ? are literal", async () => {
    const p = policy({ tools: { "a.b+(c)*": {} } });
    expect((await decide(p, "a.b+(c)d")).effect).toBe("allow");
    expect((await decide(p, "aXb+(c)d")).effect).toBe("deny");
  });

  it("accepts dashes and slashes in globs (names like everything.trigger-*)", async () => {
    const p = policy({ tools: { "everything.trigger-*": {}, "a/b-?": {} } });
    expect((await decide(p, "everything.trigger-sampling")).effect).toBe("allow");
    expect((await decide(p, "everything.triggerXsampling")).effect).toBe("deny");
    expect((await decide(p, "a/b-1")).effect).toBe("allow");
  });
});

describe("hide", () => {
  it("hides exact names and globs, denies calls, wins over tool rules", async () => {
    const p = policy({
      default: "allow",
      hide: ["secret", "admin_*"],
      tools: { admin_ok: { action: "allow" } },
    });
    expect(await decide(p, "admin_ok")).toMatchObject({
      effect: "deny",
      code: "TOOL_HIDDEN",
      ruleId: "hide[1]",
    });
    expect((await decide(p, "secret")).ruleId).toBe("hide[0]");
    expect((await decide(p, "public")).effect).toBe("allow");
    expect(
      engine.visibleTools(p, [{ name: "secret" }, { name: "admin_x" }, { name: "public" }], alice),
    ).toEqual([{ name: "public" }]);
  });

  it("visibility: deny rules and default deny are not visible, shadow and approval are", () => {
    const p = policy({
      tools: {
        a: { action: "deny" },
        b: { action: "deny", mode: "shadow" },
        c: { action: "require_approval" },
        d: { require: [{ path: "args.x", op: "exists" }] },
      },
    });
    expect(["a", "b", "c", "d", "e"].filter((n) => engine.isVisible(p, n, alice))).toEqual([
      "b",
      "c",
      "d",
    ]);
  });
});

describe("conditions", () => {
  const p = policy({
    tools: {
      order: {
        require: [
          { path: "args.amount", op: "lte", value: 100 },
          { path: "args.symbol", op: "in", value: ["BTCUSD", "ETHUSD"] },
        ],
        deny_if: [
          { path: "args.side", op: "eq", value: "sell" },
          { path: "args.note", op: "regex", value: "^rm -rf" },
          { path: "args.tags", op: "contains", value: "danger" },
          { path: "args.debug", op: "exists", reason: "debug orders are not allowed" },
        ],
      },
    },
  });
  const ok = { amount: 50, symbol: "BTCUSD", side: "buy", tags: ["x"], note: "hello" };

  it("allows when all require hold and no deny_if matches", async () => {
    expect((await decide(p, "order", ok)).effect).toBe("allow");
  });

  it.each([
    [{ amount: 101 }, "tools.order.require[0]", 'argument "args.amount" must be at most 100'],
    [{ amount: "50" }, "tools.order.require[0]", "at most 100"],
    [{ amount: undefined }, "tools.order.require[0]", "at most 100"],
    [{ symbol: "DOGEUSD" }, "tools.order.require[1]", 'must be one of ["BTCUSD","ETHUSD"]'],
    [{ side: "sell" }, "tools.order.deny_if[0]", 'calls with argument "args.side" equal to "sell"'],
    [{ note: "rm -rf /" }, "tools.order.deny_if[1]", "matching /^rm -rf/"],
    [{ tags: ["a", "danger"] }, "tools.order.deny_if[2]", 'containing "danger"'],
    [{ debug: false }, "tools.order.deny_if[3]", "debug orders are not allowed"],
  ])("denies %j at %s", async (patch, ruleId, reason) => {
    const d = await decide(p, "order", { ...ok, ...patch });
    expect(d).toMatchObject({ effect: "deny", code: "CONDITION_FAILED", ruleId });
    expect(d.reason).toContain(reason);
  });

  it("every op on present and missing values", async () => {
    const cases: [string, unknown, Record<string, unknown>, boolean][] = [
      ["eq", { a: [1] }, { v: { a: [1] } }, true],
      ["eq", 1, { v: "1" }, false],
      ["neq", 1, { v: 2 }, true],
      ["neq", 1, {}, false],
      ["in", [1, 2], { v: 2 }, true],
      ["not_in", [1, 2], { v: 3 }, true],
      ["not_in", [1, 2], {}, false],
      ["lt", 5, { v: 4 }, true],
      ["lt", 5, { v: 5 }, false],
      ["lte", 5, { v: 5 }, true],
      ["gt", 5, { v: 6 }, true],
      ["gte", 5, { v: 5 }, true],
      ["gte", "b", { v: "c" }, true],
      ["gte", 5, { v: "9" }, false],
      ["regex", "^a", { v: "abc" }, true],
      ["regex", "^a", { v: 1 }, false],
      ["contains", "bc", { v: "abcd" }, true],
      ["contains", 2, { v: [1, 2] }, true],
      ["contains", 3, { v: [1, 2] }, false],
      ["exists", true, { v: null }, true],
      ["exists", false, {}, true],
      ["exists", undefined, {}, false],
    ];
    for (const [op, value, args, holds] of cases) {
      const q = policy({ tools: { t: { require: [{ path: "args.v", op, value } as never] } } });
      const d = await decide(q, "t", args);
      expect({ op, value, args, effect: d.effect }).toEqual({
        op,
        value,
        args,
        effect: holds ? "allow" : "deny",
      });
    }
  });

  it("deny_if fails closed on a present argument of a type its op cannot compare", async () => {
    const q = policy({
      tools: {
        t: {
          deny_if: [
            { path: "args.amount", op: "gt", value: 1000 },
            { path: "args.symbol", op: "regex", value: "^DOGE" },
            { path: "args.tags", op: "contains", value: "danger" },
            { path: "args.ids", op: "contains", value: 7 },
          ],
        },
      },
    });
    const cases: [Record<string, unknown>, string | undefined][] = [
      [{ amount: 5 }, undefined],
      [{ amount: 5000 }, "tools.t.deny_if[0]"],
      // A string (or list, or object) slipping past a numeric deny_if would be a bypass.
      [{ amount: "5000" }, "tools.t.deny_if[0]"],
      [{ amount: [5000] }, "tools.t.deny_if[0]"],
      [{ amount: null }, "tools.t.deny_if[0]"],
      [{ symbol: "BTCUSD" }, undefined],
      [{ symbol: ["DOGEUSD"] }, "tools.t.deny_if[1]"],
      [{ tags: "safe" }, undefined],
      [{ tags: "very danger" }, "tools.t.deny_if[2]"],
      [{ tags: { a: "danger" } }, "tools.t.deny_if[2]"],
      [{ ids: [1, 2] }, undefined],
      [{ ids: "7" }, "tools.t.deny_if[3]"],
      // Absent arguments still do not fire a deny_if.
      [{}, undefined],
    ];
    for (const [args, ruleId] of cases) {
      const d = await decide(q, "t", args);
      expect({ args, effect: d.effect, ruleId: d.ruleId }).toEqual({
        args,
        effect: ruleId === undefined ? "allow" : "deny",
        ruleId: ruleId ?? "tools.t",
      });
    }
    const d = await decide(q, "t", { amount: "5000" });
    expect(d.reason).toContain(
      'argument "args.amount" must be a number to be checked (got a string)',
    );
    const e = engine.explain(q, { name: "t", arguments: { amount: "5000" } }, alice);
    expect(e.trace.find((s) => s.step === "deny_if")?.result).toBe("failed");
  });

  it("reads nested paths and array indexes, own properties only", async () => {
    const q = policy({
      tools: {
        t: {
          require: [
            { path: "args.order.items[1].qty", op: "eq", value: 2 },
            { path: "args.order.items.0.qty", op: "eq", value: 1 },
          ],
        },
      },
    });
    expect((await decide(q, "t", { order: { items: [{ qty: 1 }, { qty: 2 }] } })).effect).toBe(
      "allow",
    );
    expect((await decide(q, "t", { order: { items: [{ qty: 1 }] } })).effect).toBe("deny");
    const r = policy({ tools: { t: { deny_if: [{ path: "args.constructor", op: "exists" }] } } });
    expect((await decide(r, "t", {})).effect).toBe("allow");
  });
});

describe("arguments JSON Schema", () => {
  const p = policy({
    tools: {
      t: {
        arguments: {
          type: "object",
          required: ["symbol"],
          properties: { symbol: { type: "string", pattern: "^[A-Z]+$" }, n: { maximum: 3 } },
          additionalProperties: false,
        },
      },
    },
  });
  it("allows valid arguments and denies invalid ones with the schema errors", async () => {
    expect((await decide(p, "t", { symbol: "BTC" })).effect).toBe("allow");
    const d = await decide(p, "t", { symbol: "btc", n: 9 });
    expect(d).toMatchObject({
      effect: "deny",
      code: "ARGUMENTS_INVALID",
      ruleId: "tools.t.arguments",
    });
    expect(d.reason).toContain("arguments.symbol must match pattern");
    expect(d.reason).toContain("arguments.n must be <= 3");
    expect((await decide(p, "t")).reason).toContain("arguments.symbol is required");
  });

  it("names the unknown property, the allowed values and nested paths the way conditions do", async () => {
    const q = policy({
      tools: {
        t: {
          arguments: {
            type: "object",
            properties: {
              side: { enum: ["buy", "sell"] },
              items: { type: "array", items: { type: "object", required: ["qty"] } },
            },
            additionalProperties: false,
          },
        },
      },
    });
    const d = await decide(q, "t", { side: "hold", items: [{ qty: 1 }, {}], extra: 1 });
    expect(d.code).toBe("ARGUMENTS_INVALID");
    expect(d.reason).toContain('arguments must not have property "extra" (remove it)');
    expect(d.reason).toContain('arguments.side must be one of ["buy","sell"]');
    expect(d.reason).toContain("arguments.items[1].qty is required");
  });
});

describe("limits", () => {
  it("counts per grant, session (falling back to grant) and globally", async () => {
    const p = policy({
      tools: {
        g: { limits: [{ counter: "g", window: "minute", max: 1 }] },
        s: { limits: [{ counter: "s", window: "minute", max: 1, scope: "session" }] },
        w: { limits: [{ counter: "w", window: "minute", max: 1, scope: "global" }] },
      },
    });
    const a1 = { grant: "a", session: "1" };
    const a2 = { grant: "a", session: "2" };
    const b1 = { grant: "b", session: "3" };
    const run = async (n: string, who: Identity) => (await decide(p, n, {}, who)).effect;
    expect([await run("g", a1), await run("g", a2), await run("g", b1)]).toEqual([
      "allow",
      "deny",
      "allow",
    ]);
    expect([await run("s", a1), await run("s", a2), await run("s", b1)]).toEqual([
      "allow",
      "allow",
      "allow",
    ]);
    expect(await run("s", { grant: "a" })).toBe("allow");
    expect(await run("s", { grant: "a" })).toBe("deny");
    expect([await run("w", a1), await run("w", b1)]).toEqual(["allow", "deny"]);
    const d = await decide(p, "w", {}, a2);
    expect(d.limits?.[0]?.key).toBe("w|global|*");
  });

  it("two tools naming one counter share it", async () => {
    const lim = { counter: "shared", window: "30s", max: 3 } as const;
    const p = policy({ tools: { a: { limits: [lim] }, b: { limits: [lim] } } });
    const effects = [];
    for (const n of ["a", "b", "a", "b"]) effects.push((await decide(p, n)).effect);
    expect(effects).toEqual(["allow", "allow", "allow", "deny"]);
    now += 30_000;
    expect((await decide(p, "b")).effect).toBe("allow");
  });

  it("reserves all limits all-or-nothing: a denied call consumes nothing", async () => {
    const p = policy({
      all_tools: { limits: [{ counter: "all", window: "hour", max: 5 }] },
      tools: { t: { limits: [{ counter: "t", window: "minute", max: 2 }] } },
    });
    for (let i = 0; i < 4; i++) await decide(p, "t");
    const [state] = await engine.store.peek([
      { key: "all|grant|alice", windowMs: 3_600_000, max: 5 },
    ]);
    // Calls 3 and 4 were refused by "t" and did not consume "all".
    expect(state?.used).toBe(2);
    const d = await decide(p, "t");
    expect(d).toMatchObject({
      code: "RATE_LIMITED",
      ruleId: "tools.t.limits[0]",
      retryAfterMs: 60_000,
    });
    expect(d.limits?.map((l) => l.key)).toEqual(["all|grant|alice", "t|grant|alice"]);
  });

  it("all_tools limits apply under default allow and to every rule", async () => {
    const p = policy({
      default: "allow",
      all_tools: { limits: [{ counter: "all", window: "second", max: 2 }] },
    });
    expect((await decide(p, "x")).effect).toBe("allow");
    expect((await decide(p, "y")).effect).toBe("allow");
    const d = await decide(p, "z");
    expect(d).toMatchObject({ effect: "deny", ruleId: "all_tools.limits[0]", retryAfterMs: 1000 });
    expect(d.reason).toBe('rate limit "all" reached: 2 per second per grant; retry in 1s');
  });

  it("increment_from counts argument values and rejects unusable ones", async () => {
    const p = policy({
      tools: {
        spend: {
          limits: [{ counter: "usd", window: "day", max: 100, increment_from: "args.usd" }],
        },
      },
    });
    expect((await decide(p, "spend", { usd: 60 })).limits?.[0]).toMatchObject({ used: 60 });
    const over = await decide(p, "spend", { usd: 41 });
    expect(over).toMatchObject({ effect: "deny", code: "RATE_LIMITED" });
    expect(over.retryAfterMs).toBe(86_400_000);
    expect((await decide(p, "spend", { usd: 40 })).effect).toBe("allow");
    for (const usd of ["5", -1, null, Number.NaN]) {
      const d = await decide(p, "spend", { usd });
      expect(d).toMatchObject({
        effect: "deny",
        code: "ARGUMENTS_INVALID",
        ruleId: "tools.spend.limits[0]",
      });
      expect(d.reason).toContain("args.usd");
    }
    const big = await decide(p, "spend", { usd: 101 });
    expect(big).toMatchObject({ effect: "deny", code: "RATE_LIMITED" });
    expect(big.reason).toContain("more than the limit allows in one window");
  });

  it("require_approval with limits reserves; rollback on rejection returns the quota", async () => {
    const p = policy({
      tools: {
        t: { action: "require_approval", limits: [{ counter: "t", window: "minute", max: 1 }] },
      },
    });
    const d = await decide(p, "t");
    expect(d).toMatchObject({ effect: "require_approval", code: "APPROVAL_REQUIRED" });
    expect((await decide(p, "t")).code).toBe("RATE_LIMITED");
    await d.reservation?.rollback();
    await d.reservation?.rollback();
    expect((await decide(p, "t")).effect).toBe("require_approval");
    expect((await decide(p, "t")).effect).toBe("deny");
  });

  it("rollback after the window ended does not touch the new window", async () => {
    const p = policy({ tools: { t: { limits: [{ counter: "t", window: "minute", max: 1 }] } } });
    const d = await decide(p, "t");
    now += 60_000;
    expect((await decide(p, "t")).effect).toBe("allow");
    await d.reservation?.rollback();
    expect((await decide(p, "t")).effect).toBe("deny");
  });

  it("deny decided before limits consumes nothing", async () => {
    const p = policy({
      all_tools: { limits: [{ counter: "all", window: "minute", max: 1 }] },
      tools: { bad: { action: "deny" }, t: { require: [{ path: "args.x", op: "exists" }] } },
    });
    await decide(p, "bad");
    await decide(p, "t", {});
    await decide(p, "nope");
    expect((await decide(p, "t", { x: 1 })).effect).toBe("allow");
  });
});

describe("shadow mode", () => {
  it("reports what the rule would do and allows", async () => {
    const p = policy({
      tools: {
        deny: { action: "deny", mode: "shadow", reason: "would block" },
        cond: { mode: "shadow", require: [{ path: "args.x", op: "eq", value: 1 }] },
        appr: { mode: "shadow", action: "require_approval" },
        fine: { mode: "shadow" },
      },
    });
    const d = await decide(p, "deny");
    expect(d).toMatchObject({ effect: "allow", code: "ALLOWED", ruleId: "tools.deny" });
    expect(d.shadow).toMatchObject({ effect: "deny", code: "TOOL_DENIED", reason: "would block" });
    expect((await decide(p, "cond", { x: 2 })).shadow?.code).toBe("CONDITION_FAILED");
    expect((await decide(p, "cond", { x: 1 })).shadow).toBeUndefined();
    expect((await decide(p, "appr")).shadow?.effect).toBe("require_approval");
    expect((await decide(p, "fine")).shadow).toBeUndefined();
  });

  it("peeks its own limits without consuming; all_tools limits still bind", async () => {
    const p = policy({
      all_tools: { limits: [{ counter: "all", window: "minute", max: 3 }] },
      tools: {
        s: { mode: "shadow", limits: [{ counter: "s", window: "minute", max: 0 + 1 }] },
        e: { limits: [{ counter: "s", window: "minute", max: 1 }] },
      },
    });
    expect((await decide(p, "s")).shadow).toBeUndefined();
    await decide(p, "e");
    const d = await decide(p, "s");
    expect(d.effect).toBe("allow");
    expect(d.shadow).toMatchObject({
      effect: "deny",
      code: "RATE_LIMITED",
      ruleId: "tools.s.limits[0]",
    });
    const [st] = await engine.store.peek([{ key: "s|grant|alice", windowMs: 60_000, max: 1 }]);
    expect(st?.used).toBe(1);
    expect((await decide(p, "s")).code).toBe("RATE_LIMITED");
  });
});

describe("decision fields", () => {
  it("carries id, version, tool, timing; no reservation without limits", async () => {
    const p = policy({ default: "allow" });
    const d = await decide(p, "x");
    expect(d).toMatchObject({ id: "d1", tool: "x", policyVersion: p.version });
    expect(d.policyVersion).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(d.decideUs).toBeGreaterThanOrEqual(0);
    expect(d.reservation).toBeUndefined();
  });

  it("default ids are unique within and across engines", async () => {
    const p = policy({ default: "allow" });
    const e1 = createPolicyEngine();
    const e2 = createPolicyEngine();
    const ids = new Set<string>();
    for (let i = 0; i < 100; i++) {
      ids.add((await e1.decide(p, { name: "x" }, alice)).id);
      ids.add((await e2.decide(p, { name: "x" }, alice)).id);
    }
    expect(ids.size).toBe(200);
  });

  it("rejects an identity without a grant with a typed error", async () => {
    const p = policy({ default: "allow" });
    await expect(engine.decide(p, { name: "x" }, {} as Identity)).rejects.toMatchObject({
      code: "IDENTITY_INVALID",
    });
  });

  it("decides overlong and many distinct tool names correctly (bounded plan cache)", async () => {
    const p = policy({ tools: { "long_*": { action: "require_approval" } } });
    const long = `long_${"x".repeat(10_000)}`;
    expect((await decide(p, long)).effect).toBe("require_approval");
    for (let i = 0; i < 12_000; i++) p.plan(`long_${i}`);
    expect((await decide(p, "long_1")).effect).toBe("require_approval");
    expect((await decide(p, "other")).effect).toBe("deny");
  });

  it("reports a fail-closed store as STORE_UNAVAILABLE", async () => {
    const failing: CounterStore = {
      name: "broken",
      reserve: async (): Promise<ReserveOutcome> => ({
        admitted: false,
        blockedBy: 0,
        retryAfterMs: 1000,
        counters: [],
        degraded: {
          mode: "fail_closed",
          store: "broken",
          reason:
            "limit store unavailable: not connected to Redis (connect ECONNREFUSED 127.0.0.1:6390)",
        },
      }),
      commit: async () => {},
      rollback: async () => {},
      peek: async () => [],
      ready: async () => ({ ok: false, store: "broken" }),
      close: async () => {},
    };
    const e = createPolicyEngine({ store: failing });
    const p = policy({ tools: { t: { limits: [{ counter: "t", window: "minute", max: 1 }] } } });
    const d = await e.decide(p, { name: "t" }, alice);
    expect(d).toMatchObject({ effect: "deny", code: "STORE_UNAVAILABLE", retryAfterMs: 1000 });
    expect(d.degraded?.mode).toBe("fail_closed");
    // What the agent is told names no internals; the cause stays for the operator.
    expect(d.reason).toBe("limit store unavailable; retry in 1s");
    expect(d.degraded?.reason).toContain("ECONNREFUSED");
  });
});

describe("evaluate and explain", () => {
  it("evaluate is synchronous and lists the counters a call needs", () => {
    const p = policy({
      all_tools: { limits: [{ counter: "all", window: "hour", max: 9, scope: "global" }] },
      tools: { "t*": { limits: [{ counter: "t", window: "15m", max: 2, scope: "session" }] } },
    });
    const v = engine.evaluate(p, { name: "tx" }, alice);
    expect(v).toMatchObject({ effect: "allow", ruleId: "tools.t*" });
    expect(v.counters).toEqual([
      {
        key: "all|global|*",
        counter: "all",
        windowMs: 3_600_000,
        max: 9,
        weight: 1,
        ruleId: "all_tools.limits[0]",
      },
      {
        key: "t|session|s1",
        counter: "t",
        windowMs: 900_000,
        max: 2,
        weight: 1,
        ruleId: "tools.t*.limits[0]",
      },
    ]);
  });

  it("explain traces hide, exact, globs, conditions and limits", () => {
    const p = policy({
      hide: ["zzz"],
      tools: {
        "a*": { require: [{ path: "args.n", op: "gt", value: 1 }] },
        "ab*": {
          require: [{ path: "args.n", op: "gt", value: 1 }],
          limits: [{ counter: "c", window: "minute", max: 1 }],
        },
        "q*": {},
      },
    });
    const x = engine.explain(p, { name: "abc", arguments: { n: 0 } }, alice);
    expect(x.verdict).toMatchObject({ effect: "deny", ruleId: "tools.ab*.require[0]" });
    expect(x.trace.map((s) => `${s.step}:${s.ruleId}:${s.result}`)).toEqual([
      "hide:hide[0]:no_match",
      "exact:tools:no_match",
      "glob:tools.ab*:matched",
      "glob:tools.a*:skipped",
      "glob:tools.q*:skipped",
      "require:tools.ab*.require[0]:failed",
      "action:tools.ab*:matched",
      "limit:tools.ab*.limits[0]:needs",
    ]);
  });
});

describe("explain is evaluate with a trace", () => {
  const rich = policy({
    default: "allow",
    hide: ["secret_*", "h"],
    all_tools: { limits: [{ counter: "all", window: "hour", max: 9, scope: "global" }] },
    tools: {
      h: { action: "allow" },
      "d*": { action: "deny", require: [{ path: "args.n", op: "gt", value: 1 }] },
      "s*": {
        mode: "shadow",
        action: "require_approval",
        deny_if: [{ path: "args.n", op: "eq", value: 7 }],
        limits: [{ counter: "s", window: "minute", max: 2, increment_from: "args.n" }],
      },
      "t*": {
        require: [{ path: "args.n", op: "gt", value: 1 }],
        arguments: { type: "object", properties: { n: { type: "number", maximum: 50 } } },
        limits: [
          { counter: "t", window: "15m", max: 20, scope: "session", increment_from: "args.n" },
        ],
      },
      exact: { action: "require_approval", limits: [{ counter: "e", window: "second", max: 1 }] },
    },
  });
  const names = ["h", "secret_x", "dx", "sx", "tx", "exact", "other"];
  const argSets = [undefined, { n: 0 }, { n: 2 }, { n: 7 }, { n: 30 }, { n: 60 }, { n: "x" }];

  it("gives exactly the verdict evaluate gives, for every call", () => {
    for (const name of names)
      for (const args of argSets) {
        const call = { name, arguments: args };
        expect(
          engine.explain(rich, call, alice).verdict,
          `${name} ${JSON.stringify(args)}`,
        ).toEqual(engine.evaluate(rich, call, alice));
      }
  });

  it("keeps recording after the deciding failure, so the trace shows every check", () => {
    const x = engine.explain(rich, { name: "tx", arguments: { n: 0 } }, alice);
    expect(x.verdict.ruleId).toBe("tools.t*.require[0]");
    expect(x.trace.map((s) => `${s.step}:${s.result}`)).toEqual([
      "hide:no_match",
      "hide:no_match",
      "exact:no_match",
      "glob:no_match",
      "glob:no_match",
      "glob:matched",
      "require:failed",
      "arguments:passed",
      "action:matched",
      "limit:needs",
      "limit:needs",
    ]);
    expect(x.trace.at(-1)?.detail).toBe(
      'counter "t|session|s1": 20 per 15m counted from args.n, algorithm fixed',
    );
  });
});

describe("limitCounters: the public view of an identity's counters", () => {
  it("names every limit's store key, window, max and scope, so apps never build keys", async () => {
    const p = policy({
      all_tools: { limits: [{ counter: "all", window: "hour", max: 9, scope: "global" }] },
      tools: {
        t: {
          limits: [
            { counter: "g", window: "minute", max: 2 },
            { counter: "s", window: "15m", max: 3, scope: "session" },
          ],
        },
      },
    });
    const views = p.limitCounters(alice);
    expect(views).toEqual([
      {
        ruleId: "all_tools.limits[0]",
        counter: "all",
        key: "all|global|*",
        window: "hour",
        windowMs: 3_600_000,
        max: 9,
        scope: "global",
        algorithm: "fixed",
      },
      {
        ruleId: "tools.t.limits[0]",
        counter: "g",
        key: "g|grant|alice",
        window: "minute",
        windowMs: 60_000,
        max: 2,
        scope: "grant",
        algorithm: "fixed",
      },
      {
        ruleId: "tools.t.limits[1]",
        counter: "s",
        key: "s|session|s1",
        window: "15m",
        windowMs: 900_000,
        max: 3,
        scope: "session",
        algorithm: "fixed",
      },
    ]);
    // The keys are the ones decide() counts in.
    await decide(p, "t");
    const states = await engine.store.peek(views);
    expect(states.map((s) => s.used)).toEqual([1, 1, 1]);
  });
});
