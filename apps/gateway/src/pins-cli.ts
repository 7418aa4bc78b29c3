/**
 * `toolgate pins diff`: compares the tools an upstream offers now with the pins of a
 * policy and, where `<policy>.pins.json` (written by `toolgate scan --pin`) has the
 * approved definition, shows what changed field by field.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  type CompiledPolicy,
  type DefinitionChange,
  diffToolDefinitions,
  type ToolDefinition,
  toolDigest,
} from "@toolgate/policy-engine";
import { z } from "zod";
import { GatewayError } from "./errors.js";
import { listUpstreamTools, type ScannedTool, type ScanTarget, snapshotPathFor } from "./scan.js";

/** `--help` of `toolgate pins`. */
export const PINS_HELP = `Usage: toolgate pins diff <policy> <url> [--header "Name: value"]... [--snapshot FILE] [--json]
       toolgate pins diff <policy> [--snapshot FILE] [--json] -- <command> [args...]

Lists the upstream's tools and checks each pinned tool of the policy against its pin:
unchanged, changed (with every changed field of the definition, old and new value,
when the approved definition is in <policy>.pins.json, written by "scan --pin"),
missing upstream, or new upstream (not pinned). Exits 1 when a pinned definition
changed or disappeared, 0 otherwise.
`;

/** The CLI helpers the command shares with the rest of the CLI. */
export interface PinsCliDeps {
  usageError(io: PinsIo, command: string, message: string): number;
  printError(io: PinsIo, err: unknown): number;
  loadCompiled(path: string, io: PinsIo): Promise<CompiledPolicy>;
}

type PinsIo = Parameters<typeof import("./cli.js").runCli>[1];

const SnapshotSchema = z.object({
  source: z.string().optional(),
  tools: z.record(
    z.string(),
    z.object({ pin: z.string(), definition: z.looseObject({ name: z.string() }) }),
  ),
});

/** One tool's state against its pin. */
export interface PinReportEntry {
  readonly tool: string;
  readonly status: "unchanged" | "changed" | "missing" | "unpinned";
  readonly pin?: string | undefined;
  readonly actual?: string | undefined;
  /** Field-by-field changes; absent when the approved definition is unknown. */
  readonly changes?: readonly DefinitionChange[] | undefined;
}

/**
 * Compares `tools` (as listed now) with the pins of `policy`, using `approved`
 * definitions (by tool name) for the field-by-field diff where known.
 */
export function pinReport(
  policy: CompiledPolicy,
  tools: readonly ScannedTool[],
  approved: ReadonlyMap<string, ToolDefinition>,
): PinReportEntry[] {
  const out: PinReportEntry[] = [];
  const byName = new Map(tools.map((t) => [t.name, t]));
  for (const name of Object.keys(policy.document.tools ?? {}).sort()) {
    const pin = policy.pinFor(name);
    if (pin === undefined) continue;
    const now = byName.get(name);
    if (now === undefined) {
      out.push({ tool: name, status: "missing", pin });
      continue;
    }
    const actual = toolDigest(now);
    if (actual === pin) {
      out.push({ tool: name, status: "unchanged", pin, actual });
      continue;
    }
    const before = approved.get(name);
    // A snapshot whose digest is not the pin describes some other version: no diff from it.
    const usable = before !== undefined && toolDigest(before) === pin ? before : undefined;
    out.push({
      tool: name,
      status: "changed",
      pin,
      actual,
      ...(usable !== undefined && { changes: diffToolDefinitions(usable, now) }),
    });
  }
  for (const t of [...tools].sort((a, b) => a.name.localeCompare(b.name))) {
    if (policy.pinFor(t.name) === undefined)
      out.push({ tool: t.name, status: "unpinned", actual: toolDigest(t) });
  }
  return out;
}

function clip(s: string | undefined): string {
  if (s === undefined) return "";
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

/**
 * The approved definitions in the pin snapshot at `snapFile` (none when there is no file,
 * unless the snapshot was named explicitly).
 */
function readSnapshot(snapFile: string, explicit: boolean): Map<string, ToolDefinition> {
  const approved = new Map<string, ToolDefinition>();
  if (existsSync(snapFile)) {
    let parsed: z.infer<typeof SnapshotSchema>;
    try {
      parsed = SnapshotSchema.parse(JSON.parse(readFileSync(snapFile, "utf8")));
    } catch (err) {
      throw new GatewayError(
        "CONFIG_INVALID",
        `${snapFile} is not a pin snapshot (${(err as Error).message.split("\n")[0]}); write it again with "toolgate scan --pin --out <policy>"`,
      );
    }
    for (const [name, e] of Object.entries(parsed.tools))
      approved.set(name, e.definition as ToolDefinition);
  } else if (explicit) {
    throw new GatewayError("CONFIG_INVALID", `no snapshot at ${snapFile}`);
  }
  return approved;
}

/** The human-readable report, one line per tool and one per changed field. */
function reportLines(report: ReturnType<typeof pinReport>): string[] {
  const lines: string[] = [];
  for (const r of report) {
    if (r.status === "unchanged") lines.push(`unchanged  ${r.tool}`);
    else if (r.status === "missing")
      lines.push(`missing    ${r.tool} (pinned, not offered upstream)`);
    else if (r.status === "unpinned") lines.push(`unpinned   ${r.tool} ${r.actual}`);
    else {
      lines.push(`CHANGED    ${r.tool}: pin ${r.pin} now ${r.actual}`);
      if (r.changes === undefined)
        lines.push("           (no approved definition in the snapshot: only the digest is known)");
      else
        for (const c of r.changes)
          lines.push(
            c.kind === "changed"
              ? `           ${c.path}: ${clip(c.before)} -> ${clip(c.after)}`
              : c.kind === "added"
                ? `           ${c.path}: added ${clip(c.after)}`
                : `           ${c.path}: removed (was ${clip(c.before)})`,
          );
    }
  }
  if (lines.length === 0) lines.push("the policy pins no tools and the upstream lists none");
  return lines;
}

/** Runs `toolgate pins <subcommand>`. */
export async function pinsCommand(argv: string[], io: PinsIo, deps: PinsCliDeps): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    io.stdout.write(PINS_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== "diff") return deps.usageError(io, "pins", `unknown subcommand "${sub}" (use diff)`);
  const dash = rest.indexOf("--");
  const own = dash === -1 ? rest : rest.slice(0, dash);
  const command = dash === -1 ? [] : rest.slice(dash + 1);
  const { positionals, values } = parseArgs({
    args: own,
    allowPositionals: true,
    options: {
      header: { type: "string", multiple: true },
      snapshot: { type: "string" },
      timeout: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.stdout.write(PINS_HELP);
    return 0;
  }
  const policyFile = positionals[0];
  if (policyFile === undefined) return deps.usageError(io, "pins", "give a policy file");
  let target: ScanTarget;
  if (command.length > 0) {
    if (positionals.length > 1)
      return deps.usageError(io, "pins", "give a URL or a command, not both");
    target = { kind: "stdio", command: command[0] as string, args: command.slice(1) };
  } else {
    const url = positionals[1];
    if (url === undefined || positionals.length > 2 || !/^https?:\/\//.test(url))
      return deps.usageError(
        io,
        "pins",
        "give the policy file and the upstream's http(s) URL, or -- <command>",
      );
    const headers: Record<string, string> = {};
    for (const h of values.header ?? []) {
      const i = h.indexOf(":");
      if (i <= 0)
        return deps.usageError(io, "pins", `--header "${h}" must look like "Name: value"`);
      headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    target = { kind: "http", url, headers };
  }
  const timeoutMs = values.timeout ? Number(values.timeout) : 15_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    return deps.usageError(io, "pins", "--timeout must be a positive number of milliseconds");
  try {
    const policy = await deps.loadCompiled(policyFile, io);
    const snapFile = resolve(io.cwd, values.snapshot ?? snapshotPathFor(policyFile));
    const approved = readSnapshot(snapFile, values.snapshot !== undefined);
    const tools = await listUpstreamTools(target, timeoutMs);
    const report = pinReport(policy, tools, approved);
    const bad = report.some((r) => r.status === "changed" || r.status === "missing");
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ policy: policyFile, tools: report }, null, 2)}\n`);
      return bad ? 1 : 0;
    }
    const lines = reportLines(report);
    io.stdout.write(`${lines.join("\n")}\n`);
    return bad ? 1 : 0;
  } catch (err) {
    return deps.printError(io, err);
  }
}
