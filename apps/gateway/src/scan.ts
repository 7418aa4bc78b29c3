import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { stringify } from "yaml";
import { GatewayError } from "./errors.js";

/** The parts of an MCP tool definition the scanner judges by. */
export interface ScannedTool {
  readonly name: string;
  readonly description?: string | undefined;
  readonly annotations?:
    | {
        readonly readOnlyHint?: boolean | undefined;
        readonly destructiveHint?: boolean | undefined;
        readonly idempotentHint?: boolean | undefined;
        readonly openWorldHint?: boolean | undefined;
      }
    | undefined;
}

/** How the starter policy treats a tool, and why (written as a comment into the policy). */
export interface ToolVerdict {
  readonly tool: string;
  readonly verdict: "allow" | "limit" | "approve";
  readonly why: string;
}

const WORDS = (name: string) =>
  name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

const RISKY =
  /^(delete|remove|drop|destroy|purge|erase|withdraw|transfer|send|pay|payment|order|trade|buy|sell|cancel|close|kill|terminate|exec|execute|run|shell|deploy|publish|revoke|reset|wipe|sign|approve|grant|merge|push|move|rename|overwrite)$/;
const WRITE =
  /^(create|add|new|update|edit|modify|set|put|post|upload|write|insert|patch|start|stop|open|keepalive|refresh|renew|subscribe|invite|comment|save|copy)$/;
const READ =
  /^(get|list|read|search|find|fetch|describe|show|query|view|lookup|inspect|status|info|ping|echo|check|count|download|head|tail|stat|ls|cat|explain|help|version|whoami)$/;

/**
 * Judges a tool from its annotations first (they are the server's own claim) and its
 * name second: destructive or money-moving tools are held for approval, read-only
 * ones allowed, anything that writes or is unknown is allowed under a rate limit.
 *
 * @example
 * classifyTool({ name: "delete_file" }) // { verdict: "approve", why: "name says delete" }
 */
export function classifyTool(tool: ScannedTool): ToolVerdict {
  const a = tool.annotations ?? {};
  const words = WORDS(tool.name);
  const risky = words.find((w) => RISKY.test(w));
  if (a.destructiveHint === true && a.readOnlyHint !== true) {
    return { tool: tool.name, verdict: "approve", why: "annotated destructiveHint: true" };
  }
  if (risky) return { tool: tool.name, verdict: "approve", why: `name says "${risky}"` };
  if (a.readOnlyHint === true) {
    return { tool: tool.name, verdict: "allow", why: "annotated readOnlyHint: true" };
  }
  const write = words.find((w) => WRITE.test(w));
  if (write)
    return { tool: tool.name, verdict: "limit", why: `name says "${write}" (changes state)` };
  const read = words.find((w) => READ.test(w));
  if (read && a.openWorldHint !== true) {
    return { tool: tool.name, verdict: "allow", why: `name says "${read}" (reads)` };
  }
  if (read) {
    return {
      tool: tool.name,
      verdict: "limit",
      why: `name says "${read}" but it reaches the open world`,
    };
  }
  return {
    tool: tool.name,
    verdict: "limit",
    why: "not recognised: allowed under a limit until reviewed",
  };
}

/**
 * Writes a starter policy (YAML) for the tools: `default: deny`, read-only tools allowed,
 * state-changing ones limited to 10 per minute per grant, risky ones held for approval.
 * Each entry carries a comment saying why, so a person can review it quickly.
 */
export function starterPolicy(tools: readonly ScannedTool[], source: string): string {
  const verdicts = tools.map(classifyTool);
  const entries: Record<string, unknown> = {};
  for (const v of verdicts) {
    if (v.verdict === "allow") entries[v.tool] = { action: "allow" };
    else if (v.verdict === "approve") {
      entries[v.tool] = {
        action: "require_approval",
        reason: `${v.tool} needs a person's approval`,
      };
    } else {
      entries[v.tool] = {
        limits: [{ counter: `${v.tool}_rate`, window: "minute", max: 10, scope: "grant" }],
      };
    }
  }
  const doc = { version: "1", default: "deny", tools: entries };
  const body = stringify(doc, { lineWidth: 100 });
  // Put each verdict's reason above its tool entry.
  const why = new Map(verdicts.map((v) => [v.tool, `${v.verdict}: ${v.why}`]));
  const lines = body.split("\n").flatMap((line) => {
    const m = /^ {2}("?)([^":]+)\1:\s*$/.exec(line) ?? /^ {2}("?)([^":]+)\1:/.exec(line);
    const reason = m?.[2] !== undefined ? why.get(m[2]) : undefined;
    return reason ? [`  # ${reason}`, line] : [line];
  });
  return [
    `# Starter policy written by \`toolgate scan\` for ${source}.`,
    "# Review it: read-only tools are allowed, state-changing ones limited,",
    "# risky ones held for approval, and anything not listed is denied.",
    ...lines,
  ].join("\n");
}

/** What to connect to: a Streamable HTTP URL or a command started over stdio. */
export type ScanTarget =
  | { readonly url: string; readonly headers?: Record<string, string> }
  | { readonly command: string; readonly args?: string[]; readonly env?: Record<string, string> };

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
    "url" in target
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
    const what = "url" in target ? target.url : target.command;
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
  if (!("url" in target)) return "";
  if (/\b401\b|unauthori[sz]ed/i.test(message)) {
    return ' (the server wants a credential: add --header "Authorization: Bearer <key>")';
  }
  if (/fetch failed|ECONNREFUSED/i.test(message)) {
    return " (nothing answered: is the server running, and is that its MCP endpoint?)";
  }
  return "";
}
