/**
 * MRTR for a 2025 client: an upstream speaking MCP 2026-07-28 answers `input_required`
 * with embedded requests (elicitation, sampling, roots); a 2025 client only understands
 * them as server-to-client requests during the call. The bridge sends each embedded
 * request to the client (through the session, which maps ids and picks the call's
 * stream), waits for the answers, and retries the call with `inputResponses` and the
 * upstream's `requestState` — the loop the 2026 revision leaves to the client.
 */
import type { RpcMessage } from "../jsonrpc.js";

/** The client capability each embedded request kind needs. */
const NEEDS: Readonly<Record<string, string>> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** What the retry adds to the original params. */
export interface RetryParams {
  inputResponses?: Record<string, unknown>;
  requestState?: string;
}

/** Sends embedded input requests to a 2025 client and collects its answers. */
export class LegacyInputBridge {
  private next = 1;
  private readonly waiting = new Map<string, (m: RpcMessage | undefined) => void>();

  constructor(
    private readonly toClient: (m: RpcMessage) => void,
    private readonly maxRounds = 8,
  ) {}

  /** The client's answer to one of the bridge's requests (others are ignored). */
  answer(m: RpcMessage): void {
    const k = String(m.id);
    const w = this.waiting.get(k);
    if (!w) return;
    this.waiting.delete(k);
    w(m);
  }

  /**
   * Runs the rounds until the upstream answers without `input_required`. A kind the
   * client did not declare, a refused input or too many rounds end the call: a failed
   * `tools/call` result (as the SDK's own shim answers), an error for other methods.
   */
  async fulfil(
    first: RpcMessage,
    method: string,
    clientCaps: Record<string, unknown>,
    signal: AbortSignal,
    retry: (p: RetryParams) => Promise<RpcMessage>,
  ): Promise<RpcMessage> {
    let current = first;
    for (let round = 0; ; round++) {
      const r = current.result;
      if (current.error || !isObject(r) || r.resultType !== "input_required") return current;
      if (round >= this.maxRounds) {
        return failure(current, method, `more than ${this.maxRounds} input rounds`);
      }
      const entries = Object.entries(isObject(r.inputRequests) ? r.inputRequests : {});
      for (const [key, e] of entries) {
        const kind = isObject(e) ? e.method : undefined;
        const need = typeof kind === "string" ? NEEDS[kind] : undefined;
        if (!need || !isObject(clientCaps[need])) {
          return failure(
            current,
            method,
            `the upstream asked for input '${key}' (${String(kind)}) the client did not declare`,
          );
        }
      }
      let answers: Array<[string, unknown]>;
      try {
        answers = await Promise.all(
          entries.map(
            async ([key, e]) => [key, await this.ask(e as RpcMessage, signal)] as [string, unknown],
          ),
        );
      } catch (err) {
        if (signal.aborted) throw err;
        return failure(current, method, `the client did not provide the input: ${String(err)}`);
      }
      const p: RetryParams = {};
      if (answers.length > 0) p.inputResponses = Object.fromEntries(answers);
      if (typeof r.requestState === "string") p.requestState = r.requestState;
      current = await retry(p);
    }
  }

  private ask(e: RpcMessage, signal: AbortSignal): Promise<unknown> {
    const id = `toolgate-input-${this.next++}`;
    return new Promise((resolve, reject) => {
      const done = (m: RpcMessage | undefined): void => {
        signal.removeEventListener("abort", onAbort);
        if (!m) reject(new Error("connection closed"));
        else if (m.error) reject(new Error((m.error as { message?: string }).message ?? "error"));
        else resolve(m.result ?? {});
      };
      const onAbort = (): void => {
        this.waiting.delete(id);
        reject(new Error("cancelled"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.set(id, done);
      this.toClient({ jsonrpc: "2.0", id, method: e.method as string, params: e.params ?? {} });
    });
  }

  /** Fails every open request (the transport closed). */
  close(): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of all) w(undefined);
  }
}

function failure(m: RpcMessage, method: string, why: string): RpcMessage {
  const message = `input required by the upstream could not be bridged to this MCP 2025 client: ${why}`;
  if (method === "tools/call") {
    return {
      jsonrpc: "2.0",
      id: m.id,
      result: { isError: true, content: [{ type: "text", text: message }] },
    };
  }
  return { jsonrpc: "2.0", id: m.id, error: { code: -32603, message } };
}
