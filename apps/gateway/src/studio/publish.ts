import { basename } from "node:path";
import type { PolicyPublishedEntry } from "../audit.js";
import { GatewayError } from "../errors.js";
import { type Prepared, prepare } from "./drafts.js";
import type { ResolvedGrant, StudioContext } from "./model.js";
import { contentHash, type PolicyFormat, writeFileAtomic } from "./policy-file.js";

// Publishing a draft: one writer per policy file, refusing the built-in default policy
// and a file that changed since the draft was opened.

/** What `publish` is given. */
export interface PublishInput {
  grant: string;
  text: string;
  format: PolicyFormat;
  baseHash: string;
  shadow?: boolean;
  by: string;
  note?: string | undefined;
}

function refuseReadOnly(ctx: StudioContext, g: ResolvedGrant): void {
  if (!ctx.options.readOnlyPolicies?.has(g.policyPath)) return;
  throw new GatewayError(
    "STUDIO_READ_ONLY",
    "this grant uses the built-in default policy, which the studio does not overwrite",
    [
      {
        path: "policy",
        message: "the built-in default policy ships with the gateway",
        fix: "copy it next to your toolgate.config.yaml, set policy: <file> there, and restart",
      },
    ],
  );
}

function conflict(p: Prepared): GatewayError {
  return new GatewayError(
    "STUDIO_CONFLICT",
    `${basename(p.path)} changed since the draft was opened`,
    [
      {
        path: "baseHash",
        message: "the file on disk is not the one the draft started from",
        fix: "reload the live policy, redo the edit, and publish again",
      },
    ],
  );
}

/** Prepares, checks the base hash, writes, reloads through the gateway and audits. */
async function writeAndApply(ctx: StudioContext, g: ResolvedGrant, input: PublishInput) {
  const p = await prepare(g, input.text, input.format, input.shadow === true);
  const oldHash = contentHash(p.oldText);
  if (oldHash !== input.baseHash) throw conflict(p);
  const oldVersion = g.holder.current.version;
  await writeFileAtomic(p.path, p.newText);
  const applied = await ctx.options.reloadPolicy(p.path);
  if (!applied) {
    throw new GatewayError(
      "STUDIO_PUBLISH_FAILED",
      "the file was written but the gateway kept the last good policy; see the log",
    );
  }
  const entry: PolicyPublishedEntry = {
    time: new Date(ctx.now()).toISOString(),
    event: "policy_published",
    by: input.by,
    grant: g.name,
    grants: ctx.sharing(g.policyPath),
    policy: basename(p.path),
    oldHash,
    newHash: contentHash(p.newText),
    oldVersion,
    newVersion: g.holder.current.version,
    shadow: input.shadow === true,
    note: input.note || undefined,
  };
  ctx.options.audit?.write(entry);
  ctx.options.logger?.info(
    { policy: entry.policy, by: entry.by, oldHash, newHash: entry.newHash, shadow: entry.shadow },
    "policy published from the studio",
  );
  return {
    policy: entry.policy,
    grants: entry.grants,
    hash: entry.newHash,
    previousHash: oldHash,
    version: entry.newVersion,
    previousVersion: oldVersion,
    shadow: entry.shadow,
    notShadowed: p.notShadowed,
  };
}

/**
 * The studio's publish operation: writes the draft to the grant's policy file
 * atomically, applies it through the gateway's reload path and records it in the audit
 * log. Refuses an invalid draft, the built-in default policy, and a file that changed
 * since `baseHash` was read.
 */
export function createPublisher(ctx: StudioContext) {
  // One publish per file at a time: the base-hash check and the write must not interleave.
  const locks = new Map<string, Promise<unknown>>();
  return async (input: PublishInput) => {
    const g = ctx.grantOf(input.grant);
    refuseReadOnly(ctx, g);
    const previous = locks.get(g.policyPath) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(() => writeAndApply(ctx, g, input));
    locks.set(g.policyPath, run);
    try {
      return await run;
    } finally {
      if (locks.get(g.policyPath) === run) locks.delete(g.policyPath);
    }
  };
}
