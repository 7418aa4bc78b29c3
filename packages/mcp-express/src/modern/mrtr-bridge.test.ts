import { describe, expect, it } from "vitest";
import type { RpcMessage } from "../jsonrpc.js";
import { LegacyInputBridge, type RetryParams } from "./mrtr-bridge.js";

const inputRequired = (state: string, kind = "elicitation/create"): RpcMessage => ({
  jsonrpc: "2.0",
  id: 1,
  result: {
    resultType: "input_required",
    inputRequests: { q: { method: kind, params: { message: "sure?" } } },
    requestState: state,
  },
});
const done: RpcMessage = { jsonrpc: "2.0", id: 1, result: { content: [], resultType: "complete" } };

/** A bridge whose client answers every request with `answer` (or never, when undefined). */
function setup(answer?: (m: RpcMessage) => RpcMessage) {
  const sent: RpcMessage[] = [];
  const bridge: LegacyInputBridge = new LegacyInputBridge((m) => {
    sent.push(m);
    if (answer) queueMicrotask(() => bridge.answer(answer(m)));
  }, 3);
  return { bridge, sent };
}

describe("input requests bridged to a 2025 client", () => {
  it("asks the client, retries with its answers and the upstream's state, round after round", async () => {
    const { bridge, sent } = setup((m) => ({
      jsonrpc: "2.0",
      id: m.id,
      result: { action: "accept" },
    }));
    const retries: RetryParams[] = [];
    const answers = [inputRequired("s2"), done];
    const out = await bridge.fulfil(
      inputRequired("s1"),
      "tools/call",
      { elicitation: {} },
      new AbortController().signal,
      async (p) => {
        retries.push(p);
        return answers.shift()!;
      },
    );
    expect(out).toBe(done);
    expect(sent.map((m) => m.method)).toEqual(["elicitation/create", "elicitation/create"]);
    expect(retries).toEqual([
      { inputResponses: { q: { action: "accept" } }, requestState: "s1" },
      { inputResponses: { q: { action: "accept" } }, requestState: "s2" },
    ]);
  });

  it("fails the call for a kind the client did not declare, without asking it", async () => {
    const { bridge, sent } = setup();
    const out = await bridge.fulfil(
      inputRequired("s", "sampling/createMessage"),
      "tools/call",
      { elicitation: {} },
      new AbortController().signal,
      async () => done,
    );
    expect(out.result).toMatchObject({ isError: true });
    expect(JSON.stringify(out.result)).toMatch(/did not declare/);
    expect(sent).toEqual([]);
  });

  it("stops after the round limit, and answers an error for methods other than tools/call", async () => {
    const { bridge } = setup((m) => ({ jsonrpc: "2.0", id: m.id, result: { action: "accept" } }));
    const out = await bridge.fulfil(
      inputRequired("s"),
      "prompts/get",
      { elicitation: {} },
      new AbortController().signal,
      async () => inputRequired("again"),
    );
    expect(out.error).toMatchObject({
      code: -32603,
      message: expect.stringMatching(/more than 3/),
    });
  });

  it("a client error fails the call; a cancel rejects and leaves nothing waiting", async () => {
    const refusing = setup((m) => ({
      jsonrpc: "2.0",
      id: m.id,
      error: { code: -1, message: "no" },
    }));
    const out = await refusing.bridge.fulfil(
      inputRequired("s"),
      "tools/call",
      { elicitation: {} },
      new AbortController().signal,
      async () => done,
    );
    expect(JSON.stringify(out.result)).toMatch(/did not provide the input: Error: no/);
    const silent = setup();
    const ac = new AbortController();
    const p = silent.bridge.fulfil(
      inputRequired("s"),
      "tools/call",
      { elicitation: {} },
      ac.signal,
      async () => done,
    );
    ac.abort();
    await expect(p).rejects.toThrow(/cancelled/);
    // A late answer finds nobody waiting.
    silent.bridge.answer({ jsonrpc: "2.0", id: silent.sent[0]!.id, result: {} });
  });
});
