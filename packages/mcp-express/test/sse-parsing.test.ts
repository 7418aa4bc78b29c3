import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpUpstreamTransport } from "../src/http-upstream.js";
import type { Scheduler } from "../src/options.js";

/**
 * An upstream that answers a POST with an SSE stream written with lone-CR line endings
 * and a `retry:` field, then drops the stream before the answer; the resumption GET
 * (Last-Event-ID) gets the answer.
 */
describe("HTTP upstream SSE parsing", () => {
  let server: Server;
  let url: URL;
  const gets: Array<string | undefined> = [];
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      if (req.method === "POST") {
        req.resume();
        res.writeHead(200, { "content-type": "text/event-stream" });
        // Lone CR everywhere; a comment; the progress notification; then the drop.
        res.end(
          ": hello\rretry: 1234\rid: ev-1\rdata: " +
            JSON.stringify({
              jsonrpc: "2.0",
              method: "notifications/progress",
              params: { progressToken: 1, progress: 1 },
            }) +
            "\r\r",
        );
        return;
      }
      if (req.method === "GET") {
        gets.push(req.headers["last-event-id"] as string | undefined);
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.end(
          `id: ev-2\rdata: ${JSON.stringify({ jsonrpc: "2.0", id: 7, result: { ok: 1 } })}\r\r`,
        );
        return;
      }
      res.writeHead(405).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("splits events on lone CR and waits the server's retry: before resuming", async () => {
    const timers: Array<{ fn: () => void; ms: number }> = [];
    const scheduler: Scheduler = {
      setTimeout(fn, ms) {
        timers.push({ fn, ms });
        return timers.length;
      },
      clearTimeout() {},
    };
    const t = new HttpUpstreamTransport(url, {}, scheduler);
    const got: JSONRPCMessage[] = [];
    const errors: Error[] = [];
    t.onmessage = (m) => got.push(m);
    t.onerror = (e) => errors.push(e);
    await t.start();
    await t.send({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "x" } });
    await expect.poll(() => timers.length).toBeGreaterThan(0);
    expect(got).toEqual([
      {
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: { progressToken: 1, progress: 1 },
      },
    ]);
    // Resumption waits what the server asked for, not a moment less.
    expect(timers.map((x) => x.ms)).toContain(1234);
    expect(gets).toEqual([]);
    timers.find((x) => x.ms === 1234)!.fn();
    await expect.poll(() => got.length).toBe(2);
    expect(gets).toEqual(["ev-1"]);
    expect(got[1]).toEqual({ jsonrpc: "2.0", id: 7, result: { ok: 1 } });
    expect(errors).toEqual([]);
    await t.close();
  });
});
