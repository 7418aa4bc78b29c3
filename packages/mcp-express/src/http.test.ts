import { createServer, type IncomingMessage, request } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  accepts,
  type BodyResult,
  hostAllowed,
  isJsonContentType,
  normalizeHost,
  readBody,
} from "./http.js";

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

describe("readBody when the client goes away", () => {
  it("resolves aborted (no rejection, nothing pending) when the body never completes", async () => {
    let result: Promise<BodyResult> | undefined;
    handle = (req) => {
      result = readBody(req, 1000);
      return new Promise(() => {});
    };
    const req = request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/",
      headers: { "content-length": 100 },
    });
    req.on("error", () => {});
    req.write('{"partial":');
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    for (let i = 0; i < 100 && result === undefined; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(await result).toEqual({ ok: false, aborted: true });
  });
});

describe("header checks", () => {
  it("allows only listed hosts; an entry without port allows every port", () => {
    const allowed = new Set(["localhost", "127.0.0.1:8080", "[::1]"]);
    for (const ok of ["localhost", "LOCALHOST:3000", "127.0.0.1:8080", "[::1]:9", "[::1]"]) {
      expect(hostAllowed(ok, allowed)).toBe(true);
    }
    for (const bad of [
      undefined,
      "",
      "127.0.0.1",
      "127.0.0.1:8081",
      "evil.example",
      "localhost.evil.example",
      "evil@localhost",
      "localhost:80:80",
      "localhost, evil.example",
      "::1",
    ]) {
      expect(hostAllowed(bad, allowed)).toBe(false);
    }
    expect(normalizeHost(" ::1 ")).toBe("[::1]");
    expect(normalizeHost("Example.COM:443")).toBe("example.com:443");
    expect(normalizeHost("http://example.com")).toBeUndefined();
  });

  it("reads Accept ranges, wildcards and q=0", () => {
    expect(accepts("application/json, text/event-stream", "text/event-stream")).toBe(true);
    expect(accepts("*/*", "application/json")).toBe(true);
    expect(accepts("TEXT/*;q=0.5", "text/event-stream")).toBe(true);
    expect(accepts("application/json;q=0", "application/json")).toBe(false);
    expect(accepts("application/jsonx", "application/json")).toBe(false);
    expect(accepts(undefined, "application/json")).toBe(false);
  });

  it("takes JSON content types with any case and parameters, and nothing else", () => {
    expect(isJsonContentType("Application/JSON; charset=utf-8")).toBe(true);
    expect(isJsonContentType("application/json")).toBe(true);
    for (const bad of [undefined, "", "application/json-seq", "text/plain; a=application/json"]) {
      expect(isJsonContentType(bad)).toBe(false);
    }
  });
});
