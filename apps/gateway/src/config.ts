import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isOrigin, OAUTH_ALGORITHMS, ORIGIN_FIX } from "@toolgate/mcp-express";
import { StoreConfigSchema } from "@toolgate/rate-limit-store";
import { parseDocument } from "yaml";
import { z } from "zod";
import { ApprovalStoreSchema } from "./approvals/backends.js";
import { GatewayError, type GatewayIssue } from "./errors.js";
import { sha256Hex } from "./mask.js";

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const UpstreamSchema = z.union([
  z.strictObject({
    name: z.string().regex(NAME, "use 1-64 characters of A-Z a-z 0-9 _ . -"),
    url: z.url("must be an http(s) URL of a Streamable HTTP MCP endpoint"),
    headers: z.record(z.string(), z.string()).optional(),
    timeoutMs: z
      .number()
      .int()
      .min(100, "use at least 100 ms")
      .max(86_400_000, "use at most one day (86400000 ms)")
      .optional(),
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
    })
    .default({
      timeoutMs: 55_000,
      progressMs: 5_000,
      elicitation: true,
      callerMayApprove: false,
      secretArguments: [],
    }),
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
    })
    .default({ path: ".toolgate/audit.jsonl", maxBytes: 10 * 1024 * 1024, keep: 5, enabled: true }),
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

/** A grant after resolution: how its key is checked and which policy file applies. */
export interface ResolvedGrant {
  readonly name: string;
  /** Hex sha256 of the API key. Plain keys are hashed at load so only hashes stay in memory. */
  readonly keyHash: string;
  /** Absolute policy file path. */
  readonly policyPath: string;
  /** True when the key was generated at start-up (print it once). */
  readonly generatedKey?: string | undefined;
}

/** Where the default policy (the two fixture policies merged) ships. */
export const DEFAULT_POLICY_PATH = fileURLToPath(
  new URL("../policies/default.json", import.meta.url),
);

/** Fixes shown next to schema problems, by the last path segment. */
const FIXES: Record<string, string> = {
  port: "use a number from 0 to 65535 (0 picks a free port)",
  store: 'use "memory" or "redis://host:6379/0"',
  upstreams: "each upstream needs name plus one of url, command or builtin",
  apiKey: `set it directly, as \${ENV_VAR}, or use apiKeyHash: sha256:<hex>`,
  issuer: "the authorization server's issuer URL, exactly as its tokens' iss claim spells it",
  jwksUri: "leave it out to use the jwks_uri of the issuer's metadata",
  grantClaim: 'usually "sub" (one grant per user) or "client_id" (one per client)',
  policies:
    "a list of { claim, value, policy }, e.g. { claim: role, value: trader, policy: policies/trader.yaml }",
  algorithms: "asymmetric algorithms only, e.g. [RS256, ES256]; never none or HS*",
};

type ZodIssue = z.core.$ZodIssue;

function flattenUnion(issue: ZodIssue, prefix: readonly PropertyKey[]): ZodIssue[] {
  const full = { ...issue, path: [...prefix, ...issue.path] } as ZodIssue;
  if (full.code !== "invalid_union" || full.errors.length === 0) return [full];
  // Report the branch that came closest (fewest problems): "does not match any form"
  // alone tells a person nothing about what to change.
  const best = [...full.errors].sort((a, b) => a.length - b.length)[0] ?? [];
  if (best.length === 0) return [full];
  return best.flatMap((i) => flattenUnion(i, full.path));
}

function upstreamList(input: unknown): unknown[] {
  const ups = (input as { upstreams?: unknown } | null)?.upstreams;
  return Array.isArray(ups) ? ups : [];
}

// An upstream with none of url/command/builtin matches no union branch; without this the
// closest branch would say "must be an http(s) URL", which hides the other two forms.
function kindless(u: unknown): boolean {
  return (
    u !== null && typeof u === "object" && !("url" in u) && !("command" in u) && !("builtin" in u)
  );
}

function upstreamKindIssues(input: unknown): GatewayIssue[] {
  return upstreamList(input).flatMap((u, i) =>
    kindless(u)
      ? [
          {
            path: `upstreams[${i}]`,
            message: "an upstream needs one of url, command or builtin",
            fix: 'add url: http://host/mcp, command: npx (with args), or builtin: "binance-us"',
          },
        ]
      : [],
  );
}

function isKindlessUpstream(input: unknown, path: string): boolean {
  const m = /^upstreams\[(\d+)\]\.(url|command|builtin)$/.exec(path);
  return m !== null && kindless(upstreamList(input)[Number(m[1])]);
}

function toIssues(error: z.ZodError): GatewayIssue[] {
  return error.issues
    .flatMap((i) => flattenUnion(i, []))
    .map((issue) => {
      const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`));
      const joined = path.join("").replace(/^\./, "");
      const last = issue.path.filter((p) => typeof p === "string").at(-1);
      let message = issue.message;
      if (issue.code === "unrecognized_keys") {
        message = `unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
      }
      const fix =
        issue.code === "unrecognized_keys"
          ? "remove it or check the spelling against toolgate.config.example.yaml"
          : (FIXES[String(last)] ?? undefined);
      return { path: joined, message, fix };
    });
}

/**
 * Replaces `${NAME}` references in every string of a parsed config by `env[NAME]`
 * (`${NAME:-fallback}` gives a default). Missing variables become issues, not silent
 * empty strings, because an empty API key would lock everyone out or, worse, in.
 */
export function substituteEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  path = "",
  issues: GatewayIssue[] = [],
): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name, fallback) => {
      const v = env[name as string];
      if (v !== undefined && v !== "") return v;
      if (fallback !== undefined) return fallback as string;
      issues.push({
        path: path || "(root)",
        message: `environment variable ${name} is not set`,
        fix: `export ${name}=... or write \${${name}:-default}`,
      });
      return "";
    });
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => substituteEnv(v, env, `${path}[${i}]`, issues));
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = substituteEnv(v, env, path ? `${path}.${k}` : k, issues);
    }
    return out;
  }
  return value;
}

/** `auth.oauth` with policy paths made absolute. */
export interface ResolvedOAuth {
  readonly issuer: string;
  readonly jwksUri?: string | undefined;
  readonly resource?: string | undefined;
  readonly audience?: string | string[] | undefined;
  readonly requiredScopes?: string[] | undefined;
  readonly grantClaim: string;
  /** Absolute path of the fallback policy, if any. */
  readonly policyPath?: string | undefined;
  /** Claim matches in order, with absolute policy paths. */
  readonly policies: ReadonlyArray<{
    readonly claim: string;
    readonly value: string | number | boolean;
    readonly policyPath: string;
  }>;
  readonly algorithms?: string[] | undefined;
  readonly clockToleranceSec?: number | undefined;
  readonly jwksCooldownMs?: number | undefined;
  readonly jwksMaxAgeMs?: number | undefined;
}

/** Result of {@link loadGatewayConfig}: the config and the grants ready to check keys. */
export interface LoadedConfig {
  readonly config: GatewayConfig;
  readonly grants: readonly ResolvedGrant[];
  /** The OAuth resource server settings, when `auth.oauth` is configured. */
  readonly oauth?: ResolvedOAuth | undefined;
  /** The config file used, or undefined when running on embedded defaults. */
  readonly file?: string | undefined;
  readonly adminToken: string;
  /** True when the admin token was generated (print it once). */
  readonly adminTokenGenerated: boolean;
}

/** Options of {@link loadGatewayConfig}; everything is injectable for tests. */
export interface LoadConfigOptions {
  /** Explicit `--config FILE`. Without it `toolgate.config.yaml` in `cwd` is used if present. */
  readonly file?: string | undefined;
  readonly cwd?: string;
  readonly env?: Record<string, string | undefined>;
  /** Generates API keys and admin tokens (default: 32 random bytes, base64url). */
  readonly generateSecret?: () => string;
}

/**
 * Reads, substitutes and validates the config, applying `PORT`/`HOST` overrides and the
 * demo defaults. Throws a {@link GatewayError} `CONFIG_INVALID` listing every problem by
 * path, so a bad config stops start-up with a complete to-do list.
 *
 * @example
 * const { config, grants } = loadGatewayConfig({ file: "toolgate.config.yaml" });
 */
export function loadGatewayConfig(options: LoadConfigOptions): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const generate = options.generateSecret ?? defaultSecret;

  let file: string | undefined;
  let raw: unknown = {};
  if (options.file !== undefined) {
    file = resolve(cwd, options.file);
  } else if (existsSync(resolve(cwd, "toolgate.config.yaml"))) {
    file = resolve(cwd, "toolgate.config.yaml");
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new GatewayError(
        "CONFIG_UNREADABLE",
        `cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
    try {
      // Warnings count as errors: an unknown tag or an ambiguous alias would otherwise
      // turn into a plain string (and a stray process warning) instead of a clear refusal.
      const doc = parseDocument(text, { prettyErrors: true });
      const problem = doc.errors[0] ?? doc.warnings[0];
      if (problem) throw problem;
      raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
    } catch (err) {
      throw new GatewayError("CONFIG_INVALID", `config ${file} is not valid YAML`, [
        {
          path: "(file)",
          message: ((err as Error).message.split("\n")[0] ?? "parse error").replace(/:$/, ""),
          fix: 'quote values that contain ": " or end with ":", e.g. store: "redis://h:6379/0?prefix=app:"',
        },
      ]);
    }
  }
  const issues: GatewayIssue[] = [];
  const substituted = substituteEnv(raw, env, "", issues);
  const parsed = GatewayConfigSchema.safeParse(substituted);
  if (!parsed.success) {
    // A missing ${VAR} is the real problem at its path; the schema's complaint about the
    // empty string left behind would only mislead.
    const envPaths = new Set(issues.map((i) => i.path));
    issues.push(
      ...upstreamKindIssues(substituted),
      ...toIssues(parsed.error).filter(
        (i) => !envPaths.has(i.path) && !isKindlessUpstream(substituted, i.path),
      ),
    );
  }
  if (issues.length > 0 || !parsed.success) {
    throw new GatewayError(
      "CONFIG_INVALID",
      `invalid config${file ? ` ${file}` : ""}: ${issues.length} problem(s)`,
      issues,
    );
  }
  const config = parsed.data;
  if (env.PORT !== undefined && env.PORT !== "") {
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new GatewayError("CONFIG_INVALID", "invalid PORT", [
        { path: "env.PORT", message: `"${env.PORT}" is not a port`, fix: "use 0-65535" },
      ]);
    }
    config.listen.port = port;
  }
  if (env.HOST) config.listen.host = env.HOST;

  const baseDir = file ? dirname(file) : cwd;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const defaultPolicy = config.policy ? abs(config.policy) : DEFAULT_POLICY_PATH;
  if (config.audit.path && !isAbsolute(config.audit.path)) {
    config.audit.path = resolve(baseDir, config.audit.path);
  }

  const grants: ResolvedGrant[] = [];
  if (config.grants === undefined) {
    const given = env.TOOLGATE_API_KEY;
    const key = given && given.length > 0 ? given : generate();
    grants.push({
      name: "demo",
      keyHash: sha256Hex(key),
      policyPath: defaultPolicy,
      generatedKey: given ? undefined : key,
    });
  } else {
    for (const [name, g] of Object.entries(config.grants)) {
      const keyHash = g.apiKeyHash
        ? g.apiKeyHash.slice("sha256:".length)
        : g.apiKey?.startsWith("sha256:")
          ? g.apiKey.slice("sha256:".length)
          : sha256Hex(g.apiKey ?? "");
      grants.push({ name, keyHash, policyPath: g.policy ? abs(g.policy) : defaultPolicy });
    }
  }
  const seen = new Map<string, string>();
  for (const g of grants) {
    const other = seen.get(g.keyHash);
    if (other !== undefined) {
      issues.push({
        path: `grants.${g.name}`,
        message: `uses the same API key as grant ${other}`,
        fix: "give every grant its own key",
      });
    }
    seen.set(g.keyHash, g.name);
  }
  if (issues.length > 0) {
    throw new GatewayError("CONFIG_INVALID", `invalid config: ${issues.length} problem(s)`, issues);
  }

  const o = config.auth?.oauth;
  const oauth: ResolvedOAuth | undefined = o && {
    issuer: o.issuer,
    jwksUri: o.jwksUri,
    resource: o.resource,
    audience: o.audience,
    requiredScopes: o.requiredScopes,
    grantClaim: o.grantClaim,
    policyPath: o.policy ? abs(o.policy) : undefined,
    policies: o.policies.map((p) => ({
      claim: p.claim,
      value: p.value,
      policyPath: abs(p.policy),
    })),
    algorithms: o.algorithms,
    clockToleranceSec: o.clockToleranceSec,
    jwksCooldownMs: o.jwksCooldownMs,
    jwksMaxAgeMs: o.jwksMaxAgeMs,
  };

  const tokenFromEnv = env.TOOLGATE_ADMIN_TOKEN;
  const adminToken = config.approvals.adminToken ?? (tokenFromEnv || generate());
  return {
    config,
    grants,
    oauth,
    file,
    adminToken,
    adminTokenGenerated: !config.approvals.adminToken && !tokenFromEnv,
  };
}

/** Names a loopback listener is reached by. */
const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"];

/**
 * The `Host` header values `/mcp` accepts, or undefined for no Host check. A gateway on a
 * loopback address serves this machine only: it answers to the loopback names, its own
 * address and `allowedHosts`, so a web page that points its own domain at 127.0.0.1 (DNS
 * rebinding) is refused with 403. On any other address the check is on only when
 * `allowedHosts` is set, so a gateway bound to 0.0.0.0 behind a proxy keeps working.
 *
 * @example
 * mcpAllowedHosts("127.0.0.1", undefined) // ["localhost", "127.0.0.1", "[::1]"]
 * mcpAllowedHosts("0.0.0.0", ["gw.example.com"]) // ["gw.example.com"]
 */
export function mcpAllowedHosts(
  listenHost: string,
  allowedHosts: readonly string[] | undefined,
): string[] | undefined {
  const host = listenHost.toLowerCase();
  const loopback = host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
  // An empty list adds nothing: on a non-loopback address it means no check, not "refuse all".
  if (!loopback) return allowedHosts?.length ? [...allowedHosts] : undefined;
  const own = host.includes(":") ? `[${host}]` : host;
  return [...new Set([...LOOPBACK_HOSTS, own, ...(allowedHosts ?? [])])];
}

function defaultSecret(): string {
  return `tg_${randomBytes(24).toString("base64url")}`;
}
