import { connect, createServer, type Socket } from "node:net";

/** A listening {@link startDelayProxy}. */
export interface DelayProxy {
  readonly port: number;
  /**
   * From now on keeps what clients send instead of passing it on, as a stalled server
   * would (nothing is answered); {@link release} passes it on in order.
   */
  hold(): void;
  /** Passes on everything held, in order, and stops holding. */
  release(): void;
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
  let held: Array<() => void> | undefined;
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
      const pass = () => {
        if (!upstream.destroyed) upstream.write(chunk);
      };
      if (held) held.push(pass);
      else setTimeout(pass, delayMs);
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
    hold() {
      held ??= [];
    },
    release() {
      const queued = held ?? [];
      held = undefined;
      for (const pass of queued) pass();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
