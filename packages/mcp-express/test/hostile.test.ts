// Hostile input against the middleware on a real loopback listener: generated bodies,
// headers, credentials, hosts and sizes each get the status and JSON-RPC error the MCP
// transport asks for, never a 5xx or a hang, and nothing unauthenticated reaches the
// upstream. Slow clients are cut off by the server timeouts the README tells embedders
// to set, without disturbing anyone else.
import {
  Agent,
  createServer,
  type Agent as HttpAgent,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  request,
  type Server,
} from "node:http";
import type { AddressInfo } from "node:net";
import { connect as netConnect } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import { compilePolicy } from "@toolgate/policy-engine";
import express from "express";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  argumentsDigest,
  createToolgateMcp,
  type DecisionEvent,
  type ToolgateMcp,
} from "../src/index.js";

const KEY = "hostile-key-7f3a91c2d4e6b805";
/** A valid key of another grant: it must not reach the first grant's session. */
const OTHER_KEY = "hostile-other-key-5b0e2c7d19a4";
const MAX_BODY = 8 * 1024;
const JSON_RPC_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};

// ------------------------------------------------------------------ the system under test

/** Every message any upstream instance received, and how many instances were made. */
const upstream = { messages: 0, servers: 0 };

function upstreamServer(): McpServer {
  upstream.servers++;
  const s = new McpServer({ name: "hostile-upstream", version: "1.0.0" });
  s.registerTool(
    "echo",
    { description: "echoes text", inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  for (const name of ["held", "blocked"]) {
    s.registerTool(name, { description: name }, async () => ({
      content: [{ type: "text", text: `${name} ran` }],
    }));
  }
  // Counts at the upstream's own door: whatever the gateway forwards passes here.
  const connect = s.connect.bind(s);
  s.connect = async (transport: Transport) => {
    await connect(transport);
    const inner = transport.onmessage;
    transport.onmessage = (m, extra) => {
      upstream.messages++;
      inner?.(m, extra);
    };
  };
  return s;
}

const faults: unknown[] = [];
const onFault = (e: unknown): void => {
  faults.push(e);
};
const errorLogs: string[] = [];
const decisions: DecisionEvent[] = [];

let gw: ToolgateMcp;
let server: Server;
let port = 0;
let expressServer: Server | undefined;
let expressPort = 0;
let sid = "";
const agent: HttpAgent = new Agent({ keepAlive: true, maxSockets: 8 });

async function listen(s: Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as AddressInfo).port;
}

async function shut(s: Server): Promise<void> {
  s.closeAllConnections();
  await new Promise<void>((r) => s.close(() => r()));
}

/** The id an error must carry back: a string or integer id of an object body, else null. */
function readableIdOf(m: unknown): string | number | null {
  const id = (m as { id?: unknown } | null)?.id;
  return typeof id === "string" || (typeof id === "number" && Number.isInteger(id)) ? id : null;
}

beforeAll(async () => {
  process.on("unhandledRejection", onFault);
  process.on("uncaughtException", onFault);
  gw = createToolgateMcp({
    upstreams: [{ name: "up", server: upstreamServer }],
    apiKeys: { [KEY]: "fuzz", [OTHER_KEY]: "other" },
    // These tests send thousands of wrong credentials on purpose; the throttle has its own.
    authThrottle: false,
    policy: compilePolicy({
      version: "1",
      default: "allow",
      tools: { held: { action: "require_approval" }, blocked: { action: "deny" } },
    }),
    approve: async () => "approved",
    onDecision: (e) => decisions.push(e),
    allowedHosts: ["127.0.0.1", "localhost"],
    maxBodyBytes: MAX_BODY,
    logger: { error: (o, msg) => errorLogs.push(`${msg ?? ""} ${JSON.stringify(o)}`) },
  });
  await gw.start();
  server = createServer(gw.listener);
  port = await listen(server);
  // The same endpoint mounted in Express, for the body properties.
  const app = express();
  app.all("/mcp", gw.handler);
  expressServer = createServer(app);
  expressPort = await listen(expressServer);
  const init = await send({ headers: auth(), body: initBody() });
  expect(init.status).toBe(200);
  sid = String(init.headers["mcp-session-id"]);
  const ready = await send({
    headers: auth({ "mcp-session-id": sid }),
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  expect(ready.status).toBe(202);
});

afterEach(() => {
  expect(faults).toEqual([]);
  expect(errorLogs).toEqual([]);
});

afterAll(async () => {
  process.off("unhandledRejection", onFault);
  process.off("uncaughtException", onFault);
  agent.destroy();
  await gw?.close({ graceMs: 100 });
  if (server) await shut(server);
  if (expressServer) await shut(expressServer);
});

// ------------------------------------------------------------------ helpers

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One HTTP request with exactly the given headers (plus Host); fails on a hang. */
function send(o: {
  method?: string;
  path?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Uint8Array;
  chunks?: string[];
  port?: number;
}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: o.port ?? port,
        method: o.method ?? "POST",
        path: o.path ?? "/mcp",
        headers: o.headers,
        agent,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(parts).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(3000, () => req.destroy(new Error("no answer within 3 s: the request hung")));
    req.on("error", reject);
    if (o.chunks) {
      for (const c of o.chunks) req.write(c);
      req.end();
    } else {
      req.end(o.body);
    }
  });
}

/** Writes raw bytes on a fresh socket; resolves with what came back once it closes. */
function raw(
  bytes: string,
  opts: { port?: number; waitMs?: number } = {},
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = netConnect(opts.port ?? port, "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text, closed: false });
    }, opts.waitMs ?? 3000);
    sock.on("data", (d) => {
      text += d.toString("latin1");
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    sock.write(Buffer.from(bytes, "latin1"));
  });
}

function auth(extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  return { ...JSON_RPC_HEADERS, authorization: `Bearer ${KEY}`, ...extra };
}

function initBody(id: unknown = 1, params?: unknown): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "initialize",
    params: params ?? {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "hostile", version: "1" },
    },
  });
}

function ping(id: unknown = 1): string {
  return JSON.stringify({ jsonrpc: "2.0", id, method: "ping" });
}

/** The JSON-RPC error body of a reply, checked to be one. */
function rpcError(r: Reply): { id: unknown; code: number; data?: { code?: string } } {
  expect(r.headers["content-type"]).toContain("application/json");
  const body = JSON.parse(r.text) as {
    jsonrpc: string;
    id: unknown;
    error: { code: number; message: string; data?: { code?: string } };
  };
  expect(body.jsonrpc).toBe("2.0");
  expect(typeof body.error.message).toBe("string");
  return { id: body.id, code: body.error.code, data: body.error.data };
}

/** What a case must get: an HTTP status and, when the body is a JSON-RPC error, its code and id. */
interface Expect {
  status: number;
  rpc?: number;
  /** The id the reply must carry (null for refusals that cannot name the request). */
  id?: unknown;
  /** A JSON-RPC result is expected (the value is not checked beyond being an object). */
  result?: boolean;
}

function check(r: Reply, want: Expect): void {
  expect(r.status).toBe(want.status);
  if (want.status === 202) {
    expect(r.text).toBe("");
    return;
  }
  if (want.result) {
    const body = JSON.parse(r.text) as { id: unknown; result: unknown };
    expect(body.id).toEqual(want.id);
    expect(typeof body.result).toBe("object");
    return;
  }
  const e = rpcError(r);
  if (want.rpc !== undefined) expect(e.code).toBe(want.rpc);
  if ("id" in want) expect(e.id).toEqual(want.id);
}

/** Header names as a client may spell them: the server must not care. */
function caseGame(name: string, seed: number): string {
  return [...name].map((c, i) => ((seed >> (i % 30)) & 1 ? c.toUpperCase() : c)).join("");
}

// ------------------------------------------------------------------ generated inputs

/** Ids MCP allows: strings (any unicode, long ones too) and integers up to the safe range. */
const goodId = fc.oneof(
  fc.integer(),
  fc.constantFrom(0, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", minLength: 200, maxLength: 600 }),
);
/** A method no MCP peer implements. */
const unknownMethod = fc.string({ maxLength: 30 }).map((s) => `x-fuzz/${s}`);
const smallObject = fc.dictionary(
  fc.string({ maxLength: 8 }).filter((k) => k !== "_meta" && k !== "__proto__"),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 4 },
);

type Case = {
  name: string;
  body: string | Uint8Array;
  want: Expect;
  headers?: OutgoingHttpHeaders;
};

const notJson: fc.Arbitrary<Case> = fc
  .oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.string({ maxLength: 200 }).map((s) => new TextEncoder().encode(s)),
  )
  .filter((b) => {
    try {
      JSON.parse(Buffer.from(b).toString("utf8"));
      return false;
    } catch {
      return true;
    }
  })
  .map((body) => ({ name: "not JSON", body, want: { status: 400, rpc: -32700, id: null } }));

const truncated: fc.Arbitrary<Case> = fc
  .tuple(goodId, smallObject, fc.double({ min: 0, max: 1, noNaN: true }))
  .map(([id, params, at]) => {
    const full = JSON.stringify({ jsonrpc: "2.0", id, method: "tools/list", params });
    const body = full.slice(0, Math.floor(at * (full.length - 1)));
    return { name: "truncated", body, want: { status: 400, rpc: -32700, id: null } };
  });

const notAnObject: fc.Arbitrary<Case> = fc
  .oneof(
    fc.jsonValue().filter((v) => v === null || typeof v !== "object"),
    // Batches: removed from MCP in 2025-06-18.
    fc.array(
      goodId.map((id) => JSON.parse(ping(id)) as unknown),
      { maxLength: 3 },
    ),
  )
  .map((v) => ({
    name: "not an object",
    body: JSON.stringify(v),
    want: { status: 400, rpc: -32600, id: null },
  }));

const badEnvelope: fc.Arbitrary<Case> = fc
  .oneof(
    // jsonrpc missing or wrong
    fc
      .record({
        jsonrpc: fc.oneof(fc.constantFrom("1.0", "2", "2.0 ", null, 2), fc.string()),
        id: goodId,
        method: fc.constant("ping"),
      })
      .filter((m) => m.jsonrpc !== "2.0"),
    fc.record({ id: goodId, method: fc.constant("ping") }),
    // ids of the wrong type
    fc.record({
      jsonrpc: fc.constant("2.0"),
      id: fc.oneof(
        fc.double().filter((d) => !Number.isInteger(d)),
        fc.boolean(),
        fc.constant(null),
        smallObject,
        fc.array(fc.integer(), { maxLength: 2 }),
      ),
      method: fc.constant("ping"),
    }),
    // methods of the wrong type
    fc.record({
      jsonrpc: fc.constant("2.0"),
      id: goodId,
      method: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), smallObject),
    }),
    // params that are not structured at all
    fc.record({
      jsonrpc: fc.constant("2.0"),
      id: goodId,
      method: fc.constant("tools/list"),
      params: fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)),
    }),
    // responses that are not responses
    fc.record({
      jsonrpc: fc.constant("2.0"),
      id: fc.integer(),
      result: fc.oneof(fc.array(fc.integer(), { maxLength: 2 }), fc.string()),
    }),
    fc.record({
      jsonrpc: fc.constant("2.0"),
      id: fc.integer(),
      error: fc.record({ code: fc.oneof(fc.string(), fc.double({ min: 0.1, max: 0.9 })) }),
    }),
  )
  .map((m) => ({
    name: "bad envelope",
    body: JSON.stringify(m),
    // The id is answered back wherever it can be read (a string or an integer).
    want: { status: 400, rpc: -32600, id: readableIdOf(m) },
  }));

const badParams: fc.Arbitrary<Case> = fc
  .tuple(
    goodId,
    fc.constantFrom("tools/list", "tools/call", "ping", "x-fuzz/other", "resources/read"),
    fc.oneof(
      fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
      fc.record({
        _meta: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.integer())),
      }),
      fc.record({
        _meta: fc.record({
          progressToken: fc.oneof(
            smallObject,
            fc.boolean(),
            fc.constant(null),
            fc.double().filter((d) => !Number.isSafeInteger(d)),
          ),
        }),
      }),
    ),
  )
  .map(([id, method, params]) => ({
    name: "params MCP does not allow",
    body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
    want: { status: 400, rpc: -32602, id: JSON.parse(JSON.stringify(id)) as unknown },
  }));

const unknownRequest: fc.Arbitrary<Case> = fc
  .tuple(
    goodId,
    fc.oneof(unknownMethod, fc.constantFrom("resources/list", "prompts/list")),
    smallObject,
  )
  .map(([id, method, params]) => ({
    name: "unknown method",
    body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
    want: { status: 200, rpc: -32601, id },
  }));

const notification: fc.Arbitrary<Case> = fc
  .tuple(unknownMethod, fc.option(smallObject, { nil: undefined }))
  .map(([method, params]) => ({
    name: "notification",
    body: JSON.stringify({ jsonrpc: "2.0", method, params }),
    want: { status: 202 },
  }));

const clientResponse: fc.Arbitrary<Case> = fc
  .tuple(
    fc.oneof(fc.integer(), fc.string()),
    fc.oneof(
      smallObject.map((result) => ({ result })),
      fc.record({ error: fc.record({ code: fc.integer(), message: fc.string() }) }),
    ),
  )
  .map(([id, rest]) => ({
    name: "response nobody asked for",
    body: JSON.stringify({ jsonrpc: "2.0", id, ...rest }),
    want: { status: 202 },
  }));

const pingCase: fc.Arbitrary<Case> = goodId.map((id) => ({
  name: "ping",
  body: ping(id),
  want: { status: 200, result: true, id },
}));

const invalidUtf8: fc.Arbitrary<Case> = fc
  .uint8Array({ min: 0x80, max: 0xff, minLength: 1, maxLength: 20 })
  .map((bytes) => {
    // Bytes >= 0x80 never end a JSON string, so this stays one request with an odd id.
    const body = Buffer.concat([
      Buffer.from('{"jsonrpc":"2.0","id":"'),
      Buffer.from(bytes),
      Buffer.from('","method":"ping"}'),
    ]);
    const id = body.subarray(23, 23 + bytes.length).toString("utf8");
    return {
      name: "invalid UTF-8",
      body: new Uint8Array(body),
      want: { status: 200, result: true, id },
    };
  });

const toolCallWrongTypes: fc.Arbitrary<Case> = fc
  .tuple(
    goodId,
    fc.oneof(
      fc.record({ name: fc.oneof(fc.integer(), fc.constant(null), smallObject, fc.boolean()) }),
      fc.record({
        name: fc.constant("echo"),
        arguments: fc.oneof(
          fc.array(fc.string(), { maxLength: 2 }),
          fc.string(),
          fc.integer(),
          fc.constant(null),
        ),
      }),
      fc.record({ name: unknownMethod.map((m) => m.replace("/", "_")), arguments: smallObject }),
    ),
  )
  .map(([id, params]) => ({
    name: "tools/call with wrong types",
    body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params }),
    want: { status: 200, rpc: -32602, id },
  }));

const tooDeep: fc.Arbitrary<Case> = fc
  .tuple(fc.integer(), fc.integer({ min: 101, max: 1_300 }), fc.boolean())
  .map(([id, depth, arrays]) => {
    const open = arrays ? "[" : '{"a":';
    const close = arrays ? "]" : "}";
    // The envelope and params add two levels; the argument nests `depth - 2` more.
    const inner = `${open.repeat(depth - 2)}1${close.repeat(depth - 2)}`;
    const body = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"tools/call","params":{"name":"echo","arguments":{"text":${inner}}}}`;
    return { name: "nested too deep", body, want: { status: 400, rpc: -32600, id } };
  })
  .filter((c) => Buffer.byteLength(c.body) <= MAX_BODY);

const initializeBadParams: fc.Arbitrary<Case> = fc
  .tuple(
    goodId,
    fc.oneof(
      fc.constant(undefined),
      smallObject,
      fc.record({
        protocolVersion: fc.oneof(fc.integer(), fc.constant(null)),
        capabilities: fc.constant({}),
        clientInfo: fc.constant({ name: "x", version: "1" }),
      }),
      fc.record({
        protocolVersion: fc.constant("2025-11-25"),
        capabilities: fc.oneof(fc.string(), fc.constant(null)),
        clientInfo: fc.constant({ name: "x", version: "1" }),
      }),
      fc.record({
        protocolVersion: fc.constant("2025-11-25"),
        capabilities: fc.constant({}),
        clientInfo: fc.oneof(fc.string(), fc.record({ name: fc.integer() })),
      }),
    ),
  )
  .map(([id, params]) => ({
    name: "initialize with bad params",
    body: JSON.stringify({ jsonrpc: "2.0", id, method: "initialize", params }),
    // No session id: this is a new client, refused before any upstream is asked.
    headers: { ...JSON_RPC_HEADERS, authorization: `Bearer ${KEY}` },
    want: { status: 400, rpc: -32602, id },
  }));

// ------------------------------------------------------------------ tests

describe("hostile JSON-RPC bodies", () => {
  it("every body gets the right status and JSON-RPC error, never a 5xx or a hang (plain listener and Express)", async () => {
    const sessionsBefore = gw.sessions().length;
    const serversBefore = upstream.servers;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          notJson,
          truncated,
          notAnObject,
          badEnvelope,
          badParams,
          unknownRequest,
          notification,
          clientResponse,
          pingCase,
          invalidUtf8,
          toolCallWrongTypes,
          tooDeep,
          initializeBadParams,
        ),
        fc.boolean(),
        async (c, viaExpress) => {
          const r = await send({
            port: viaExpress ? expressPort : port,
            headers: c.headers ?? auth({ "mcp-session-id": sid }),
            body: c.body,
          });
          check(r, c.want);
        },
      ),
      { numRuns: 600 },
    );
    // Nothing the client sent made a session, hurt an upstream's health or an upstream
    // instance; the one session still works.
    expect(gw.sessions()).toHaveLength(sessionsBefore);
    expect(upstream.servers).toBe(serversBefore);
    expect(gw.upstreamHealth()).toEqual([{ name: "up", ok: true }]);
    expect(gw.inFlight()).toBe(0);
    const call = await send({
      headers: auth({ "mcp-session-id": sid }),
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: "after",
        method: "tools/call",
        params: { name: "echo", arguments: { text: "still here" } },
      }),
    });
    expect(JSON.parse(call.text).result.content[0].text).toBe("still here");
  }, 30_000);

  it("regressions: each once, with the exact answer", async () => {
    const h = auth({ "mcp-session-id": sid });
    const cases: Array<[string, Expect]> = [
      // An SDK upstream drops array params without answering: the client hung.
      [
        JSON.stringify({ jsonrpc: "2.0", id: 1, method: "x/y", params: [1] }),
        { status: 400, rpc: -32602, id: 1 },
      ],
      [
        JSON.stringify({
          jsonrpc: "2.0",
          id: 2,
          method: "tools/call",
          params: { name: "echo", arguments: { text: "a" }, _meta: { progressToken: {} } },
        }),
        { status: 400, rpc: -32602, id: 2 },
      ],
      // Decided as {} but forwarded as sent.
      [
        JSON.stringify({
          jsonrpc: "2.0",
          id: 3,
          method: "tools/call",
          params: { name: "echo", arguments: ["a"] },
        }),
        { status: 200, rpc: -32602, id: 3 },
      ],
      [
        `{"jsonrpc":"2.0","id":4,"method":"ping","params":{"a":${"[".repeat(200)}${"]".repeat(200)}}}`,
        { status: 400, rpc: -32600, id: 4 },
      ],
    ];
    for (const [body, want] of cases) check(await send({ headers: h, body }), want);
    // A bad initialize answered 502 and marked the upstream unhealthy.
    const before = upstream.messages;
    check(await send({ headers: auth(), body: initBody(9, { protocolVersion: 5 }) }), {
      status: 400,
      rpc: -32602,
      id: 9,
    });
    check(await send({ headers: auth(), body: initBody(10, []) }), {
      status: 400,
      rpc: -32602,
      id: 10,
    });
    expect(upstream.messages).toBe(before);
    expect(gw.upstreamHealth()).toEqual([{ name: "up", ok: true }]);
  });
});

/** A header case for an in-session ping: the headers to change and what must come back. */
type HeaderCase = { name: string; headers: OutgoingHttpHeaders; want: Expect };

const printable = fc
  .string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 60,
  })
  .filter((s) => s.length > 0);
/** Header values a client may send: Latin-1 without controls, no surrounding blanks. */
const latin1 = fc
  .string({
    unit: fc
      .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }))
      .map((c) => String.fromCharCode(c)),
    minLength: 1,
    maxLength: 80,
  })
  .map((s) => s.trim())
  .filter((s) => s.length > 0);

const sessionCases: fc.Arbitrary<HeaderCase> = fc.oneof(
  fc.constant({
    name: "empty session id",
    headers: { "mcp-session-id": "" },
    want: { status: 400, rpc: -32000, id: 1 },
  }),
  fc
    .oneof(
      fc.uuid(),
      latin1,
      fc
        .string({ unit: "grapheme-ascii", minLength: 1000, maxLength: 8000 })
        .map((s) => s.trim() || "x"),
    )
    .map((v) => ({
      name: "unknown session id",
      headers: { "mcp-session-id": v },
      want: { status: 404, rpc: -32001, id: 1 },
    })),
);

const versionCases: fc.Arbitrary<HeaderCase> = fc.oneof(
  fc
    .oneof(printable, latin1, fc.constantFrom("2025-06-18x", "2025-6-18", "2099-01-01", "latest"))
    .filter((v) => !(SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(v))
    .map((v) => ({
      name: "unsupported version",
      headers: { "mcp-protocol-version": v },
      want: { status: 400, rpc: -32000, id: 1 },
    })),
  fc.constantFrom(...SUPPORTED_PROTOCOL_VERSIONS).map((v) => ({
    name: "supported version",
    headers: { "mcp-protocol-version": v },
    want: { status: 200, result: true, id: 1 },
  })),
);

const loopbackOrigin = fc
  .tuple(
    fc.constantFrom("http", "https", "HTTP", "Https"),
    fc.constantFrom("localhost", "127.0.0.1", "[::1]", "LOCALHOST", "LocalHost"),
    fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  )
  .map(([scheme, host, p]) => `${scheme}://${host}${p === undefined ? "" : `:${p}`}`);
const foreignOrigin = fc.oneof(
  fc.constantFrom(
    "null",
    "http://localhost.evil.example",
    "http://127.0.0.1.nip.io",
    "http://evil.example#@localhost",
    "http://localhost@evil.example",
    "http://127.0.0.2",
    "http://[::2]",
    "http://localhost, http://evil.example",
    "file://",
    "localhost",
  ),
  fc
    .domain()
    .filter((d) => d !== "localhost")
    .map((d) => `https://${d}`),
  latin1.filter((v) => !/^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?\/?$/i.test(v)),
);
const originCases: fc.Arbitrary<HeaderCase> = fc.oneof(
  loopbackOrigin.map((o) => ({
    name: "loopback origin",
    headers: { origin: o },
    want: { status: 200, result: true, id: 1 },
  })),
  foreignOrigin.map((o) => ({
    name: "foreign origin",
    headers: { origin: o },
    want: { status: 403, rpc: -32000, id: null },
  })),
);

const contentTypeCases: fc.Arbitrary<HeaderCase> = fc.oneof(
  fc.constant({
    name: "no content type",
    headers: { "content-type": undefined },
    want: { status: 415, rpc: -32000, id: null },
  }),
  fc
    .oneof(
      fc.constantFrom(
        "text/plain",
        "application/json-seq",
        "application/jsonl",
        "text/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "json",
        "application/",
        "*/*",
      ),
      printable,
    )
    .filter((v) => v.split(";")[0]?.trim().toLowerCase() !== "application/json")
    .map((v) => ({
      name: "wrong content type",
      headers: { "content-type": v },
      want: { status: 415, rpc: -32000, id: null },
    })),
  fc
    .tuple(
      fc.mixedCase(fc.constant("application/json")),
      fc.constantFrom("", "; charset=utf-8", ";charset=UTF-8", "; profile=x"),
    )
    .map(([t, p]) => ({
      name: "JSON content type",
      headers: { "content-type": `${t}${p}` },
      want: { status: 200, result: true, id: 1 },
    })),
);

const acceptCases: fc.Arbitrary<HeaderCase> = fc.oneof(
  fc.constant({
    name: "no accept",
    headers: { accept: undefined },
    want: { status: 406, rpc: -32000, id: 1 },
  }),
  fc
    .constantFrom(
      "application/json",
      "text/event-stream",
      "text/html",
      "application/json, text/plain",
      "application/json, text/event-stream;q=0",
      "application/*",
      // Wildcards do not name the types (fetch sends */* when no Accept is set).
      "*/*",
      "application/json;q=0.9, text/*;q=0.1",
    )
    .map((v) => ({
      name: "accept lacks a part",
      headers: { accept: v },
      // The body is read to answer with the request's id.
      want: { status: 406, rpc: -32000, id: 1 },
    })),
  fc
    .constantFrom(
      "application/json, text/event-stream",
      "text/event-stream, application/json",
      "application/json;q=0.9, text/event-stream;q=0.1",
      "Application/JSON, Text/Event-Stream",
    )
    .map((v) => ({
      name: "accept has both",
      headers: { accept: v },
      want: { status: 200, result: true, id: 1 },
    })),
);

describe("concurrent hostile traffic", () => {
  it("answers to many interleaved requests in one session never cross", async () => {
    const kind = fc.constantFrom("ping", "echo", "unknown", "bad-params");
    await fc.assert(
      fc.asyncProperty(
        fc.array(kind, { minLength: 2, maxLength: 25 }),
        fc.string(),
        async (kinds, salt) => {
          const replies = await Promise.all(
            kinds.map((k, i) => {
              const id = `${i}:${salt}`;
              const body =
                k === "ping"
                  ? ping(id)
                  : k === "echo"
                    ? JSON.stringify({
                        jsonrpc: "2.0",
                        id,
                        method: "tools/call",
                        params: { name: "echo", arguments: { text: id } },
                      })
                    : k === "unknown"
                      ? JSON.stringify({ jsonrpc: "2.0", id, method: "x-fuzz/concurrent" })
                      : JSON.stringify({ jsonrpc: "2.0", id, method: "ping", params: [id] });
              return send({ headers: auth({ "mcp-session-id": sid }), body }).then((r) => ({
                k,
                id,
                r,
              }));
            }),
          );
          for (const { k, id, r } of replies) {
            if (k === "bad-params") {
              check(r, { status: 400, rpc: -32602, id });
              continue;
            }
            const body = JSON.parse(r.text) as {
              id: unknown;
              result?: { content?: Array<{ text: string }> };
              error?: { code: number };
            };
            expect(r.status).toBe(200);
            expect(body.id).toBe(id);
            if (k === "echo") expect(body.result?.content?.[0]?.text).toBe(id);
            if (k === "unknown") expect(body.error?.code).toBe(-32601);
          }
        },
      ),
      { numRuns: 25 },
    );
    expect(gw.inFlight()).toBe(0);
  });
});

describe("hostile tool arguments", () => {
  const key = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: "binary", maxLength: 6 }),
    fc.constantFrom("__proto__", "constructor", "prototype", "toString", "text", "_meta"),
  );
  const args = fc.dictionary(key, fc.jsonValue({ maxDepth: 6 }), { maxKeys: 6 });

  it("every well-formed call is decided and audited exactly once, with the digest of what was sent", async () => {
    const names = fc.oneof(
      fc.constantFrom("echo", "held", "blocked"),
      unknownMethod.map((m) => m.replace("/", "_")),
    );
    await fc.assert(
      fc.asyncProperty(names, args, goodId, async (name, a, id) => {
        const body = JSON.stringify({
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: { name, arguments: a },
        });
        // What the gateway parses, own "__proto__" keys included.
        const sent = (JSON.parse(body) as { params: { arguments: Record<string, unknown> } }).params
          .arguments;
        const before = decisions.length;
        const r = await send({ headers: auth({ "mcp-session-id": sid }), body });
        expect(r.status).toBe(200);
        const reply = JSON.parse(r.text) as {
          id: unknown;
          result?: { isError?: boolean; content: Array<{ text: string }> };
          error?: { code: number };
        };
        expect(reply.id).toEqual(id);
        expect(decisions.length).toBe(before + 1);
        const e = decisions[decisions.length - 1]!;
        expect(e.tool).toBe(name);
        expect(e.argumentKeys).toEqual(Object.keys(sent));
        expect(e.argumentsDigest).toBe(argumentsDigest(sent));
        if (name === "blocked") {
          expect(e.outcome).toBe("denied");
          expect(reply.result?.isError).toBe(true);
        } else if (name === "held") {
          expect(e.outcome).toBe("forwarded");
          expect(reply.result?.content[0]?.text).toBe("held ran");
        } else if (name === "echo") {
          // Forwarded; the upstream itself judges `text` (an isError result is still a result).
          expect(e.outcome).toBe("forwarded");
          expect(reply.result).toBeDefined();
          if (typeof sent.text === "string") expect(reply.result?.content[0]?.text).toBe(sent.text);
        } else {
          expect(e.outcome).toBe("unknown_tool");
          expect(reply.error?.code).toBe(-32602);
        }
      }),
      { numRuns: 150 },
    );
    expect(gw.inFlight()).toBe(0);
  });
});

describe("hostile headers", () => {
  it("session ids, protocol versions, origins, content types and accept each get the right status", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(sessionCases, versionCases, originCases, contentTypeCases, acceptCases),
        fc.nat(),
        async (c, seed) => {
          const headers: OutgoingHttpHeaders = {};
          for (const [k, v] of Object.entries({
            ...auth({ "mcp-session-id": sid }),
            ...c.headers,
          })) {
            if (v !== undefined) headers[caseGame(k, seed)] = v;
          }
          check(await send({ headers, body: ping(1) }), c.want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("non-ASCII and control bytes in a session id never reach a session", async () => {
    const body = ping(1);
    for (const id of ["\xe9\xff\xfe", "caf\xe9", `${sid}\xa0`]) {
      const r = await raw(
        `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: ${id}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      expect(r.text).toMatch(/^HTTP\/1\.1 404 /);
    }
    // Headers past Node's 16 KiB limit, and a body framed two ways (request smuggling),
    // are refused by the HTTP parser itself, as is a control character.
    const huge = await raw(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Session-Id: ${"a".repeat(20_000)}\r\nContent-Length: 0\r\n\r\n`,
    );
    expect(huge.text).toMatch(/^HTTP\/1\.1 431 /);
    const twoWays = await raw(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    expect(twoWays.text).toMatch(/^HTTP\/1\.1 400 /);
    const bad = await raw(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nMcp-Session-Id: a\x01b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    expect(bad.text).toMatch(/^HTTP\/1\.1 400 /);
  });
});

describe("other methods on the endpoint", () => {
  it("GET, DELETE and unknown methods answer 405, 406, 404 or 400 as they should", async () => {
    type MethodCase = { method: string; headers: OutgoingHttpHeaders; want: Expect };
    const cases: fc.Arbitrary<MethodCase> = fc.oneof(
      fc.constantFrom("PUT", "PATCH", "PROPFIND", "LINK", "PURGE").map((method) => ({
        method,
        headers: auth({ "mcp-session-id": sid }),
        want: { status: 405, rpc: -32000, id: null },
      })),
      fc.constantFrom("application/json", "text/html", "text/event-streams").map((accept) => ({
        method: "GET",
        headers: auth({ "mcp-session-id": sid, accept }),
        want: { status: 406, rpc: -32000, id: null },
      })),
      latin1.map((last) => ({
        method: "GET",
        headers: auth({
          "mcp-session-id": sid,
          accept: "text/event-stream",
          "last-event-id": last,
        }),
        want: { status: 404, rpc: -32000, id: null },
      })),
      fc.oneof(fc.uuid(), latin1).map((id) => ({
        method: "DELETE",
        headers: auth({ "mcp-session-id": id }),
        want: { status: 404, rpc: -32001, id: null },
      })),
    );
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        const r = await send({ method: c.method, headers: c.headers });
        check(r, c.want);
        if (r.status === 405) expect(r.headers.allow).toBe("GET, POST, DELETE, OPTIONS");
      }),
      { numRuns: 100 },
    );
    // The session survived all of it.
    check(await send({ headers: auth({ "mcp-session-id": sid }), body: ping(2) }), {
      status: 200,
      result: true,
      id: 2,
    });
  });
});

// ------------------------------------------------------------------ auth

type AuthCase = { name: string; path?: string; headers: OutgoingHttpHeaders; ok: boolean };

const wrongKey = fc.oneof(
  fc
    .string({ minLength: 1, maxLength: 60 })
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && s !== KEY),
  fc.constantFrom(
    KEY.toUpperCase(),
    `${KEY}x`,
    KEY.slice(0, -1),
    `x${KEY}`,
    `${KEY} ${KEY}`,
    `"${KEY}"`,
  ),
);
const b64 = (s: string): string => Buffer.from(s).toString("base64");

const authCases: fc.Arbitrary<AuthCase> = fc.oneof(
  fc.constant({ name: "no credential", headers: {}, ok: false }),
  fc
    .constantFrom(
      "Bearer",
      "Bearer ",
      "Bearer  ",
      "bearer",
      "Bearer\t",
      `Basic ${b64(KEY)}`,
      `Basic ${b64(`:${KEY}`)}`,
      `Token ${KEY}`,
      KEY,
      `Bearer: ${KEY}`,
      `Bearer=${KEY}`,
      `ApiKey ${KEY}`,
    )
    .map((v) => ({ name: "malformed authorization", headers: { authorization: v }, ok: false })),
  wrongKey.map((k) => ({
    name: "wrong bearer key",
    headers: { authorization: `Bearer ${k}` },
    ok: false,
  })),
  wrongKey.map((k) => ({ name: "wrong x-api-key", headers: { "x-api-key": k }, ok: false })),
  fc
    .constantFrom("api_key", "key", "apiKey", "access_token", "token", "x-api-key", "authorization")
    .map((q) => ({
      name: "key in the query string",
      path: `/mcp?${q}=${encodeURIComponent(KEY)}`,
      headers: {},
      ok: false,
    })),
  // A wrong bearer is not rescued by a right X-API-Key: the credential presented first counts.
  wrongKey.map((k) => ({
    name: "wrong bearer, right x-api-key",
    headers: { authorization: `Bearer ${k}`, "x-api-key": KEY },
    ok: false,
  })),
  // Controls: the right key, however the header is spelled, gets in.
  fc
    .constantFrom(`Bearer ${KEY}`, `bearer ${KEY}`, `BEARER  ${KEY}`)
    .map((v) => ({ name: "right bearer key", headers: { authorization: v }, ok: true })),
  fc.constant({ name: "right x-api-key", headers: { "x-api-key": KEY }, ok: true }),
);

describe("hostile credentials", () => {
  it("missing, malformed, wrong and query-string keys get 401 and the upstream sees nothing", async () => {
    const opened: string[] = [];
    await fc.assert(
      fc.asyncProperty(authCases, fc.nat(), async (c, seed) => {
        const headers: OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries({ ...JSON_RPC_HEADERS, ...c.headers })) {
          headers[caseGame(k, seed)] = v;
        }
        const before = { ...upstream };
        const r = await send({ path: c.path, headers, body: initBody() });
        if (c.ok) {
          expect(r.status).toBe(200);
          opened.push(String(r.headers["mcp-session-id"]));
          return;
        }
        expect(r.status).toBe(401);
        expect(r.headers["www-authenticate"]).toBe('Bearer realm="toolgate"');
        expect(rpcError(r).data?.code).toBe("UNAUTHORIZED");
        expect(upstream).toEqual(before);
        // Nothing of the presented value comes back.
        for (const v of Object.values(c.headers)) {
          if (typeof v === "string" && v.length > 8) expect(r.text).not.toContain(v);
        }
      }),
      { numRuns: 200 },
    );
    for (const id of opened) {
      expect(
        (await send({ method: "DELETE", headers: auth({ "mcp-session-id": id }) })).status,
      ).toBe(200);
    }
  });

  it("a session is bound to its credential: no key or another key cannot use it", async () => {
    const before = { ...upstream };
    const noKey = await send({
      headers: { ...JSON_RPC_HEADERS, "mcp-session-id": sid },
      body: ping(1),
    });
    expect(noKey.status).toBe(401);
    const wrong = await send({
      headers: {
        ...JSON_RPC_HEADERS,
        "mcp-session-id": sid,
        authorization: "Bearer not-the-key-0000",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "echo", arguments: { text: "x" } },
      }),
    });
    expect(wrong.status).toBe(401);
    const other = await send({
      headers: { ...JSON_RPC_HEADERS, "mcp-session-id": sid, authorization: `Bearer ${OTHER_KEY}` },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "echo", arguments: { text: "x" } },
      }),
    });
    check(other, { status: 404, rpc: -32001, id: 1 });
    expect(upstream).toEqual(before);
  });
});

// ------------------------------------------------------------------ Host and Origin

const allowedHost = fc.oneof(
  fc.constantFrom("127.0.0.1", "localhost", "LOCALHOST", "LocalHost"),
  fc
    .tuple(
      fc.constantFrom("127.0.0.1", "localhost", "Localhost"),
      fc.integer({ min: 1, max: 65535 }),
    )
    .map(([h, p]) => `${h}:${p}`),
);
const foreignHost = fc.oneof(
  fc.constantFrom(
    "evil.example",
    "evil.example:80",
    "127.0.0.2",
    "[::1]",
    "localhost.evil.example",
    "127.0.0.1.nip.io",
    "user@127.0.0.1",
    "127.0.0.1:80:80",
    "127.0.0.1 evil",
    "127.0.0.1/mcp",
    "localhost,evil.example",
    "0x7f.0.0.1",
  ),
  fc.domain().filter((d) => d !== "localhost"),
  printable.filter((h) => !/^(127\.0\.0\.1|localhost)(:\d{1,5})?$/i.test(h)),
);

describe("Host and Origin checks", () => {
  it("a foreign Host gets 403 before anything else, with or without a key", async () => {
    const before = { ...upstream };
    const sessions = gw.sessions().length;
    await fc.assert(
      fc.asyncProperty(
        foreignHost,
        fc.boolean(),
        fc.boolean(),
        async (host, withKey, inSession) => {
          const headers: OutgoingHttpHeaders = { ...JSON_RPC_HEADERS, host };
          if (withKey) headers.authorization = `Bearer ${KEY}`;
          if (inSession) headers["mcp-session-id"] = sid;
          const r = await send({ headers, body: inSession ? ping(1) : initBody() });
          expect(r.status).toBe(403);
          expect(rpcError(r).data?.code).toBe("HOST_FORBIDDEN");
        },
      ),
      { numRuns: 150 },
    );
    expect(upstream).toEqual(before);
    expect(gw.sessions()).toHaveLength(sessions);
    // The preflight and a request with no Host at all (HTTP/1.0) are refused too.
    const pre = await send({
      method: "OPTIONS",
      headers: { host: "evil.example", origin: "http://localhost" },
    });
    expect(pre.status).toBe(403);
    const noHost = await raw(
      `POST /mcp HTTP/1.0\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${initBody().length}\r\n\r\n${initBody()}`,
    );
    expect(noHost.text).toMatch(/^HTTP\/1\.1 403 /);
    expect(noHost.text).toContain("HOST_FORBIDDEN");
  });

  it("allowed hosts pass the check in any case and on any port (then auth decides)", async () => {
    await fc.assert(
      fc.asyncProperty(allowedHost, async (host) => {
        const anon = await send({ headers: { ...JSON_RPC_HEADERS, host }, body: ping(1) });
        expect(anon.status).toBe(401);
        const ok = await send({ headers: auth({ host, "mcp-session-id": sid }), body: ping(1) });
        check(ok, { status: 200, result: true, id: 1 });
      }),
      { numRuns: 50 },
    );
  });
});

// ------------------------------------------------------------------ sizes

describe("oversized bodies", () => {
  /** A ping padded with spaces to exactly `size` bytes. */
  const padded = (size: number): string => {
    const p = ping("pad");
    return p + " ".repeat(size - p.length);
  };

  it("over maxBodyBytes is 413 whether declared or chunked; at the limit it is served", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ min: MAX_BODY - 40, max: MAX_BODY + 40 }),
          fc.integer({ min: MAX_BODY, max: 4 * MAX_BODY }),
        ),
        fc.boolean(),
        fc.integer({ min: 1, max: 8 }),
        async (size, chunked, pieces) => {
          const body = padded(size);
          const headers = auth({ "mcp-session-id": sid });
          let r: Reply;
          if (chunked) {
            const step = Math.ceil(body.length / pieces);
            const chunks: string[] = [];
            for (let i = 0; i < body.length; i += step) chunks.push(body.slice(i, i + step));
            r = await send({ headers: { ...headers, "transfer-encoding": "chunked" }, chunks });
          } else {
            r = await send({ headers: { ...headers, "content-length": size }, body });
          }
          if (size > MAX_BODY) {
            check(r, { status: 413, rpc: -32600, id: null });
            expect(r.headers.connection).toBe("close");
          } else {
            check(r, { status: 200, result: true, id: "pad" });
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it("a huge declared Content-Length is refused at once, without waiting for the body", async () => {
    const started = Date.now();
    const r = await raw(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: ${sid}\r\nContent-Length: 1000000000000\r\n\r\n{"jsonrpc"`,
      { waitMs: 2000 },
    );
    expect(r.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(r.text).toContain("BODY_TOO_LARGE");
    // Answered well before the raw helper's own 2 s limit: nobody waited for a terabyte.
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

// ------------------------------------------------------------------ slow clients

describe("slow clients (server timeouts as the README recommends)", () => {
  let slow: Server;
  let slowPort = 0;
  beforeAll(async () => {
    // Short limits for the test; the README's advice is 10 s for headers, 30 s in all.
    slow = createServer(
      { headersTimeout: 400, requestTimeout: 800, connectionsCheckingInterval: 50 },
      gw.listener,
    );
    slowPort = await listen(slow);
  });
  afterAll(async () => {
    if (slow) await shut(slow);
  });

  /** Sends `text` one byte every `everyMs` until the server closes the socket. */
  function dribble(
    text: string,
    everyMs: number,
  ): Promise<{ reply: string; ms: number; sent: number }> {
    return new Promise((resolve) => {
      const started = Date.now();
      const sock = netConnect(slowPort, "127.0.0.1");
      let reply = "";
      let i = 0;
      const timer = setInterval(() => {
        if (i < text.length) sock.write(text[i++] ?? "");
      }, everyMs);
      sock.on("data", (d) => {
        reply += d.toString("latin1");
      });
      sock.on("error", () => {});
      sock.on("close", () => {
        clearInterval(timer);
        resolve({ reply, ms: Date.now() - started, sent: i });
      });
      // Bounded even if the server never gives up: the assertion below then fails.
      setTimeout(() => sock.destroy(), 5000).unref();
    });
  }

  it("headers sent byte by byte are cut off (408) while other clients are served", async () => {
    const request = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: ${sid}\r\nContent-Length: 40\r\n\r\n`;
    const loris = dribble(request, 20);
    // Meanwhile an ordinary client on the same server is answered.
    for (let i = 0; i < 5; i++) {
      const r = await send({
        port: slowPort,
        headers: auth({ "mcp-session-id": sid }),
        body: ping(i),
      });
      check(r, { status: 200, result: true, id: i });
    }
    const { reply, ms, sent } = await loris;
    expect(sent).toBeLessThan(request.length);
    expect(reply === "" || reply.startsWith("HTTP/1.1 408")).toBe(true);
    expect(ms).toBeLessThan(4000);
  });

  it("a body that never completes is cut off; nothing stays in flight, nothing is logged", async () => {
    const sock = netConnect(slowPort, "127.0.0.1");
    const closed = new Promise<string>((resolve) => {
      let reply = "";
      sock.on("data", (d) => {
        reply += d.toString("latin1");
      });
      sock.on("error", () => {});
      sock.on("close", () => resolve(reply));
    });
    const started = Date.now();
    sock.write(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: ${sid}\r\nContent-Length: 100\r\n\r\n{"jsonrpc":"2.0",`,
    );
    const safety = setTimeout(() => sock.destroy(), 5000);
    const reply = await closed;
    clearTimeout(safety);
    expect(reply === "" || reply.startsWith("HTTP/1.1 408")).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(gw.inFlight()).toBe(0);
    const r = await send({
      port: slowPort,
      headers: auth({ "mcp-session-id": sid }),
      body: ping("after"),
    });
    check(r, { status: 200, result: true, id: "after" });
  });
});
