import type { IncomingMessage, ServerResponse } from "node:http";
import { McpErrorCode, type McpErrorCodeName } from "./errors.js";

/** Writes a JSON-RPC error body with an HTTP status (transport-level refusals). */
export function sendError(
  res: ServerResponse,
  code: McpErrorCodeName,
  message: string,
  headers?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const entry = McpErrorCode[code];
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: null,
    error: { code: entry.rpc, message, data: { code } },
  });
  res.writeHead(entry.http, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/** Outcome of reading a body: the text, or why it was refused. */
export type BodyResult = { ok: true; text: string } | { ok: false; tooLarge: true };

/**
 * Reads the request body up to `limit` bytes. Rejects early on Content-Length so an
 * oversized upload is refused before it is buffered; the rest is drained, not stored.
 *
 * Fast path: the handler runs while Node's HTTP parser is still inside the packet that
 * carried the headers, and a small body usually sits in that same packet. One microtask
 * later the parser has pushed all of it (as many bytes as Content-Length declares, even
 * before `req.complete` is set), so it is taken with one
 * `read()` instead of switching the stream to flowing mode and waiting for the
 * `data`/`end` ticks (measurably shorter time to first byte upstream, see bench/).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.resolve({ ok: false, tooLarge: true });
  }
  return Promise.resolve().then(() => {
    const size = req.readableLength;
    const whole = req.complete || (Number.isFinite(declared) && size >= declared);
    if (whole && req.readableFlowing !== true && !req.readableEnded) {
      if (size > limit) {
        req.resume();
        return { ok: false, tooLarge: true };
      }
      const chunk: unknown = size === 0 ? null : req.read();
      if (size === 0 || chunk !== null) {
        // Drains the (now empty, ended) stream so `end` is emitted and the socket reused.
        req.resume();
        const text =
          chunk === null
            ? ""
            : typeof chunk === "string"
              ? chunk
              : (chunk as Buffer).toString("utf8");
        return { ok: true, text };
      }
    }
    return readFlowing(req, limit);
  });
}

function readFlowing(req: IncomingMessage, limit: number): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        resolve({ ok: false, tooLarge: true });
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      resolve({
        ok: true,
        text:
          chunks.length === 1
            ? chunks[0]!.toString("utf8")
            : Buffer.concat(chunks).toString("utf8"),
      });
    });
    req.on("error", (e) => {
      if (done) return;
      done = true;
      reject(e);
    });
  });
}

/** Default origin policy: loopback hosts only (DNS-rebinding protection for local use). */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const host = new URL(origin).hostname;
    return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "::1";
  } catch {
    return false;
  }
}

/** The API key a request presents: `Authorization: Bearer <key>` or `X-API-Key`. */
export function presentedKey(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m?.[1]) return m[1];
  }
  const k = req.headers["x-api-key"];
  if (typeof k === "string" && k.length > 0) return k;
  return undefined;
}
