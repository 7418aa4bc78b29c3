import {
  type CounterStore,
  compilePolicy,
  createInProcessCounterStore,
  createPolicyEngine,
  parsePolicyText,
} from "@toolgate/policy-engine";
import { describe, expect, it } from "vitest";
import {
  type ApprovalRequest,
  argumentsDigest,
  type DecisionEvent,
  type PipelineDeps,
  type ToolResultLike,
} from "./pipeline.js";
import { runToolCall } from "./run.js";

const policy = compilePolicy(
  parsePolicyText(`
version: "1"
default: allow
tools:
  pay:
    action: require_approval
    reason: payments need a person
    limits: [{ counter: pay, window: minute, max: 5 }]
  ping:
    limits: [{ counter: ping, window: minute, max: 5 }]
`),
);

function deps(over: Partial<PipelineDeps> = {}, store?: CounterStore) {
  const errors: Array<[unknown, string]> = [];
  const events: DecisionEvent[] = [];
  const d: PipelineDeps = {
    engine: createPolicyEngine({ store: store ?? createInProcessCounterStore({ now: () => 0 }) }),
    policyFor: () => policy,
    approvalTimeoutMs: 1000,
    onDecision: (e) => events.push(e),
    now: () => 0,
    newId: () => "id-1",
    scheduler: { setTimeout: () => 0, clearTimeout: () => {} },
    onInternalError: (err, where) => errors.push([err, where]),
    ...over,
  };
  return { d, errors, events };
}

const ok = async (): Promise<ToolResultLike> => ({ content: [{ type: "text", text: "ok" }] });
const who = { grant: "g", session: "s" };

describe("runToolCall", () => {
  it("returns the result even when onDecision throws, and reports the hook's error", async () => {
    const { d, errors } = deps({
      onDecision: () => {
        throw new Error("audit down");
      },
    });
    const r = await runToolCall(d, { name: "ping", arguments: {}, identity: who }, ok);
    expect(r.isError).toBeUndefined();
    expect(errors.map(([, w]) => w)).toEqual(["onDecision"]);
  });

  it("reports a failed commit and still answers", async () => {
    const store = createInProcessCounterStore({ now: () => 0 });
    // Delegates explicitly: the memory store is a class, so a spread would drop its methods.
    const broken: CounterStore = {
      name: store.name,
      reserve: (s) => store.reserve(s),
      rollback: (r) => store.rollback(r),
      peek: (s) => store.peek(s),
      ready: () => store.ready(),
      close: () => store.close(),
      commit: async () => {
        throw new Error("commit lost");
      },
    };
    const { d, errors } = deps({}, broken);
    const r = await runToolCall(d, { name: "ping", arguments: {}, identity: who }, ok);
    expect(r.isError).toBeUndefined();
    expect(errors.map(([, w]) => w)).toEqual(["commit"]);
  });

  it("a client cancelling a held call aborts the approver's signal and costs nothing", async () => {
    const ac = new AbortController();
    let seen: ApprovalRequest | undefined;
    const { d, events } = deps({
      approve: (req) => {
        seen = req;
        return new Promise(() => {});
      },
    });
    let ran = false;
    const pending = runToolCall(
      d,
      { name: "pay", arguments: { amount: 5 }, identity: who, signal: ac.signal },
      async () => {
        ran = true;
        return ok();
      },
    );
    for (let i = 0; i < 50 && seen === undefined; i++) await new Promise((r) => setImmediate(r));
    expect(seen?.argumentsDigest).toBe(argumentsDigest({ amount: 5 }));
    expect(seen?.session).toBe("s");
    ac.abort();
    const r = await pending;
    expect(r.isError).toBe(true);
    expect(JSON.stringify(r.content)).toContain("the approval was rejected: the client cancelled");
    expect(seen?.signal.aborted).toBe(true);
    expect(ran).toBe(false);
    expect(events[0]).toMatchObject({ outcome: "approval_rejected", rolledBack: true });
    const [pay] = await d.engine.store.peek([{ key: "pay|grant|g", windowMs: 60_000, max: 5 }]);
    expect(pay?.used).toBe(0);
  });

  it("treats a throwing approver as a rejection", async () => {
    const { d } = deps({
      approve: async () => {
        throw new Error("approver crashed");
      },
    });
    const r = await runToolCall(d, { name: "pay", arguments: {}, identity: who }, ok);
    expect(JSON.stringify(r.content)).toContain("rejected: the approver failed");
  });

  it("rethrows a handler's error after rolling back, with keys and digest but no values", async () => {
    const { d, events } = deps();
    await expect(
      runToolCall(d, { name: "ping", arguments: { secret: "hunter2" }, identity: who }, () =>
        Promise.reject(new Error("down")),
      ),
    ).rejects.toThrow("down");
    expect(events[0]).toMatchObject({
      outcome: "handler_error",
      rolledBack: true,
      argumentKeys: ["secret"],
    });
    expect(JSON.stringify(events)).not.toContain("hunter2");
  });

  it("refuses a call without identity or without a policy for its grant", async () => {
    const { d, events } = deps({ policyFor: (g) => (g === "known" ? policy : undefined) });
    const r = await runToolCall(d, { name: "ping", arguments: {}, identity: undefined }, ok);
    expect(r.isError).toBe(true);
    const r2 = await runToolCall(d, { name: "ping", arguments: {}, identity: { grant: "x" } }, ok);
    expect(r2.isError).toBe(true);
    expect(events.map((e) => e.outcome)).toEqual(["unidentified", "unidentified"]);
  });
});
