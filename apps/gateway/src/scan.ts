import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { UPSTREAM_KINDS } from "@toolgate/mcp-express";
import { canonicalToolDefinition, type ToolRule, toolDigest } from "@toolgate/policy-engine";
import { stringify } from "yaml";
import { GatewayError } from "./errors.js";
import {
  classifyToolRisk,
  type RiskCategory,
  type RiskLevel,
  type ToolDefinition,
} from "./risk/classify.js";
import { RECOMMENDED_LIMITS, type RecommendedVerdict, recommendRule } from "./risk/recommend.js";

/** The parts of an MCP tool definition the scanner judges by (a `tools/list` entry fits). */
export type ScannedTool = ToolDefinition;

/** How the starter policy treats a tool, and why (written as a comment into the policy). */
export interface ToolVerdict {
  readonly tool: string;
  readonly verdict: RecommendedVerdict;
  /** The classifier's evidence, joined: `name says "delete": it deletes or overwrites; ...`. */
  readonly why: string;
  readonly risk: RiskLevel;
  readonly category: RiskCategory;
  /** The rule the starter policy writes for it. */
  readonly rule: ToolRule;
  /**
   * Set when the upstream calls the tool read-only (`readOnlyHint: true`) but its name or
   * description suggests secrets or writes: the claim is not trusted, and the starter
   * policy says so in a comment above the entry.
   */
  readonly flag?: string | undefined;
}

/** What the built-in detectors redact from a tool that reads secrets (see `results`). */
const SECRET_REDACTIONS = [
  "bearer",
  "api_token",
  "private_key",
  "jwt",
  "binance_api_key",
  "binance_listen_key",
  "card_number",
] as const;

/**
 * A read-only claim the definition contradicts: one that hides writes (`set_…`), or one
 * that is true but hides that what the tool reads is secret (`get-env`). The second kind
 * also gets its results redacted, so the secrets it reads do not reach the model as is.
 */
function readOnlyFlag(
  tool: ScannedTool,
  contradicted: readonly string[],
  why: string,
): { flag: string; redact: boolean } | undefined {
  if (tool.annotations?.readOnlyHint !== true) return undefined;
  if (contradicted.includes("readOnlyHint: true"))
    return {
      flag: `annotated readOnlyHint: true, but ${why.split("; ")[0]}: the claim is not trusted; check what it really does`,
      redact: false,
    };
  if (contradicted.includes("readOnlyHint: true (as harmless)"))
    return {
      flag: "annotated readOnlyHint: true, but its name or description says it reads secrets: not trusted as harmless; limited, and secrets are redacted from its results",
      redact: true,
    };
  return undefined;
}

/**
 * Judges a tool with the shared risk classifier (the one the policy studio shows) and
 * turns its risk into a starter rule: destructive, money-moving or code-running tools
 * are held for approval, other high-risk ones limited tightly, low-risk ones allowed
 * with a generous limit. See `classifyToolRisk` and `recommendRule`.
 *
 * @example
 * classifyTool({ name: "delete_file" }) // { verdict: "approve", why: 'name says "delete": ...', risk: "high", ... }
 */
export function classifyTool(tool: ScannedTool): ToolVerdict {
  const a = classifyToolRisk(tool);
  const r = recommendRule(a);
  const why = a.reasons.map((x) => x.text).join("; ");
  const flagged = readOnlyFlag(tool, a.contradicted, why);
  const rule: ToolRule = flagged?.redact
    ? { ...r.rule, results: { redact: [...SECRET_REDACTIONS] } }
    : r.rule;
  return {
    tool: tool.name,
    verdict: r.verdict,
    why,
    risk: a.risk,
    category: a.category,
    rule,
    ...(flagged && { flag: flagged.flag }),
  };
}

/**
 * Writes a starter policy (YAML) for the tools: `default: deny`, and for each tool the
 * rule its risk calls for, with a comment above it giving the verdict, the risk and
 * category, and the evidence, so a person can review it quickly.
 */
export function starterPolicy(
  tools: readonly ScannedTool[],
  source: string,
  options: { readonly pin?: boolean } = {},
): string {
  const verdicts = tools.map(classifyTool);
  const entries: Record<string, unknown> = {};
  // --- pins (issue 15): each entry carries the digest of the definition scanned now.
  const pins = new Map(options.pin ? tools.map((t) => [t.name, toolDigest(t)]) : []);
  for (const v of verdicts) {
    const pin = pins.get(v.tool);
    entries[v.tool] = pin === undefined ? v.rule : { ...v.rule, pin };
  }
  const doc = {
    version: "1",
    default: "deny",
    ...(options.pin && { pins: { mode: "enforce", on_mismatch: "hide" } }),
    tools: entries,
  };
  const body = stringify(doc, { lineWidth: 100 });
  // Put each verdict's reason above its tool entry.
  const why = new Map(
    verdicts.map((v) => [v.tool, `${v.verdict} (${v.risk} risk, ${v.category}): ${v.why}`]),
  );
  const flags = new Map(verdicts.flatMap((v) => (v.flag ? [[v.tool, v.flag] as const] : [])));
  const lines = body.split("\n").flatMap((line) => {
    const m = /^ {2}("?)([^":]+)\1:\s*$/.exec(line) ?? /^ {2}("?)([^":]+)\1:/.exec(line);
    const reason = m?.[2] !== undefined ? why.get(m[2]) : undefined;
    const flag = m?.[2] !== undefined ? flags.get(m[2]) : undefined;
    const out = reason ? [`  # ${reason.replace(/\s+/g, " ")}`] : [];
    if (flag) out.push(`  # FLAG read-only claim not trusted: ${flag.replace(/\s+/g, " ")}`);
    return [...out, line];
  });
  return [
    `# Starter policy written by \`toolgate scan\` for ${source}.`,
    "# Review it. Each tool carries the verdict of the risk classifier (the policy studio shows",
    "# the same): destructive, money-moving and code-running tools are held for approval; other",
    `# high-risk tools are limited to ${RECOMMENDED_LIMITS.high}/minute (with argument conditions where the schema`,
    `# shows a file path or URL), medium ones to ${RECOMMENDED_LIMITS.medium}/minute, low-risk ones allowed with`,
    `# ${RECOMMENDED_LIMITS.low}/minute. Anything not listed is denied.`,
    ...lines,
  ].join("\n");
}

/**
 * The approved definitions behind the pins, written next to the policy by
 * `toolgate scan --pin` (`<policy>.pins.json`), so `toolgate pins diff` can show what
 * changed field by field (a digest alone only says that something did).
 */
export function pinSnapshot(tools: readonly ScannedTool[], source: string): string {
  const defs: Record<string, unknown> = {};
  for (const t of tools)
    defs[t.name] = { pin: toolDigest(t), definition: canonicalToolDefinition(t) };
  return JSON.stringify({ source, tools: defs }, null, 2);
}

/** The snapshot file that belongs to a policy file: `policy.yaml` → `policy.pins.json`. */
export function snapshotPathFor(policyFile: string): string {
  return policyFile.replace(/\.(ya?ml|json)$/i, "") + ".pins.json";
}

/** What to connect to: a Streamable HTTP URL or a command started over stdio. */
export type ScanTarget =
  | {
      readonly kind: Extract<UpstreamKind, "http">;
      readonly url: string;
      readonly headers?: Record<string, string>;
    }
  | {
      readonly kind: Extract<UpstreamKind, "stdio">;
      readonly command: string;
      readonly args?: string[];
      readonly env?: Record<string, string>;
    };

/** mcp-express's upstream kinds; a scan reaches the two an operator can point it at. */
type UpstreamKind = (typeof UPSTREAM_KINDS)[number];

/**
 * Connects to an upstream with the SDK client and lists all its tools (following
 * pagination). Throws `SCAN_FAILED` with the reason when it cannot.
 */
export async function listUpstreamTools(
  target: ScanTarget,
  timeoutMs = 15_000,
): Promise<ScannedTool[]> {
  const client = new Client({ name: "toolgate-scan", version: "0.1.0" });
  const transport =
    target.kind === "http"
      ? new StreamableHTTPClientTransport(new URL(target.url), {
          requestInit: { headers: target.headers ?? {} },
        })
      : new StdioClientTransport({
          command: target.command,
          args: target.args ?? [],
          env: { ...(process.env as Record<string, string>), ...target.env },
          stderr: "ignore",
        });
  try {
    await client.connect(transport, { timeout: timeoutMs });
    const tools: ScannedTool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : {}, { timeout: timeoutMs });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    return tools;
  } catch (err) {
    const what = target.kind === "http" ? target.url : target.command;
    const message = (err as Error).message;
    throw new GatewayError(
      "SCAN_FAILED",
      `could not list the tools of ${what}: ${message}${scanHint(target, message)}`,
    );
  } finally {
    await client.close().catch(() => {});
  }
}

// The SDK's messages name the symptom; a newcomer needs the likely fix next to it.
function scanHint(target: ScanTarget, message: string): string {
  if (target.kind !== "http") return "";
  if (/\b401\b|unauthori[sz]ed/i.test(message)) {
    return ' (the server wants a credential: add --header "Authorization: Bearer <key>")';
  }
  if (/fetch failed|ECONNREFUSED/i.test(message)) {
    return " (nothing answered: is the server running, and is that its MCP endpoint?)";
  }
  return "";
}
