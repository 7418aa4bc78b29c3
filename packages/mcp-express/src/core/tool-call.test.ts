import { describe, expect, it } from "vitest";
import type { Decision, Identity } from "../engine.js";
import { ToolgateMcpError } from "../errors.js";
import type { RpcMessage } from "../jsonrpc.js";
import type { ApprovalOutcome, ApprovalRequest, DecisionEvent, Scheduler } from "../options.js";
import { Telemetry } from "../telemetry.js";
import { type ForwardRequest, type ToolCall, type ToolCallDeps, toolCall } from "./tool-call.js";

/** Fake timers: `advance(ms)` fires what is due, in order. */
function fakeScheduler(): Scheduler & { advance(ms: number): void } {
  let t = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    setTimeout(fn, ms) {
      const h = ++seq;
      timers.set(h, { at: t + ms, fn });
      return h;
    },
    clearTimeout(h) {
      timers.delete(h as number);
    },
    advance(ms) {
      const end = t + ms;
      for (;;) {
        const due = [...timers.entries()]
          .filter(([, v]) => v.at <= end)
          .sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        t = due[1].at;
        due[1].fn();
      }
      t = end;
    },
  };
}

interface Harness {
  deps: ToolCallDeps;
  events: DecisionEvent[];
  ledger: string[];
  approvals: ApprovalRequest[];
  scheduler: ReturnType<typeof fakeScheduler>;
}

function harness(
  effect: Decision["effect"],
  over: Partial<ToolCallDeps> = {},
  approve?: (r: ApprovalRequest) => Promise<ApprovalOutcome>,
): Harness {
  const events: DecisionEvent[] = [];
  const ledger: string[] = [];
  const approvals: ApprovalRequest[] = [];
  const scheduler = fakeScheduler();
  let clock = 1_000;
  const deps: ToolCallDeps = {
    decide: async (_identity, tool) =>
      ({
        id: "d1",
        effect,
        code: effect === "deny" ? "denied" : "allowed",
        reason: effect === "deny" ? "not in this grant" : "ok",
        ruleId: "tools.echo",
        policyVersion: "v1",
        tool,
        decideUs: 1,
        reservation: {
          commit: async () => {
            ledger.push("commit");
          },
          rollback: async () => {
            ledger.push("rollback");
          },
        },
      }) as unknown as Decision,
    approve: (r) => {
      approvals.push(r);
      return approve ? approve(r) : Promise.resolve("approved");
    },
    validator: () => undefined,
    toolTimeoutMs: () => 250,
    onDecision: (e) => events.push(e),
    approvalTimeoutMs: 10_000,
    approvalProgressMs: 1_000,
    now: () => {
      clock += 5;
      return clock;
    },
    newId: () => "approval-1",
    scheduler,
    logger: {},
    telemetry: Telemetry.create(undefined),
    ...over,
  };
  return { deps, events, ledger, approvals, scheduler };
}

const identity: Identity = { grant: "team-a", sub: "alice", clientId: "cli" } as Identity;

function call(
  over: Partial<ToolCall> & { forwarded?: ForwardRequest[]; abort?: AbortController } = {},
): ToolCall {
  const forwarded = over.forwarded ?? [];
  const abort = over.abort ?? new AbortController();
  return {
    id: 7,
    identity,
    session: "s1",
    params: { name: "echo", arguments: { text: "hi" } },
    resolve: async (name) =>
      name === "echo"
        ? { upstream: "up", tool: "real_echo", definition: { name: "real_echo" } }
        : undefined,
    unavailable: () => [],
    forward: async (req) => {
      forwarded.push(req);
      return { jsonrpc: "2.0", id: 99, result: { content: [] } };
    },
    signal: abort.signal,
    grantSessions: () => 2,
    ...over,
  };
}

describe("toolCall pipeline (no HTTP, no session)", () => {
  it("forwards an allowed call under the upstream's tool name, commits and emits forwarded", async () => {
    const h = harness("allow");
    const forwarded: ForwardRequest[] = [];
    const res = await toolCall(h.deps, call({ forwarded }));
    expect(res.result).toEqual({ content: [] });
    expect(forwarded).toEqual([{ tool: "real_echo", timeoutMs: 250, span: undefined }]);
    await Promise.resolve();
    expect(h.ledger).toEqual(["commit"]);
    expect(h.events).toHaveLength(1);
    expect(h.events[0]).toMatchObject({
      outcome: "forwarded",
      grant: "team-a",
      subject: "alice",
      clientId: "cli",
      session: "s1",
      tool: "echo",
      upstream: "up",
      argumentKeys: ["text"],
      upstreamMs: 5,
    });
    expect(h.events[0]!.argumentsDigest).toMatch(/^sha256:/);
    expect(h.events[0]!.decision).not.toHaveProperty("reservation");
  });

  it("denies without forwarding and says why, with the decision in _meta", async () => {
    const h = harness("deny");
    const forwarded: ForwardRequest[] = [];
    const res = await toolCall(h.deps, call({ forwarded }));
    const result = res.result as { isError: boolean; content: Array<{ text: string }> };
    expect(result.isError).toBe(true);
    expect(result.content[0]!.text).toBe("denied by policy: not in this grant");
    expect(forwarded).toEqual([]);
    expect(h.events.map((e) => e.outcome)).toEqual(["denied"]);
  });

  it("refuses bad params before deciding", async () => {
    const h = harness("allow");
    const bad = await toolCall(h.deps, call({ params: { name: 3 } }));
    expect(bad.error?.code).toBe(-32602);
    const arr = await toolCall(h.deps, call({ params: { name: "echo", arguments: [1] } }));
    expect(arr.error?.message).toMatch(/arguments must be an object/);
    expect(h.events).toEqual([]);
  });

  it("rolls back an allowed call of an unknown tool and names upstreams that are down", async () => {
    const h = harness("allow");
    const res = await toolCall(
      h.deps,
      call({ params: { name: "nope" }, unavailable: () => ["a", "b"] }),
    );
    expect(res.error?.message).toBe(
      "MCP error -32602: Tool nope not found; upstream a, b are unavailable right now, retry shortly",
    );
    expect(h.ledger).toEqual(["rollback"]);
    expect(h.events.map((e) => e.outcome)).toEqual(["unknown_tool"]);
    expect(h.events[0]).not.toHaveProperty("upstream");
  });

  it("rolls back and answers isError when arguments fail validation", async () => {
    const h = harness("allow", {
      validator: () => (a) => (a ? "/text must be number" : undefined),
    });
    const forwarded: ForwardRequest[] = [];
    const res = await toolCall(h.deps, call({ forwarded }));
    expect(res.result).toEqual({
      isError: true,
      content: [{ type: "text", text: "invalid arguments for echo: /text must be number" }],
    });
    expect(forwarded).toEqual([]);
    expect(h.ledger).toEqual(["rollback"]);
    expect(h.events.map((e) => e.outcome)).toEqual(["denied"]);
  });

  it("holds for approval, tells the hook who and what, records the approver", async () => {
    const h = harness("require_approval", {}, async () => ({ outcome: "approved", by: "admin" }));
    const elicit = async () => "unsupported" as const;
    const res = await toolCall(h.deps, call({ elicit }));
    expect(res.result).toEqual({ content: [] });
    const req = h.approvals[0]!;
    expect(req).toMatchObject({
      id: "approval-1",
      grant: "team-a",
      subject: "alice",
      clientId: "cli",
      session: "s1",
      tool: "echo",
      upstream: "up",
      arguments: { text: "hi" },
      grantSessions: 2,
    });
    expect(req.argumentsDigest).toBe(h.events[0]!.argumentsDigest);
    expect(req.elicit).toBe(elicit);
    // The hold is over: the request's signal tells the approval UI so.
    expect(req.signal.aborted).toBe(true);
    expect(h.events[0]).toMatchObject({ outcome: "forwarded", approver: "admin" });
  });

  it("times out a held call under fake time, with progress while waiting", async () => {
    const h = harness("require_approval", {}, () => new Promise(() => {}));
    const ticks: string[] = [];
    const p = toolCall(h.deps, call({ progress: (n, m) => ticks.push(`${n}:${m}`) }));
    await new Promise((r) => setImmediate(r));
    h.scheduler.advance(10_000);
    const res = await p;
    const result = res.result as { content: Array<{ text: string }> };
    expect(result.content[0]!.text).toBe("denied by policy: approval timed out");
    expect(ticks[0]).toBe("1:waiting for approval of echo");
    expect(ticks.length).toBeGreaterThanOrEqual(10);
    expect(h.ledger).toEqual(["rollback"]);
    expect(h.events.map((e) => e.outcome)).toEqual(["approval_timeout"]);
  });

  it("a rejecting or failing approver rejects, with its reason", async () => {
    const h = harness("require_approval", {}, async () => {
      throw new Error("ui down");
    });
    const res = await toolCall(h.deps, call());
    const result = res.result as { content: Array<{ text: string }> };
    expect(result.content[0]!.text).toBe(
      "denied by policy: approval rejected: approver failed: Error: ui down",
    );
    expect(h.events.map((e) => e.outcome)).toEqual(["approval_rejected"]);
  });

  it("a caller that cancels during the hold ends it: cancelled, rolled back, never forwarded", async () => {
    const h = harness("require_approval", {}, () => new Promise(() => {}));
    const abort = new AbortController();
    const forwarded: ForwardRequest[] = [];
    const p = toolCall(h.deps, call({ abort, forwarded }));
    await new Promise((r) => setImmediate(r));
    abort.abort("cancelled by the client");
    await p;
    expect(forwarded).toEqual([]);
    expect(h.approvals[0]!.signal.aborted).toBe(true);
    expect(h.ledger).toEqual(["rollback"]);
    expect(h.events[0]).toMatchObject({ outcome: "cancelled", approver: "caller:cancelled" });
  });

  it("an abort that is not the caller's (session ended) rejects the hold", async () => {
    const h = harness("require_approval", {}, () => new Promise(() => {}));
    const abort = new AbortController();
    const p = toolCall(h.deps, call({ abort }));
    await new Promise((r) => setImmediate(r));
    abort.abort(Symbol("closed"));
    await p;
    expect(h.events.map((e) => e.outcome)).toEqual(["approval_rejected"]);
  });

  it("a call cancelled before forwarding throws CANCELLED and rolls back", async () => {
    const h = harness("allow");
    const abort = new AbortController();
    abort.abort("client disconnected");
    const err = await toolCall(h.deps, call({ abort })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolgateMcpError);
    expect((err as ToolgateMcpError).code).toBe("CANCELLED");
    expect(h.ledger).toEqual(["rollback"]);
    expect(h.events.map((e) => e.outcome)).toEqual(["cancelled"]);
  });

  it("rolls back on an upstream error answer, a timeout and a cancel mid-call", async () => {
    const errAnswer: RpcMessage = { jsonrpc: "2.0", id: 1, error: { code: -1, message: "boom" } };
    const h = harness("allow");
    const res = await toolCall(h.deps, call({ forward: async () => errAnswer }));
    expect(res).toBe(errAnswer);
    const timeout = await toolCall(
      h.deps,
      call({
        forward: async () => {
          throw new ToolgateMcpError("UPSTREAM_TIMEOUT", "upstream up: timed out");
        },
      }),
    ).catch((e: unknown) => e);
    expect((timeout as ToolgateMcpError).code).toBe("UPSTREAM_TIMEOUT");
    const abort = new AbortController();
    await toolCall(
      h.deps,
      call({
        abort,
        forward: async () => {
          abort.abort("cancelled by the client");
          throw new ToolgateMcpError("UPSTREAM_FAILED", "abandoned");
        },
      }),
    ).catch(() => undefined);
    expect(h.ledger).toEqual(["rollback", "rollback", "rollback"]);
    expect(h.events.map((e) => e.outcome)).toEqual([
      "upstream_error",
      "upstream_timeout",
      "cancelled",
    ]);
    expect(h.events.every((e) => typeof e.upstreamMs === "number")).toBe(true);
  });

  it("builds no event when nobody listens", async () => {
    const h = harness("allow", { onDecision: undefined });
    await toolCall(h.deps, call());
    expect(h.events).toEqual([]);
  });
});
