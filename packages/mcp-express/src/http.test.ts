import { createServer, type IncomingMessage, request } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BodyResult, readBody } from "./http.js";

// A real server: the fast path depends on how Node's parser hands the body over.
let handle: (req: IncomingMessage) => Promise<BodyResult>;
const server = createServer((req, res) => {
  void handle(req).then(
    (r) => res.end(JSON.stringify(r)),
    (e: unknown) => res.end(JSON.stringify({ err: String(e) })),
  );
});
let port = 0;
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(
  () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
);

function post(parts: string[], headers: Record<string, string | number>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method: "POST", path: "/", headers }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => {
        text += c.toString();
      });
      res.on("end", () => resolve(JSON.parse(text)));
    });
    req.on("error", reject);
    // Several writes with pauses: the body arrives after the headers, in pieces.
    let i = 0;
    const next = (): void => {
      if (i === parts.length) {
        req.end();
        return;
      }
      req.write(parts[i++]);
      setTimeout(next, 5);
    };
    next();
  });
}

describe("readBody", () => {
  it("reads a body sent with the headers (Content-Length)", async () => {
    handle = (req) => readBody(req, 1000);
    const body = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
    expect(await post([body], { "content-length": Buffer.byteLength(body) })).toEqual({
      ok: true,
      text: body,
    });
  });

  it("reads a body that arrives in pieces (chunked and with Content-Length)", async () => {
    handle = (req) => readBody(req, 1000);
    expect(await post(['{"a":', '"é"', "}"], {})).toEqual({ ok: true, text: '{"a":"é"}' });
    const text = '{"b":2}';
    expect(await post(["{", '"b":2}'], { "content-length": text.length })).toEqual({
      ok: true,
      text,
    });
  });

  it("refuses bodies over the limit, declared or streamed", async () => {
    handle = (req) => readBody(req, 4);
    expect(await post(["123456"], { "content-length": 6 })).toEqual({ ok: false, tooLarge: true });
    expect(await post(["12", "34", "56"], {})).toEqual({ ok: false, tooLarge: true });
  });

  it("reads an empty body", async () => {
    handle = (req) => readBody(req, 10);
    expect(await post([], { "content-length": 0 })).toEqual({ ok: true, text: "" });
  });
});
