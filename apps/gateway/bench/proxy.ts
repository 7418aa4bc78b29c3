/**
 * The bare Node proxy: `http.createServer` piping each request to `http.request` on a
 * keep-alive agent, and the answer back. No parsing, no policy: the floor any Node HTTP
 * hop pays, and the yardstick the gateway's cost is reported against. With several
 * targets it is a round-robin balancer (per request, which stateless 2026 calls allow).
 */
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { IDLE_MS } from "../../../bench/load.js";

/** A listening proxy. */
export interface BareProxy {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a proxy on a free port forwarding to `targets` (ports on 127.0.0.1) in turn. */
export async function startBareProxy(targets: readonly number[]): Promise<BareProxy> {
  // Idle sockets closed before the target's keep-alive timeout (see IDLE_MS).
  const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: IDLE_MS });
  let next = 0;
  const server = createServer((req, res) => {
    const port = targets[next++ % targets.length];
    const up = request(
      { host: "127.0.0.1", port, path: req.url, method: req.method, headers: req.headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
