import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type ChainHead, chainLine, EMPTY_CHAIN, verifyChain } from "./audit-chain.js";

/** The chained line as the format defines it: `{ ...record, seq, prev }`, then `hash`. */
function reference(record: object, previous: ChainHead): string {
  const seq = previous.seq + 1;
  const body = JSON.stringify({ ...record, seq, prev: previous.hash });
  const hash = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  return `${body.slice(0, -1)},"hash":"${hash}"}`;
}

const decision = {
  time: "2026-01-01T00:00:00.000Z",
  decisionId: "d1",
  grant: "demo",
  subject: undefined,
  tool: "transfer_funds",
  effect: "allow",
  argumentKeys: ["amount", "to"],
  shadow: false,
  retryAfterMs: undefined,
  result: { ruleId: "r", redactions: { email: 2 }, bytesIn: undefined },
};

describe("chainLine", () => {
  it("writes exactly the bytes of the reference definition, whatever the record", () => {
    class WithToJson {
      toJSON() {
        return { replaced: true };
      }
    }
    const records: object[] = [
      decision,
      {},
      { only: undefined },
      { 2: "integer keys first", b: 1, 1: "x" },
      { text: 'quotes " and \\ and \n and unicode é 漢 😀' },
      // A record of its own seq and prev: the chain's fields win, in the record's place.
      { seq: 99, a: 1, prev: "forged" },
      new WithToJson(),
      Object.assign(Object.create({ inherited: 1 }), { own: 2 }),
    ];
    let head = EMPTY_CHAIN;
    for (const r of records) {
      const got = chainLine(r, head);
      expect(got.line).toBe(reference(r, head));
      expect(got.head.seq).toBe(head.seq + 1);
      head = got.head;
    }
  });

  it("chains lines that verify, one after the other", () => {
    const lines: string[] = [];
    let head = EMPTY_CHAIN;
    for (let i = 0; i < 5; i++) {
      const c = chainLine({ ...decision, decisionId: `d${i}` }, head);
      lines.push(c.line);
      head = c.head;
    }
    const report = verifyChain([{ name: "audit.jsonl", text: `${lines.join("\n")}\n` }]);
    expect(report).toMatchObject({ ok: true, records: 5, fromGenesis: true, head });
  });
});
