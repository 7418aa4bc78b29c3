/**
 * Named approvers (`approvals.approvers`): the people who decide held calls, each with
 * their own credential, the grants, tools and policies they may decide, their roles, and
 * the grants they act as (whose calls they may never approve).
 */
import { z } from "zod";
import { GatewayError, type GatewayIssue } from "../errors.js";
import { sha256Hex } from "../mask.js";

const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const GLOB = /^[A-Za-z0-9_.:*?-]{1,128}$/;

/** One approver as written in the config. */
export const ApproverSchema = z
  .strictObject({
    /** Bearer token for the admin API and the sign-in form; at least 16 characters. */
    token: z.string().min(16, "use at least 16 characters, or tokenHash: sha256:<hex>").optional(),
    tokenHash: z
      .string()
      .regex(/^sha256:[0-9a-f]{64}$/, "write the hash as sha256:<64 lowercase hex digits>")
      .optional(),
    /** A verified OAuth access token (`auth.oauth`) whose `sub` is this identifies them too. */
    oauthSubject: z.string().min(1).max(256).optional(),
    /** Roles a policy's `approval.from` may name, e.g. `risk`. */
    roles: z
      .array(z.string().regex(NAME, 'name roles with A-Z a-z 0-9 _ . : -, e.g. "risk"'))
      .default([]),
    /** Grants whose held calls they may decide (names or globs). Default all. */
    grants: z.array(z.string().regex(GLOB, 'a grant name or glob, e.g. "desk-*"')).default(["*"]),
    /** Tools they may decide (names or globs). Default all. */
    tools: z.array(z.string().regex(GLOB, 'a tool name or glob, e.g. "transfer_*"')).default(["*"]),
    /** Policy files (as grants name them) whose calls they may decide. Default all. */
    policies: z.array(z.string().min(1)).optional(),
    /** Grants this person acts as: they can never approve those grants' calls. */
    actsAs: z.array(z.string().regex(NAME, "a grant name")).default([]),
  })
  .refine(
    (a) => a.token !== undefined || a.tokenHash !== undefined || a.oauthSubject !== undefined,
    { message: "an approver needs token, tokenHash or oauthSubject" },
  );

/** `approvals.approvers`: approver name → approver. */
export const ApproversSchema = z.record(
  z.string().regex(NAME, "approver names use A-Z a-z 0-9 _ . : -"),
  ApproverSchema,
);

/** An approver as the gateway uses it: hashed credential, compiled scopes. */
export interface ResolvedApprover {
  readonly name: string;
  /** Hex sha256 of the token (only the hash stays in memory). */
  readonly tokenHash?: string | undefined;
  readonly oauthSubject?: string | undefined;
  readonly roles: readonly string[];
  readonly grants: readonly RegExp[];
  readonly tools: readonly RegExp[];
  /** Absolute policy paths, or undefined for all. */
  readonly policies?: ReadonlySet<string> | undefined;
  /** Grants whose calls this approver may never approve (configured and same-key ones). */
  readonly actsAs: ReadonlySet<string>;
}

const glob = (g: string) =>
  new RegExp(
    `^${g
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );

/** What resolving approvers needs to know about the rest of the config. */
export interface ApproverContext {
  /** Grants by name with their key hash. */
  readonly grants: readonly { readonly name: string; readonly keyHash: string }[];
  readonly oauthConfigured: boolean;
  readonly callerMayApprove: boolean;
  readonly abs: (path: string) => string;
}

function hashOf(a: z.infer<typeof ApproverSchema>): string | undefined {
  if (a.tokenHash !== undefined) return a.tokenHash.slice("sha256:".length);
  if (a.token === undefined) return undefined;
  return a.token.startsWith("sha256:") ? a.token.slice("sha256:".length) : sha256Hex(a.token);
}

/** Cross-field problems of one approver: unknown grants, OAuth without auth.oauth. */
function approverIssues(
  name: string,
  a: z.infer<typeof ApproverSchema>,
  ctx: ApproverContext,
): GatewayIssue[] {
  const at = `approvals.approvers.${name}`;
  const issues: GatewayIssue[] = [];
  const known = new Set(ctx.grants.map((g) => g.name));
  a.actsAs.forEach((g, i) => {
    if (!known.has(g))
      issues.push({
        path: `${at}.actsAs.${i}`,
        message: `no grant named "${g}"`,
        fix: `name one of the configured grants: ${[...known].join(", ") || "(none)"}`,
      });
  });
  if (a.oauthSubject !== undefined && !ctx.oauthConfigured)
    issues.push({
      path: `${at}.oauthSubject`,
      message: "OAuth approvers need the gateway's OAuth settings",
      fix: "configure auth.oauth, or identify this approver by token",
    });
  return issues;
}

/**
 * Resolves `approvals.approvers`, refusing what would let someone approve their own
 * calls or be mistaken for someone else: an approver token that is a grant's API key,
 * two approvers sharing a token, and `callerMayApprove` next to named approvers.
 *
 * @throws GatewayError `CONFIG_INVALID` listing every problem by path.
 */
export function resolveApprovers(
  approvers: Record<string, z.infer<typeof ApproverSchema>>,
  ctx: ApproverContext,
): ResolvedApprover[] {
  const issues: GatewayIssue[] = [];
  const out: ResolvedApprover[] = [];
  const byHash = new Map<string, string>();
  const entries = Object.entries(approvers);
  if (entries.length > 0 && ctx.callerMayApprove)
    issues.push({
      path: "approvals.callerMayApprove",
      message: "a caller approving its own call cannot be combined with named approvers",
      fix: "remove callerMayApprove (named approvers decide), or remove approvals.approvers",
    });
  for (const [name, a] of entries) {
    const at = `approvals.approvers.${name}`;
    issues.push(...approverIssues(name, a, ctx));
    const tokenHash = hashOf(a);
    if (tokenHash !== undefined) {
      const grant = ctx.grants.find((g) => g.keyHash === tokenHash);
      if (grant !== undefined)
        issues.push({
          path: `${at}.token`,
          message: `is the API key of grant ${grant.name}: an approver may not use a calling credential`,
          fix: "give the approver a token of its own",
        });
      const other = byHash.get(tokenHash);
      if (other !== undefined)
        issues.push({
          path: `${at}.token`,
          message: `is the same token as approver ${other}`,
          fix: "give every approver a token of its own, so each decision names one person",
        });
      byHash.set(tokenHash, name);
    }
    out.push({
      name,
      tokenHash,
      oauthSubject: a.oauthSubject,
      roles: a.roles,
      grants: a.grants.map(glob),
      tools: a.tools.map(glob),
      policies: a.policies && new Set(a.policies.map(ctx.abs)),
      actsAs: new Set(a.actsAs),
    });
  }
  if (issues.length > 0)
    throw new GatewayError("CONFIG_INVALID", `invalid config: ${issues.length} problem(s)`, issues);
  return out;
}
