import { connect, createServer, type Socket } from "node:net";

/** A listening {@link startDelayProxy}. */
export interface DelayProxy {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy to `targetHost:targetPort` that holds everything the client sends for
 * `delayMs` before passing it on (answers come back at once). Each request/answer
 * exchange through it then costs exactly one delay, however its bytes were batched, so
 * the latency a caller adds over the delay-free path, divided by `delayMs`, counts the
 * round trips it waited for, unblurred by CPU time (which stays far below the delay).
 */
export async function startDelayProxy(
  targetPort: number,
  delayMs: number,
  targetHost = "127.0.0.1",
): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    // No Nagle: a small write held for the peer's delayed ACK would add its own 40 ms.
    s.setNoDelay(true);
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    track(client);
    track(upstream);
    // Timers of the same delay fire in the order they were set: the byte order holds.
    client.on("data", (chunk) => {
      setTimeout(() => {
        if (!upstream.destroyed) upstream.write(chunk);
      }, delayMs);
    });
    upstream.on("data", (chunk) => {
      if (!client.destroyed) client.write(chunk);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no port");
  return {
    port: address.port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
