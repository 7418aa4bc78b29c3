import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { PolicyError, PolicyHolder } from "@toolgate/policy-engine";
import type { LoadedConfig } from "./config.js";
import { GatewayError, type GatewayIssue } from "./errors.js";
import type { Logger } from "./logger.js";

/**
 * Loads every policy file the config names (grants, the OAuth fallback and the
 * policies chosen by claim): one holder per file, shared by all that name it. Every
 * problem of every file is reported at once, by config path and policy path.
 *
 * @example
 * const policies = await loadPolicies(loadGatewayConfig({}));
 */
export async function loadPolicies(loaded: LoadedConfig): Promise<Map<string, PolicyHolder>> {
  const policies = new Map<string, PolicyHolder>();
  const issues: GatewayIssue[] = [];
  const load = async (path: string, where: string) => {
    if (policies.has(path)) return;
    try {
      policies.set(path, await PolicyHolder.fromFile(path));
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      for (const i of err.issues) {
        issues.push({
          path: `${where} (${path})${i.path ? ` ${i.path}` : ""}`,
          message: i.message,
          fix: i.fix,
        });
      }
    }
  };
  for (const g of loaded.grants) await load(g.policyPath, `grants.${g.name}.policy`);
  if (loaded.oauth?.policyPath) await load(loaded.oauth.policyPath, "auth.oauth.policy");
  for (const [i, p] of (loaded.oauth?.policies ?? []).entries())
    await load(p.policyPath, `auth.oauth.policies[${i}].policy`);
  if (issues.length > 0) {
    throw new GatewayError("CONFIG_INVALID", `invalid policy: ${issues.length} problem(s)`, issues);
  }
  return policies;
}

/**
 * Reloads one policy file now: a valid change applies to the next call, an invalid one
 * is logged and the last good policy stays. Resolves true when the file is in force.
 */
export async function reloadPolicyFile(
  policies: ReadonlyMap<string, PolicyHolder>,
  path: string,
  logger: Logger,
): Promise<boolean> {
  const holder = policies.get(path);
  if (!holder) return false;
  const r = await holder.reloadFile(path);
  if (!r.ok) {
    logger.error(
      { policy: path, issues: r.error.issues },
      `policy change rejected, keeping the last good policy: ${r.error.message}`,
    );
    return false;
  }
  if (r.changed) {
    // No notify here: mcp-express subscribed to this holder when the first session of a
    // grant using it initialized, so the swap itself tells every affected session.
    logger.info({ policy: path, version: r.policy.version.slice(0, 12) }, "policy reloaded");
  }
  return true;
}

/**
 * Watches the folders of the policy files and calls `reload` for a changed file after
 * `debounceMs` of quiet. Folders, not files: editors replace files by rename. Returns
 * the function that stops watching.
 */
export function watchPolicyFiles(
  paths: Iterable<string>,
  options: {
    readonly debounceMs: number;
    readonly reload: (path: string) => unknown;
    readonly logger: Logger;
    /** The audit log's file, when on: named in a hint if it shares a watched folder. */
    readonly auditPath?: string | undefined;
  },
): () => void {
  const { logger } = options;
  const timers = new Map<string, NodeJS.Timeout>();
  const watchers: FSWatcher[] = [];
  const dirs = new Map<string, string[]>();
  for (const path of paths) {
    const d = dirname(path);
    dirs.set(d, [...(dirs.get(d) ?? []), path]);
  }
  const auditDir = options.auditPath === undefined ? undefined : dirname(options.auditPath);
  if (auditDir !== undefined && dirs.has(auditDir)) {
    // Every record written there wakes this watcher: a cost on every call for nothing.
    logger.info(
      { audit: options.auditPath, dir: auditDir },
      "the audit log is in a watched policy folder; a folder of its own (the default .toolgate/) saves a watcher wake-up per call",
    );
  }
  for (const [d, files] of dirs) {
    try {
      const w = watch(d, { persistent: false }, (_ev, name) => {
        for (const f of files) {
          if (name !== null && String(name) !== basename(f)) continue;
          clearTimeout(timers.get(f));
          timers.set(
            f,
            setTimeout(() => void options.reload(f), options.debounceMs),
          );
        }
      });
      w.on("error", (err) => logger.warn({ err: err.message, dir: d }, "policy watcher error"));
      watchers.push(w);
    } catch (err) {
      logger.warn({ err: (err as Error).message, dir: d }, "cannot watch policy folder");
    }
  }
  return () => {
    for (const w of watchers) w.close();
    for (const t of timers.values()) clearTimeout(t);
  };
}
