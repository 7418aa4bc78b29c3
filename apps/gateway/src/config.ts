import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { upstreamKind } from "@toolgate/mcp-express";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { type ResolvedApprover, resolveApprovers } from "./approvals/approvers-config.js";
import { type GatewayConfig, GatewayConfigSchema } from "./config-schema.js";
import { GatewayError, type GatewayIssue } from "./errors.js";
import { sha256Hex } from "./mask.js";

export type { GatewayConfig, GatewayConfigInput, UpstreamEntry } from "./config-schema.js";
export { GatewayConfigSchema } from "./config-schema.js";

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

/** The fix under every `webhooks` problem: the whole shape of one entry. */
const WEBHOOK_FIX = `write each webhook as { name: ops, url: https://..., kind: generic | slack, secret: "\${WEBHOOK_SECRET}" (generic: 32+ characters), events: [approval.requested, approval.decided, approval.expired] }`;

/** Fixes shown next to schema problems, by the last path segment. */
const FIXES: Record<string, string> = {
  port: "use a number from 0 to 65535 (0 picks a free port)",
  mode: 'use "wait" (the call waits for the decision) or "retry" (answered at once, called again)',
  tokenHash: "write sha256: and the 64 lowercase hex digits of sha256(token)",
  approvers:
    "map approver names (A-Z a-z 0-9 _ . : -) to { token | tokenHash | oauthSubject, roles, grants, tools, actsAs }",
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

// An upstream of no kind (mcp-express's, by marker field, or the app's `builtin`) matches
// no union branch; without this the closest branch would say "must be an http(s) URL",
// which hides the other forms.
function kindless(u: unknown): boolean {
  return u !== null && typeof u === "object" && upstreamKind(u) === undefined && !("builtin" in u);
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
      // An approver's own problem sits at its name: the fix is how an approver is written.
      const approver = issue.path[1] === "approvers" && issue.path.length === 3;
      const last = approver ? "approvers" : issue.path.filter((p) => typeof p === "string").at(-1);
      let message = issue.message;
      if (issue.code === "unrecognized_keys") {
        message = `unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
      }
      const fix =
        issue.code === "unrecognized_keys"
          ? "remove it or check the spelling against toolgate.config.example.yaml"
          : (FIXES[String(last)] ?? (issue.path[0] === "webhooks" ? WEBHOOK_FIX : undefined));
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
  /** Named approvers (`approvals.approvers`); empty: the admin token decides as "admin". */
  readonly approvers: readonly ResolvedApprover[];
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
  if (options.file !== undefined) file = resolve(cwd, options.file);
  else if (existsSync(resolve(cwd, "toolgate.config.yaml")))
    file = resolve(cwd, "toolgate.config.yaml");
  const raw = file === undefined ? {} : readConfigFile(file);
  const config = parseConfig(raw, env, file);
  const baseDir = file ? dirname(file) : cwd;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  if (config.audit.path && !isAbsolute(config.audit.path)) {
    config.audit.path = resolve(baseDir, config.audit.path);
  }
  const grants = resolveGrants(config, env, abs, generate);
  const tokenFromEnv = env.TOOLGATE_ADMIN_TOKEN;
  const adminToken = config.approvals.adminToken ?? (tokenFromEnv || generate());
  return {
    config,
    grants,
    oauth: resolveOAuth(config, abs),
    file,
    adminToken,
    approvers: resolveApprovers(config.approvals.approvers, {
      grants,
      oauthConfigured: config.auth?.oauth !== undefined,
      callerMayApprove: config.approvals.callerMayApprove,
      abs,
    }),
    adminTokenGenerated: !config.approvals.adminToken && !tokenFromEnv,
  };
}

/** The YAML of the config file as plain data; unreadable or invalid YAML is refused. */
function readConfigFile(file: string): unknown {
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
    return doc.toJS({ maxAliasCount: 100 }) ?? {};
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

/** `${ENV}` substitution, the schema, and the `PORT`/`HOST` overrides; every problem at once. */
function parseConfig(
  raw: unknown,
  env: Record<string, string | undefined>,
  file: string | undefined,
): GatewayConfig {
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
  return config;
}

/**
 * The grants with key hashes and absolute policy paths (the demo grant when none is
 * configured). Two grants sharing a key are refused: a key must name one grant.
 */
function resolveGrants(
  config: GatewayConfig,
  env: Record<string, string | undefined>,
  abs: (p: string) => string,
  generate: () => string,
): ResolvedGrant[] {
  const defaultPolicy = config.policy ? abs(config.policy) : DEFAULT_POLICY_PATH;
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
  const issues: GatewayIssue[] = [];
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
  issues.push(...grantHeaderIssues(config, new Set(grants.map((g) => g.name))));
  if (issues.length > 0) {
    throw new GatewayError("CONFIG_INVALID", `invalid config: ${issues.length} problem(s)`, issues);
  }
  return grants;
}

/**
 * `grantHeaders` must name configured grants: a misspelt grant would silently send its
 * connections without the headers meant for it. (With OAuth, grants named by a claim
 * are not known in advance, so only API-key grants are checked then.)
 */
function grantHeaderIssues(config: GatewayConfig, known: ReadonlySet<string>): GatewayIssue[] {
  if (config.auth?.oauth !== undefined) return [];
  return config.upstreams.flatMap((u, i) =>
    "grantHeaders" in u
      ? Object.keys(u.grantHeaders ?? {})
          .filter((g) => !known.has(g))
          .map((g) => ({
            path: `upstreams[${i}].grantHeaders.${g}`,
            message: `names no grant`,
            fix: `use one of ${[...known].join(", ")}`,
          }))
      : [],
  );
}

/** `auth.oauth` with its policy paths made absolute. */
function resolveOAuth(
  config: GatewayConfig,
  abs: (p: string) => string,
): ResolvedOAuth | undefined {
  const o = config.auth?.oauth;
  return (
    o && {
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
    }
  );
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
