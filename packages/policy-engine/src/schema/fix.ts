import type { z } from "zod";
import { CONDITION_OPS } from "./vocabulary.js";

/** How to write each field correctly; every message about the field ends with its fix. */
export const FIX = {
  version: 'set "version": "1" (the only language version this engine reads)',
  default: 'use "allow" or "deny" (omitted means "deny")',
  action: 'use "allow", "deny" or "require_approval" (omitted means "allow")',
  mode: 'use "enforce" or "shadow" (omitted means "enforce")',
  scope: 'use "grant", "session", "user" or "global" (omitted means "grant")',
  window: 'use "second", "minute", "hour", "day" or a duration like "30s", "15m", "2h", "1d"',
  max: "use a whole number of at least 1, e.g. 10",
  counter:
    'name the counter with letters, digits, "_", "-", "." or ":" only, e.g. "create_listen_key_rate"',
  op: `use one of ${CONDITION_OPS.map((o) => `"${o}"`).join(", ")}`,
  path: 'write "args." followed by the argument path, e.g. "args.amount" or "args.order.items[0]"',
  reason: "write the reason as a string the agent can act on",
  description: "write the description as a string",
  hide: 'list tool names or globs as strings, e.g. ["admin_*", "debug_dump"]',
  tools: 'map tool names or globs to rules, e.g. { "binance_us_*": { "action": "deny" } }',
  limits: 'use a list of limits, e.g. [{ "counter": "c", "window": "minute", "max": 10 }]',
  require: 'use a list of conditions, e.g. [{ "path": "args.amount", "op": "lte", "value": 100 }]',
  arguments: 'use a JSON Schema object, e.g. { "type": "object", "required": ["symbol"] }',
  all_tools: 'use an object with "limits", e.g. { "limits": [...] }',
  timeoutMs: "use a whole number of milliseconds from 1 to 86400000, e.g. 30000",
  secret: 'list argument paths as "args.<path>", e.g. ["args.apiSecret", "args.wallet.*.key"]',
  pin: 'use "sha256:" and 64 lower-case hex digits, as written by "toolgate scan --pin"',
  results: 'use an object, e.g. { "redact": ["bearer", "jwt"], "maxBytes": 65536 }',
  pins: 'use an object, e.g. { "mode": "enforce", "on_mismatch": "hide" }',
  maxBytes: "use a whole number of bytes of at least 64, e.g. 65536",
  on_violation: 'use "truncate" or "deny"',
  on_mismatch: 'use "hide", "approval" or "allow"',
  algorithm: 'use "fixed", "sliding" or "token_bucket"',
  burst: "use a whole number of at least 1, e.g. 20",
} as const;

/** The fix for `field` (list fields share their element's fix). */
export const fixFor = (field: string): string | undefined =>
  field === "deny_if"
    ? FIX.require
    : field === "increment_from"
      ? FIX.path
      : (FIX as Record<string, string>)[field];

/** Adds a custom issue carrying its fix (read back by the issue formatter). */
export const custom = (
  ctx: z.RefinementCtx,
  message: string,
  fix: string,
  path: PropertyKey[] = [],
) => ctx.addIssue({ code: "custom", message, params: { fix }, path });
