/**
 * The zod schema of the middleware's options and their validation at creation time (kept
 * apart from the option types so each file stays one job).
 */

import type { Tracer } from "@opentelemetry/api";
import type { Logger } from "@toolgate/policy-engine";
import { schedulerSchema } from "@toolgate/policy-engine";
import { z } from "zod";
import type { OAuthOptions } from "./auth/oauth.js";
import type { AuthThrottle, AuthThrottleOptions } from "./auth-throttle.js";
import type { CounterStore } from "./engine.js";
import { ToolgateMcpError } from "./errors.js";
import { isOrigin, normalizeHost, ORIGIN_FIX } from "./http.js";
import type { PolicySource, ToolgateMcpOptions, UpstreamConfig } from "./options.js";
import type { PinStore } from "./pins.js";
import { type ResolvedUpstreamConfig, upstreamConfigSchema } from "./transports/registry.js";

/** A function option of type `F`, checked as "is a function" (zod cannot check signatures). */
const fn = <F extends (...args: never[]) => unknown>() =>
  z.custom<F>((v) => typeof v === "function", { message: "must be a function" });
/** An object option of type `T`, checked as "is an object". */
const obj = <T extends object>(message?: string) =>
  z.custom<T>((v) => typeof v === "object" && v !== null, message ? { message } : undefined);
type Opts = ToolgateMcpOptions;

/**
 * The schema of {@link ToolgateMcpOptions}. Typed field by field: `OptionsMatchSchema`
 * below fails to compile when the interface and this schema disagree on any field.
 */
const toolgateMcpOptionsSchema = z.object({
  // The preprocess step (old configs without `kind`) hides the input type from zod.
  upstreams: z
    .array(upstreamConfigSchema as z.ZodType<ResolvedUpstreamConfig, UpstreamConfig>)
    .min(1, "configure at least one upstream")
    .refine(
      (u) => new Set(u.map((x) => x.name)).size === u.length,
      "upstream names must be unique",
    ),
  separator: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,8}$/, "use 1-8 chars of [A-Za-z0-9_.-] (tool-name charset)")
    .optional(),
  namespace: z.enum(["auto", "always", "never"]).optional(),
  apiKeys: z
    .union([z.record(z.string(), z.string()), fn<(key: string) => string | undefined>()])
    .optional(),
  identify: fn<NonNullable<Opts["identify"]>>().optional(),
  // Checked in full by createOAuthVerifier (its own schema names the oauth.* paths).
  oauth: obj<OAuthOptions>("pass { issuer, resource, ... } (see OAuthOptions)").optional(),
  tracer: z
    .custom<Tracer>(
      (v) =>
        typeof v === "object" &&
        v !== null &&
        typeof (v as { startSpan?: unknown }).startSpan === "function",
      { message: "pass an OpenTelemetry Tracer (trace.getTracer(name))" },
    )
    .optional(),
  policy: z.custom<PolicySource>(
    (v) => typeof v === "function" || (typeof v === "object" && v !== null),
    { message: "pass a PolicyHolder, a CompiledPolicy or (grant) => policy" },
  ),
  store: obj<CounterStore>().optional(),
  stateSecret: z
    .string()
    .refine((v) => Buffer.byteLength(v) >= 32, {
      message: "use at least 32 bytes, e.g. the output of `openssl rand -hex 32`",
    })
    .optional(),
  stateTtlMs: z.number().int().positive("give the state lifetime in ms, e.g. 600000").optional(),
  heldSessionIdleMs: z.number().int().positive("give the idle time in ms, e.g. 300000").optional(),
  maxHeldSessions: z.number().int().positive("allow at least one held session").optional(),
  approve: fn<NonNullable<Opts["approve"]>>().optional(),
  approvalTimeoutMs: z.number().int().positive().optional(),
  taskApprovalTimeoutMs: z.number().int().positive().optional(),
  approvalProgressMs: z.number().int().positive().optional(),
  onDecision: fn<NonNullable<Opts["onDecision"]>>().optional(),
  validateArguments: z.boolean().optional(),
  allowedOrigins: z.array(z.string().refine(isOrigin, { message: ORIGIN_FIX })).optional(),
  allowedHosts: z
    .array(
      z
        .string()
        .refine(
          (h) => normalizeHost(h) !== undefined,
          'use a host name or address, optionally with a port: "localhost", "127.0.0.1:8080", "[::1]"',
        ),
    )
    // An empty list would refuse every request: almost certainly meant as "no check".
    .min(1, "list at least one host, or leave allowedHosts unset for no Host check")
    .optional(),
  maxBodyBytes: z.number().int().positive().optional(),
  callTimeoutMs: z.number().int().positive("give the call timeout in ms, e.g. 60000").optional(),
  toolTimeoutMs: fn<NonNullable<Opts["toolTimeoutMs"]>>().optional(),
  maxSessionsPerGrant: z.number().int().positive("allow at least one session per grant").optional(),
  authThrottle: z.union([z.literal(false), obj<AuthThrottleOptions | AuthThrottle>()]).optional(),
  onRefused: fn<NonNullable<Opts["onRefused"]>>().optional(),
  pinStore: z
    .custom<PinStore>(
      (v) =>
        typeof v === "object" &&
        v !== null &&
        typeof (v as { firstSeen?: unknown }).firstSeen === "function",
      { message: "pass an object with firstSeen(upstream, tool, digest) (see PinStore)" },
    )
    .optional(),
  onPinEvent: fn<NonNullable<Opts["onPinEvent"]>>().optional(),
  onResourceResult: fn<NonNullable<Opts["onResourceResult"]>>().optional(),
  pinCheckGrants: z.array(z.string().min(1, "give each grant's name")).readonly().optional(),
  sseRetryMs: z.number().int().positive().optional(),
  listPageSize: z.number().int().positive("give the page size as a whole number").optional(),
  responseMode: z.enum(["auto", "sse", "json"]).optional(),
  sessionIdleMs: z.number().int().positive().optional(),
  now: fn<() => number>().optional(),
  newId: fn<() => string>().optional(),
  scheduler: schedulerSchema.optional(),
  logger: obj<Logger>().optional(),
});

/** True when `A` and `B` are the same type (not merely assignable one way). */
type Same<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/**
 * The interface keeps the field docs (declaration files drop JSDoc written inside a zod
 * object, so a schema-derived type would reach users undocumented); this line keeps the
 * two from drifting: it does not compile unless the schema's input type is exactly the
 * interface.
 */
const optionsMatchSchema: Same<z.input<typeof toolgateMcpOptionsSchema>, ToolgateMcpOptions> = true;
void optionsMatchSchema;

/**
 * Validates options at creation time so a bad config fails at start-up; the error names
 * each bad path and how to fix it.
 */
export function validateOptions(options: ToolgateMcpOptions): void {
  const r = toolgateMcpOptionsSchema.safeParse(options);
  if (r.success) {
    if (!options.apiKeys && !options.identify && !options.oauth) {
      throw new ToolgateMcpError(
        "OPTIONS_INVALID",
        "toolgate-mcp options: set apiKeys (key -> grant), oauth ({ issuer, resource }) or identify(req)",
      );
    }
    if (options.identify && options.oauth) {
      throw new ToolgateMcpError(
        "OPTIONS_INVALID",
        "toolgate-mcp options: identify replaces the built-in credentials; drop oauth, or drop identify and use oauth with apiKeys",
      );
    }
    return;
  }
  const lines = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
  throw new ToolgateMcpError("OPTIONS_INVALID", `toolgate-mcp options: ${lines.join("; ")}`, {
    issues: lines,
  });
}
