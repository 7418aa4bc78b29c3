import { compilePolicy, PolicyHolder, parsePolicyText } from "@toolgate/policy-engine";
import { afterEach, describe, expect, it } from "vitest";
import { requestContext } from "../src/guard.js";
import { type DecisionEvent, GuardError, guardMcpServer, type Scheduler } from "../src/index.js";
import {
  type CallResult,
  decisionOf,
  type Sdk,
  sdkV1,
  sdkV2,
  type TestClient,
  text,
} from "./sdks.js";

const POLICY = `
version: "1"
default: deny
hide: ["secret_*"]
tools:
  ping:
    limits: [{ counter: ping_rate, window: minute, max: 2, scope: grant }]
  flaky:
    limits: [{ counter: flaky_rate, window: minute, max: 1, scope: grant }]
  boom:
    limits: [{ counter: boom_rate, window: minute, max: 1, scope: grant }]
  blocked:
    action: deny
    reason: blocked is not for agents
  watched:
    action: deny
    mode: shadow
    reason: watched would be denied
  pay:
    action: require_approval
    reason: payments need a person
    limits: [{ counter: pay_rate, window: minute, max: 5, scope: grant }]
  small:
    require: [{ path: args.amount, op: lt, value: 100 }]
`;

function policy() {
  return compilePolicy(parsePolicyText(POLICY, { source: "test.yaml" }));
}

/** A fake clock and scheduler: approval timeouts and windows move only when told to. */
function fakeTime(start = 1_000_000) {
  let now = start;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let nextId = 1;
  const scheduler: Scheduler = {
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(h) {
      timers.delete(h as number);
    },
  };
  return {
    now: () => now,
    scheduler,
    pending: () => timers.size,
    advance(ms: number) {
      now += ms;
      for (const [id, t] of [...timers]) {
        if (t.at <= now) {
          timers.delete(id);
          t.fn();
        }
      }
    },
  };
}

const open: TestClient[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

describe.each([sdkV1, sdkV2])("guardMcpServer on $label", (sdk: Sdk) => {
  /** A guarded server with every test tool; `ran` counts handler runs per tool. */
  async function setup(opts: Partial<Parameters<typeof guardMcpServer>[1]> = {}) {
    const time = fakeTime();
    const events: DecisionEvent[] = [];
    const ran: Record<string, number> = {};
    const s = sdk.server();
    const count = (name: string) => {
      ran[name] = (ran[name] ?? 0) + 1;
    };
    const ok = (name: string) => (args: Record<string, unknown>) => {
      count(name);
      return { content: [{ type: "text", text: `${name} ok ${JSON.stringify(args)}` }] };
    };
    for (const n of ["ping", "blocked", "watched", "pay", "small", "secret_admin", "unlisted"])
      s.tool(n, ok(n));
    s.tool("flaky", () => {
      count("flaky");
      return { isError: true, content: [{ type: "text", text: "upstream said no" }] };
    });
    const guard = guardMcpServer(s.server, {
      policy: policy(),
      now: time.now,
      scheduler: time.scheduler,
      onDecision: (e) => events.push(e),
      ...opts,
    });
    // Registered after the guard: must be guarded all the same.
    s.tool("boom", () => {
      count("boom");
      throw new Error("the handler blew up");
    });
    const client = await sdk.connect(s.server);
    open.push(client);
    const call = (name: string, args?: Record<string, unknown>) =>
      client.callTool({ name, arguments: args ?? {} }) as Promise<CallResult>;
    return { time, events, ran, client, call, guard };
  }

  it("lists only the tools the policy lets this caller use", async () => {
    const { client } = await setup();
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(["boom", "flaky", "pay", "ping", "small", "watched"]);
  });

  it("rate-limits with a retry time and the decision in _meta, then admits in the next window", async () => {
    const { call, ran, time } = await setup();
    expect((await call("ping")).isError).toBeFalsy();
    expect((await call("ping")).isError).toBeFalsy();
    const third = await call("ping");
    expect(third.isError).toBe(true);
    expect(text(third)).toMatch(
      /^denied by policy: rate limit "ping_rate" reached: 2 .*retry in 60s/,
    );
    expect(decisionOf(third)).toMatchObject({ code: "RATE_LIMITED", retryAfterMs: 60_000 });
    expect(decisionOf(third)).not.toHaveProperty("reservation");
    expect(ran.ping).toBe(2);
    time.advance(60_000);
    expect((await call("ping")).isError).toBeFalsy();
    expect(ran.ping).toBe(3);
  });

  it("denies without running the handler: action deny, hidden, unlisted, failed condition", async () => {
    const { call, ran, events } = await setup();
    const blocked = await call("blocked");
    expect(blocked.isError).toBe(true);
    expect(text(blocked)).toBe("denied by policy: blocked is not for agents");
    expect(decisionOf((await call("secret_admin")) as CallResult)).toMatchObject({
      code: "TOOL_HIDDEN",
    });
    expect(decisionOf(await call("unlisted"))).toMatchObject({ code: "DEFAULT_DENY" });
    const big = await call("small", { amount: 500 });
    expect(decisionOf(big)).toMatchObject({ code: "CONDITION_FAILED" });
    expect((await call("small", { amount: 5 })).isError).toBeFalsy();
    expect(ran).toEqual({ small: 1 });
    expect(events.filter((e) => e.outcome === "denied")).toHaveLength(4);
  });

  it("rolls back the reservation when the handler throws or answers isError", async () => {
    const { call, ran, guard, events } = await setup();
    for (let i = 0; i < 3; i++) {
      const r = await call("boom");
      expect(r.isError).toBe(true);
      expect(text(r)).toContain("the handler blew up");
      const f = await call("flaky");
      expect(f.isError).toBe(true);
      expect(text(f)).toBe("upstream said no");
    }
    // max is 1 per minute: three runs each means nothing stayed counted.
    expect(ran.boom).toBe(3);
    expect(ran.flaky).toBe(3);
    const [boom, flaky] = await guard.engine.store.peek([
      { key: "boom_rate|grant|local", windowMs: 60_000, max: 1 },
      { key: "flaky_rate|grant|local", windowMs: 60_000, max: 1 },
    ]);
    expect(boom?.used).toBe(0);
    expect(flaky?.used).toBe(0);
    expect(events.filter((e) => e.rolledBack)).toHaveLength(6);
  });

  it("runs shadow-mode tools and reports what the rule would have decided", async () => {
    const { call, ran, events } = await setup();
    const r = await call("watched");
    expect(r.isError).toBeFalsy();
    expect(ran.watched).toBe(1);
    const e = events.find((x) => x.tool === "watched");
    expect(e?.outcome).toBe("forwarded");
    expect(e?.decision?.effect).toBe("allow");
    expect(e?.decision?.shadow).toMatchObject({ effect: "deny", code: "TOOL_DENIED" });
  });

  it("holds require_approval calls for the approval hook", async () => {
    const asked: string[] = [];
    const { call, ran } = await setup({
      approve: async (req) => {
        asked.push(`${req.grant}:${req.tool}:${req.argumentsDigest.slice(0, 7)}`);
        return req.arguments.amount === 1
          ? "approved"
          : { outcome: "rejected", reason: "too much" };
      },
    });
    expect((await call("pay", { amount: 1 })).isError).toBeFalsy();
    const no = await call("pay", { amount: 2 });
    expect(no.isError).toBe(true);
    expect(text(no)).toBe(
      "denied by policy: payments need a person; the approval was rejected: too much",
    );
    expect(decisionOf(no)).toMatchObject({ effect: "require_approval", code: "APPROVAL_REQUIRED" });
    expect(ran.pay).toBe(1);
    expect(asked).toEqual(["local:pay:sha256:", "local:pay:sha256:"]);
  });

  it("without an approver refuses, and a silent approver times out; neither costs quota", async () => {
    const none = await setup();
    expect(text(await none.call("pay"))).toContain("no approver configured");
    const slow = await setup({ approve: () => new Promise(() => {}), approvalTimeoutMs: 30_000 });
    const pending = slow.call("pay");
    await vi_waitFor(() => slow.time.pending() === 1);
    slow.time.advance(30_000);
    const r = await pending;
    expect(text(r)).toBe("denied by policy: payments need a person; no approval within 30s");
    expect(slow.events.at(-1)).toMatchObject({ outcome: "approval_timeout", rolledBack: true });
    const [pay] = await slow.guard.engine.store.peek([
      { key: "pay_rate|grant|local", windowMs: 60_000, max: 5 },
    ]);
    expect(pay?.used).toBe(0);
    expect(none.ran.pay).toBeUndefined();
    expect(slow.ran.pay).toBeUndefined();
  });

  it("counts per identity from identify(), and refuses callers it does not recognise", async () => {
    let who: string | undefined = "alice";
    const { call, client } = await setup({
      identify: () => (who === undefined ? undefined : { grant: who }),
    });
    await call("ping");
    await call("ping");
    expect(decisionOf(await call("ping"))).toMatchObject({ code: "RATE_LIMITED" });
    who = "bob";
    expect((await call("ping")).isError).toBeFalsy();
    who = undefined;
    const r = await call("ping");
    expect(r.isError).toBe(true);
    expect(text(r)).toBe("denied: the caller could not be identified");
    expect((await client.listTools()).tools).toEqual([]);
  });

  it("applies a reloaded policy to the next call and tells the client to list again", async () => {
    const holder = new PolicyHolder(policy());
    const { call, client, guard } = await setup({ policy: holder });
    let changed = 0;
    sdk.onToolsChanged(client, () => changed++);
    expect((await call("blocked")).isError).toBe(true);
    const r = holder.reload(POLICY.replace("action: deny\n    reason: blocked", "reason: blocked"));
    expect(r.ok).toBe(true);
    expect((await call("blocked")).isError).toBeFalsy();
    expect((await client.listTools()).tools.map((t) => t.name)).toContain("blocked");
    await vi_waitFor(() => changed === 1);
    guard.close();
    holder.reload(POLICY);
    expect((await call("blocked")).isError).toBe(true);
    expect(changed).toBe(1);
  });

  it("guards a server that is already connected", async () => {
    const s = sdk.server();
    let ran = 0;
    s.tool("ping", () => {
      ran++;
      return { content: [{ type: "text", text: "pong" }] };
    });
    s.tool("blocked", () => ({ content: [{ type: "text", text: "ran" }] }));
    const client = await sdk.connect(s.server);
    open.push(client);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain("blocked");
    guardMcpServer(s.server, { policy: policy() });
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["ping"]);
    for (let i = 0; i < 2; i++) await client.callTool({ name: "ping", arguments: {} });
    const third = (await client.callTool({ name: "ping", arguments: {} })) as CallResult;
    expect(decisionOf(third)).toMatchObject({ code: "RATE_LIMITED" });
    expect(ran).toBe(2);
  });

  it("refuses bad options, foreign objects and a second guard at set-up", async () => {
    const s = sdk.server();
    expect(() =>
      guardMcpServer(s.server, { policy: policy(), approvalTimeoutMs: -1 } as never),
    ).toThrow(/approvalTimeoutMs: use a whole number/);
    expect(() => guardMcpServer(s.server, {} as never)).toThrow(GuardError);
    expect(() => guardMcpServer({ server: {} }, { policy: policy() })).toThrow(
      expect.objectContaining({ code: "GUARD_UNSUPPORTED_SERVER" }),
    );
    guardMcpServer(s.server, { policy: policy() });
    expect(() => guardMcpServer(s.server, { policy: policy() })).toThrow(
      expect.objectContaining({ code: "GUARD_ALREADY_APPLIED" }),
    );
  });
});

/** Polls a condition across event-loop turns (no timers involved). */
async function vi_waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond()).toBe(true);
}

describe("requestContext", () => {
  it("reads the session and auth of either SDK's handler context", () => {
    const auth = { clientId: "alice", token: "t", scopes: [] };
    expect(requestContext({ sessionId: "s1", authInfo: auth })).toMatchObject({
      sessionId: "s1",
      authInfo: auth,
    });
    expect(requestContext({ sessionId: "s2", http: { authInfo: auth } })).toMatchObject({
      sessionId: "s2",
      authInfo: auth,
    });
    expect(requestContext({ sessionId: 7, authInfo: "forged" })).toMatchObject({
      sessionId: undefined,
      authInfo: undefined,
    });
  });
});
