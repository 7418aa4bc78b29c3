import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the receiver got: headers and the raw body bytes as text. */
export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}

/**
 * A real HTTP webhook receiver on loopback. `answers` is consumed one status per request
 * (then 200); `"hang"` never answers that request (the socket stays open).
 */
export async function startReceiver(answers: Array<number | "hang"> = []) {
  const received: Received[] = [];
  const hanging = new Set<import("node:http").ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now(),
      });
      const answer = answers.shift() ?? 200;
      if (answer === "hang") {
        hanging.add(res);
        return;
      }
      res.writeHead(answer, { "content-type": "text/plain" }).end(answer < 300 ? "ok" : "nope");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    answers,
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Timers driven by the test: `advance(ms)` fires what falls due, in order. */
export class ManualScheduler {
  t = 1_764_763_200_000;
  #next = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  readonly now = () => this.t;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#next;
    this.#timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  /** Timers still pending, with how long until each fires. */
  pending(): number[] {
    return [...this.#timers.values()].map((x) => x.at - this.t).sort((a, b) => a - b);
  }
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const due = [...this.#timers.entries()]
        .filter(([, x]) => x.at <= until)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = until;
  }
}
