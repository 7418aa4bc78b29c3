/**
 * One POST of the stateless transport on undici's handler interface: the JSON answer is
 * collected into one string (no body stream or promise per chunk — this is the hot path
 * of every 2026 upstream call); an SSE answer is parsed as it arrives, its notifications
 * handed on at once and its final message returned.
 */
import { createParser, type EventSourceParser } from "eventsource-parser";
import type { Dispatcher, Pool } from "undici";
import type { RpcMessage } from "../jsonrpc.js";

/** What came back: the status, and the JSON text or the SSE stream's final message. */
export interface PostAnswer {
  readonly status: number;
  readonly text: string;
  /** The response message of an SSE answer (undefined when the stream ended without one). */
  readonly final?: RpcMessage | undefined;
  readonly sse: boolean;
}

/** POSTs `body`; `signal` aborts it; SSE notifications go to `onNotification`. */
export function postOnce(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
  onNotification: (m: RpcMessage) => void,
): Promise<PostAnswer> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let parser: EventSourceParser | undefined;
    let final: RpcMessage | undefined;
    const chunks: Buffer[] = [];
    let onAbort: (() => void) | undefined;
    const done = (): void => {
      if (onAbort) signal.removeEventListener("abort", onAbort);
    };
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abort) {
        if (signal.aborted) abort(new Error("cancelled"));
        else {
          onAbort = () => abort(new Error("cancelled"));
          signal.addEventListener("abort", onAbort, { once: true });
        }
      },
      onHeaders(statusCode, raw) {
        if (statusCode < 200) return true;
        status = statusCode;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          if (raw[i]!.toString("latin1").toLowerCase() !== "content-type") continue;
          if (raw[i + 1]!.toString("latin1").includes("text/event-stream")) {
            parser = createParser({
              onEvent: (e) => {
                if (!e.data || (e.event && e.event !== "message")) return;
                let m: RpcMessage;
                try {
                  m = JSON.parse(e.data) as RpcMessage;
                } catch {
                  return;
                }
                if (m.method === undefined) final = m;
                else if (m.id === undefined) onNotification(m);
              },
            });
          }
        }
        return true;
      },
      onData(chunk) {
        if (parser) parser.feed(chunk.toString("utf8"));
        else chunks.push(chunk);
        return true;
      },
      onComplete() {
        done();
        if (parser) {
          parser.feed("\n");
          resolve({ status, text: "", final, sse: true });
          return;
        }
        const text =
          chunks.length === 1
            ? chunks[0]!.toString("utf8")
            : Buffer.concat(chunks).toString("utf8");
        resolve({ status, text, sse: false });
      },
      onError(err) {
        done();
        reject(err);
      },
    };
    pool.dispatch({ path, method: "POST", headers, body }, handler);
  });
}
