/**
 * MCP 2026-07-28 request classification and the validation ladder a modern request
 * passes before anything is decided, reserved or forwarded. Pure: it reads the parsed
 * body and a header lookup, and returns either the request's envelope or the refusal
 * (HTTP status + JSON-RPC error) the front answers with.
 */

/** The protocol revisions this gateway serves statelessly (never derived from an SDK). */
export const MODERN_VERSIONS: readonly string[] = ["2026-07-28"];

/** `_meta` keys of the per-request envelope. */
export const META = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  logLevel: "io.modelcontextprotocol/logLevel",
  serverInfo: "io.modelcontextprotocol/serverInfo",
} as const;

/** JSON-RPC codes the 2026 revision defines (the -32020..-32099 block) and reuses. */
export const ModernErrorCode = {
  HEADER_MISMATCH: -32020,
  UNSUPPORTED_PROTOCOL_VERSION: -32022,
  INVALID_PARAMS: -32602,
  METHOD_NOT_FOUND: -32601,
} as const;

/** Methods a modern request may name; everything else (incl. `ping`) is 404/-32601. */
export const MODERN_METHODS: ReadonlySet<string> = new Set([
  "server/discover",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "completion/complete",
]);

/** Methods whose `Mcp-Name` header mirrors a body field, and which field. */
const NAME_FIELD: Readonly<Record<string, "name" | "uri">> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
};

const LOG_LEVELS = new Set([
  "debug",
  "info",
  "notice",
  "warning",
  "error",
  "critical",
  "alert",
  "emergency",
]);

/** A modern request that passed the ladder. */
export interface ModernRequest {
  readonly version: string;
  readonly method: string;
  readonly clientCapabilities: Record<string, unknown>;
  readonly clientInfo?: { name: string; version: string } | undefined;
  readonly logLevel?: string | undefined;
}

/** A refusal: the status and the JSON-RPC error object to answer with. */
export interface ModernRefusal {
  readonly status: 400 | 404;
  readonly error: { code: number; message: string; data?: Record<string, unknown> };
}

/** Reads one request header (case-insensitive name), undefined when absent. */
export type HeaderLookup = (name: string) => string | undefined;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * True when the message claims the modern revision: its `params._meta` carries a
 * protocol-version key (of any type, so a malformed claim still gets the modern error),
 * or the `MCP-Protocol-Version` header names a modern revision. Claim-less messages
 * (`initialize`, session traffic) stay on the 2025 path untouched — the rule the MCP SDK
 * server applies, so dual clients fall back the same way against both.
 */
export function claimsModern(body: unknown, headers: HeaderLookup): boolean {
  if (!isObject(body)) return false;
  const params = body.params;
  if (isObject(params) && isObject(params._meta) && META.protocolVersion in params._meta)
    return true;
  const hv = headers("mcp-protocol-version");
  return hv !== undefined && MODERN_VERSIONS.includes(hv) && body.method !== "initialize";
}

/**
 * Decodes a header value sent with the `=?base64?…?=` sentinel (values that are not
 * plain visible ASCII); other values as they are. Undefined when the sentinel's payload
 * is not valid base64 of UTF-8 (that header then matches nothing).
 */
export function decodeHeaderValue(v: string): string | undefined {
  if (!(v.startsWith("=?base64?") && v.endsWith("?="))) return v;
  const b64 = v.slice(9, -2);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return undefined;
  const text = Buffer.from(b64, "base64").toString("utf8");
  // Invalid UTF-8 decodes to U+FFFD: a value that never round-trips is refused.
  if (Buffer.from(text, "utf8").toString("base64") !== b64) return undefined;
  return text;
}

function mismatch(what: string, header: string | undefined, body: unknown): ModernRefusal {
  return {
    status: 400,
    error: {
      code: ModernErrorCode.HEADER_MISMATCH,
      message: `Bad Request: the request headers and body disagree: ${what}`,
      data: { mismatch: { header: header ?? "(missing)", body: body ?? "(missing)" } },
    },
  };
}

function envelopeProblem(key: string, problem: string): ModernRefusal {
  return {
    status: 400,
    error: {
      code: ModernErrorCode.INVALID_PARAMS,
      message: `Invalid params: _meta["${key}"] ${problem}`,
      data: { envelope: { key, problem } },
    },
  };
}

/**
 * The ladder, in the SDK server's order: version claim (header vs `_meta`, then
 * supported), envelope types, method registry, then the `Mcp-Method`/`Mcp-Name` headers
 * against the body. `body` must already be one JSON-RPC request.
 */
export function checkModern(
  body: { method: string; params?: Record<string, unknown> },
  headers: HeaderLookup,
): ModernRequest | ModernRefusal {
  const meta = body.params?._meta;
  const claimed = isObject(meta) ? meta[META.protocolVersion] : undefined;
  const hv = headers("mcp-protocol-version");
  if (!isObject(meta)) {
    return {
      status: 400,
      error: {
        code: ModernErrorCode.INVALID_PARAMS,
        message: "Invalid params: a 2026-07-28 request needs params._meta with its envelope",
        data: { envelope: { missing: ["_meta"] } },
      },
    };
  }
  if (typeof claimed !== "string") {
    return envelopeProblem(META.protocolVersion, "must be a string");
  }
  if (hv !== claimed) return mismatch("MCP-Protocol-Version", hv, claimed);
  if (!MODERN_VERSIONS.includes(claimed)) {
    return {
      status: 400,
      error: {
        code: ModernErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
        message: `Unsupported protocol version: ${claimed}`,
        data: { supported: [...MODERN_VERSIONS], requested: claimed },
      },
    };
  }
  const caps = meta[META.clientCapabilities];
  const info = meta[META.clientInfo];
  const level = meta[META.logLevel];
  const metaProblem = checkMetaFields(meta);
  if (metaProblem) return metaProblem;
  if (!MODERN_METHODS.has(body.method)) {
    return {
      status: 404,
      error: { code: ModernErrorCode.METHOD_NOT_FOUND, message: "Method not found" },
    };
  }
  const routeProblem = checkRouteHeaders(body, headers);
  if (routeProblem) return routeProblem;
  const out: {
    version: string;
    method: string;
    clientCapabilities: Record<string, unknown>;
    clientInfo?: { name: string; version: string };
    logLevel?: string;
  } = {
    version: claimed,
    method: body.method,
    clientCapabilities: caps as Record<string, unknown>,
  };
  if (isObject(info)) out.clientInfo = info as { name: string; version: string };
  if (typeof level === "string") out.logLevel = level;
  return out;
}

/** The envelope's optional and typed `_meta` fields (capabilities, client info, log level, progress token). */
function checkMetaFields(meta: Record<string, unknown>): ModernRefusal | undefined {
  const caps = meta[META.clientCapabilities];
  if (!isObject(caps)) {
    return envelopeProblem(
      META.clientCapabilities,
      caps === undefined ? "is required" : "must be an object",
    );
  }
  const info = meta[META.clientInfo];
  if (
    info !== undefined &&
    !(isObject(info) && typeof info.name === "string" && typeof info.version === "string")
  ) {
    return envelopeProblem(META.clientInfo, "must be an object with string name and version");
  }
  const level = meta[META.logLevel];
  if (level !== undefined && !(typeof level === "string" && LOG_LEVELS.has(level))) {
    return envelopeProblem(META.logLevel, `must be one of ${[...LOG_LEVELS].join(", ")}`);
  }
  const token = meta.progressToken;
  if (token !== undefined && typeof token !== "string" && typeof token !== "number") {
    return envelopeProblem("progressToken", "must be a string or a number");
  }
  return undefined;
}

/**
 * `Mcp-Method` and `Mcp-Name` against the body: a header router acts on the headers, so
 * any difference is a smuggling attempt, refused.
 */
function checkRouteHeaders(
  body: { method: string; params?: Record<string, unknown> },
  headers: HeaderLookup,
): ModernRefusal | undefined {
  const hm = headers("mcp-method");
  if (hm !== body.method) return mismatch("Mcp-Method", hm, body.method);
  const field = NAME_FIELD[body.method];
  const rawName = headers("mcp-name");
  if (field !== undefined) {
    const want = body.params?.[field];
    const got = rawName === undefined ? undefined : decodeHeaderValue(rawName);
    if (typeof want !== "string" || got !== want) return mismatch("Mcp-Name", rawName, want);
  } else if (rawName !== undefined) {
    // A name header on a method without one is what a header router would act on.
    return mismatch("Mcp-Name", rawName, undefined);
  }
  return undefined;
}

/** True when {@link checkModern} refused. */
export function isRefusal(r: ModernRequest | ModernRefusal): r is ModernRefusal {
  return "error" in r;
}
