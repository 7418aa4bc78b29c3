import {
  checkHeaderTemplates,
  isOrigin,
  OAUTH_ALGORITHMS,
  ORIGIN_FIX,
} from "@toolgate/mcp-express";
import { StoreConfigSchema } from "@toolgate/rate-limit-store";
import { z } from "zod";
import { ApproversSchema } from "./approvals/approvers-config.js";
import { ApprovalStoreSchema } from "./approvals/backends.js";
import { WebhooksSchema } from "./webhooks/config.js";

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const UpstreamSchema = z.union([
  z
    .strictObject({
      name: z.string().regex(NAME, "use 1-64 characters of A-Z a-z 0-9 _ . -"),
      url: z.url("must be an http(s) URL of a Streamable HTTP MCP endpoint"),
      // Values may name the caller: {{grant}}, {{subject}}; never the client's credential.
      headers: z.record(z.string(), z.string()).optional(),
      // Per grant: headers added to (or replacing) `headers` on that grant's connections.
      grantHeaders: z.record(z.string(), z.record(z.string(), z.string())).optional(),
      /** The MCP revision it speaks: "2025-11-25" (default), "2026-07-28" (stateless) or "auto". */
      protocol: z
        .enum(["2025-11-25", "2026-07-28", "auto"], {
          error: 'use "2025-11-25" (sessions), "2026-07-28" (stateless) or "auto"',
        })
        .optional(),
      timeoutMs: z
        .number()
        .int()
        .min(100, "use at least 100 ms")
        .max(86_400_000, "use at most one day (86400000 ms)")
        .optional(),
    })
    .superRefine((u, ctx) => {
      if (u.headers) checkHeaderTemplates(u.headers, ctx, ["headers"]);
      for (const [grant, h] of Object.entries(u.grantHeaders ?? {})) {
        checkHeaderTemplates(h, ctx, ["grantHeaders", grant]);
      }
    }),
  z.strictObject({
    name: z.string().regex(NAME, "use 1-64 characters of A-Z a-z 0-9 _ . -"),
    command: z.string().min(1, "name the program to start, e.g. npx"),
    args: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).optional(),
    cwd: z.string().optional(),
    timeoutMs: z
      .number()
      .int()
      .min(100, "use at least 100 ms")
      .max(86_400_000, "use at most one day (86400000 ms)")
      .optional(),
  }),
  z.strictObject({
    name: z.string().regex(NAME, "use 1-64 characters of A-Z a-z 0-9 _ . -"),
    builtin: z.literal("binance-us", { error: 'the only built-in upstream is "binance-us"' }),
    timeoutMs: z
      .number()
      .int()
      .min(100, "use at least 100 ms")
      .max(86_400_000, "use at most one day (86400000 ms)")
      .optional(),
  }),
]);

const GrantSchema = z
  .strictObject({
    apiKey: z
      .string()
      .min(16, "use at least 16 characters, or a hash written as sha256:<64 hex>")
      .optional(),
    apiKeyHash: z
      .string()
      .regex(/^sha256:[0-9a-f]{64}$/, "write the hash as sha256:<64 lowercase hex digits>")
      .optional(),
    policy: z.string().min(1, "give the path of a policy file (JSON or YAML)").optional(),
  })
  .refine((g) => g.apiKey !== undefined || g.apiKeyHash !== undefined, {
    message: "a grant needs apiKey or apiKeyHash",
  });

/** http(s) URL; plain http only on a loopback address (keys over http could be swapped). */
function secureUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (
      u.protocol === "https:" ||
      (u.protocol === "http:" && /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i.test(u.hostname))
    );
  } catch {
    return false;
  }
}
const SECURE_URL =
  "use an https URL (plain http only on localhost/127.0.0.1/[::1]): keys fetched over http could be swapped on the way";
const SCOPE = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "a scope is one word of printable ASCII without quotes");

/**
 * `auth.oauth`: the gateway as an OAuth 2.1 resource server (MCP authorization). Access
 * tokens are verified against the issuer's keys; the policy is picked by a claim.
 */
const OAuthSchema = z
  .strictObject({
    issuer: z.string().refine(secureUrl, SECURE_URL),
    jwksUri: z.string().refine(secureUrl, SECURE_URL).optional(),
    /** Canonical URL of /mcp as clients reach it; default http://<listen host>:<port>/mcp. */
    resource: z
      .url("give the absolute URL clients use, e.g. https://gw.example.com/mcp")
      .optional(),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    requiredScopes: z.array(SCOPE).optional(),
    grantClaim: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'name one claim, e.g. "sub" or "client_id"')
      .default("sub"),
    /** Policy for tokens no `policies` entry matches; without it they are refused (403). */
    policy: z.string().min(1, "give the path of a policy file (JSON or YAML)").optional(),
    /** First match wins: a string claim equal to `value`, or a list claim containing it. */
    policies: z
      .array(
        z.strictObject({
          claim: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'name one claim, e.g. "role"'),
          value: z.union([z.string(), z.number(), z.boolean()]),
          policy: z.string().min(1, "give the path of a policy file (JSON or YAML)"),
        }),
      )
      .default([]),
    algorithms: z
      .array(
        z.enum(OAUTH_ALGORITHMS, {
          message: `use asymmetric algorithms only (${OAUTH_ALGORITHMS.join(", ")}); never none or HS*`,
        }),
      )
      .min(1)
      .optional(),
    clockToleranceSec: z.number().int().min(0).max(300, "use at most 300 s").optional(),
    jwksCooldownMs: z.number().int().min(0).optional(),
    jwksMaxAgeMs: z.number().int().min(1000, "use at least 1000 ms").optional(),
  })
  .refine((o) => o.policy !== undefined || o.policies.length > 0, {
    message:
      "name the policy tokens get: policy (for every token) and/or policies (by claim), else every token is refused",
    path: ["policy"],
  });

// The store line is parsed by the store package itself, so the gateway accepts exactly
// what createCounterStore accepts ("memory", "redis://host:6379/0?fail=open", or objects).
const StoreSchema = StoreConfigSchema;

/**
 * The gateway config file schema (`toolgate.config.yaml`). Every field is optional: what
 * is missing falls back to the embedded demo defaults (see `README.md`).
 */
export const GatewayConfigSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).default("127.0.0.1"),
      port: z.number().int().min(0).max(65535).default(8080),
    })
    .default({ host: "127.0.0.1", port: 8080 }),
  upstreams: z.array(UpstreamSchema).default([{ name: "binance-us", builtin: "binance-us" }]),
  grants: z
    .record(z.string().regex(NAME, "grant names use A-Z a-z 0-9 _ . -"), GrantSchema)
    .optional(),
  /** Policy used by grants that name none. */
  policy: z.string().min(1).optional(),
  /** Credentials besides API keys (`grants`). */
  auth: z.strictObject({ oauth: OAuthSchema.optional() }).optional(),
  store: StoreSchema.default({ type: "memory" }),
  approvals: z
    .strictObject({
      // Below the MCP SDK client's 60 s default request timeout, so a client that sets
      // nothing hears the gateway's own "approval timed out" denial, not a bare timeout.
      timeoutMs: z.number().int().min(1000, "use at least 1000 ms").default(55_000),
      // Progress keeps clients that use `resetTimeoutOnProgress` waiting past their timeout.
      progressMs: z.number().int().min(50, "use at least 50 ms").default(5_000),
      // Tells an elicitation-capable caller that its call is held and lets it withdraw it.
      elicitation: z.boolean().default(true),
      // The caller is the party being controlled: it may approve its own held call only in
      // a trusted single-user setup that opts in, and never while its grant is shared.
      callerMayApprove: z.boolean().default(false),
      // Argument paths masked on the approvals page for every tool (policies add per tool).
      secretArguments: z
        .array(
          z
            .string()
            .regex(
              /^args(\.[^.]+)+$/,
              'write an argument path like "args.apiSecret" or "args.*.key"',
            ),
        )
        .default([]),
      adminToken: z.string().min(16, "use at least 16 characters").optional(),
      // Where pending approvals live ("memory", "redis://..."); unset: the counter
      // store's backend. Chosen by URL scheme through the approvals backend registry.
      store: ApprovalStoreSchema.optional(),
      // Named approvers; without any, the admin token decides as "admin" (one approver).
      approvers: ApproversSchema.default({}),
      // wait: the held call waits (up to timeoutMs); retry: it is answered at once and
      // the client calls again after approval. A policy's approval rule may override it.
      mode: z.enum(["wait", "retry"]).default("wait"),
      // How long a retry-mode approval may wait and then be consumed (rule `expires` overrides).
      retryExpiresMs: z
        .number()
        .int()
        .min(1000, "use at least 1000 ms")
        .max(7 * 86_400_000, "use at most 7 days")
        .default(3_600_000),
      // Offer MCP tasks for tools/call: a held call the client runs as a task waits as
      // long as its approval may (rule `expires`, else retryExpiresMs), not timeoutMs.
      tasks: z.boolean().default(true),
      // Lifetime of an approver's sign-in on the approvals page.
      sessionTtlMs: z
        .number()
        .int()
        .min(60_000, "use at least one minute")
        .max(86_400_000, "use at most one day")
        .default(8 * 3_600_000),
    })
    .default({
      timeoutMs: 55_000,
      progressMs: 5_000,
      elicitation: true,
      callerMayApprove: false,
      secretArguments: [],
      approvers: {},
      mode: "wait",
      retryExpiresMs: 3_600_000,
      tasks: true,
      sessionTtlMs: 8 * 3_600_000,
    }),
  /** Webhooks told about approval events (requested, decided, expired); see webhooks/. */
  webhooks: WebhooksSchema,
  /**
   * Open MCP sessions one grant may have; one more closes the grant's least recently used
   * idle session, or is refused (429) when all are busy.
   */
  maxSessionsPerGrant: z.number().int().min(1, "allow at least one session").default(100),
  /**
   * Failed-authentication throttle per client address, shared by `/mcp` and the admin
   * API: `freeFailures` wrong credentials pass as plain 401s, then each further one
   * blocks the address for `baseMs`, doubling up to `maxMs` (429 with Retry-After).
   */
  authThrottle: z
    .strictObject({
      freeFailures: z.number().int().min(0).default(10),
      baseMs: z.number().int().min(1, "use at least 1 ms").default(1000),
      maxMs: z.number().int().min(1, "use at least 1 ms").default(60_000),
    })
    .default({ freeFailures: 10, baseMs: 1000, maxMs: 60_000 }),
  allowedOrigins: z.array(z.string().refine(isOrigin, { message: ORIGIN_FIX })).optional(),
  /**
   * Key that signs the `requestState` handed to MCP 2026-07-28 clients (at least 32
   * bytes). Give every instance behind one balancer the same one; unset: a random key
   * per process (a retry must then come back to the same instance).
   */
  stateSecret: z
    .string()
    .refine((v) => Buffer.byteLength(v) >= 32, {
      message: "use at least 32 bytes, e.g. the output of `openssl rand -hex 32` from an env var",
    })
    .optional(),
  /**
   * More `Host` values `/mcp` answers to (DNS-rebinding protection); see
   * {@link mcpAllowedHosts} for how they combine with the listen address.
   */
  allowedHosts: z
    .array(
      z
        .string()
        .regex(
          /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:\d{1,5})?$|^[0-9A-Fa-f]*:[0-9A-Fa-f:]*$/,
          'use a host name or address, optionally with a port: "gw.example.com", "10.0.0.5:8080", "[::1]"',
        ),
    )
    .optional(),
  /**
   * How long a client may take to send its request, so slow or stalled clients (slowloris)
   * cannot hold connections open: the headers, the whole request (headers and body; a
   * response, e.g. a held call or an SSE stream, may take longer), and an idle keep-alive
   * connection. Node answers 408 and closes the connection when one is exceeded.
   */
  httpTimeouts: z
    .strictObject({
      headersMs: z.number().int().min(100, "use at least 100 ms").default(10_000),
      requestMs: z.number().int().min(100, "use at least 100 ms").default(30_000),
      keepAliveMs: z.number().int().min(100, "use at least 100 ms").default(5_000),
    })
    .refine((t) => t.headersMs <= t.requestMs, {
      message: "headersMs must not exceed requestMs (the request includes its headers)",
      path: ["headersMs"],
    })
    .default({ headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000 }),
  audit: z
    .strictObject({
      path: z.string().min(1).default(".toolgate/audit.jsonl"),
      maxBytes: z
        .number()
        .int()
        .min(1024, "use at least 1024 bytes")
        .default(10 * 1024 * 1024),
      keep: z.number().int().min(1).max(100).default(5),
      enabled: z.boolean().default(true),
      // "turn": per-call records written once per event-loop turn (see AuditLog).
      flush: z.enum(["call", "turn"]).default("call"),
    })
    .default({
      path: ".toolgate/audit.jsonl",
      maxBytes: 10 * 1024 * 1024,
      keep: 5,
      enabled: true,
      flush: "call",
    }),
  shutdownGraceMs: z.number().int().min(0).default(10_000),
  /** How long to wait after a file change before reloading, so editors' partial writes settle. */
  watchDebounceMs: z.number().int().min(0).default(150),
});

/** The config file as written (after `${ENV}` substitution), before defaults are resolved. */
export type GatewayConfigInput = z.input<typeof GatewayConfigSchema>;
/** A parsed config with defaults applied. */
export type GatewayConfig = z.output<typeof GatewayConfigSchema>;
/** One configured upstream. */
export type UpstreamEntry = z.output<typeof UpstreamSchema>;
