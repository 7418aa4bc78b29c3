import { writeFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  type CompiledPolicy,
  compilePolicy,
  createPolicyEngine,
  loadPolicyFile,
  loadPolicyTestSuite,
  PolicyError,
  runPolicyTests,
} from "@toolgate/policy-engine";
import { AUDIT_HELP, auditCommand } from "./audit-cli.js";
import { formatIssues, GatewayError } from "./errors.js";
import { PINS_HELP, pinsCommand } from "./pins-cli.js";
import {
  listUpstreamTools,
  pinSnapshot,
  type ScanTarget,
  snapshotPathFor,
  starterPolicy,
} from "./scan.js";

/** Where the CLI writes and what it reads; injectable so tests run commands in-process. */
export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly cwd: string;
  readonly env: Record<string, string | undefined>;
}

/**
 * The folder relative paths on the command line mean: the caller's. `pnpm toolgate …`
 * and `pnpm start` run the CLI through a package script, which pnpm (and npm) start in
 * the package's folder, passing the folder the command was typed in as `INIT_CWD`.
 * Only then is `INIT_CWD` used: a CLI started directly (or by a test that happens to run
 * under some other package script) keeps its own working directory.
 *
 * @example callerCwd({ npm_lifecycle_event: "toolgate", INIT_CWD: "/home/me/p" }, "/repo") // "/home/me/p"
 */
export function callerCwd(env: Record<string, string | undefined>, processCwd: string): string {
  const init = env.INIT_CWD;
  const viaScript = env.npm_lifecycle_event === "toolgate" || env.npm_lifecycle_event === "start";
  return viaScript && init !== undefined && isAbsolute(init) ? init : processCwd;
}

/** A command: parses its own argv, returns the exit code. */
type Command = (argv: string[], io: CliIo) => Promise<number>;

const MAIN_HELP = `toolgate — a policy gateway for MCP

Usage:
  toolgate serve [--config FILE]                 run the gateway (default command)
  toolgate validate <policy>                     check a policy file; every error by path
  toolgate test <policy> <cases>                 run policy test cases; a pass/fail table
  toolgate explain <policy> --tool T [--args JSON] [--grant G]
                                                 which rule decides a call, and why
  toolgate scan <url> [--header "K: V"] [--out FILE]
  toolgate scan [--out FILE] -- <command> [args...]
                                                 list an upstream's tools, write a starter policy
                                                 (--pin: pin every tool's definition)
  toolgate pins diff <policy> <url> | -- <command>
                                                 which pinned tool definitions changed, field by field
  toolgate audit verify FILE...                  check the audit log's hash chain, oldest file first

Run "toolgate <command> --help" for details.
`;

/** `--help` text per command; `registerCommand` may add entries. */
const HELP: Record<string, string> = {
  serve: `Usage: toolgate serve [--config FILE]

Serves MCP at http://HOST:PORT/mcp (default 127.0.0.1:8080), the approvals page at
/admin, Prometheus metrics at /metrics, and /healthz, /readyz.
Config: --config FILE, else ./toolgate.config.yaml if present, else embedded defaults.
Environment: PORT, HOST, TOOLGATE_API_KEY, TOOLGATE_ADMIN_TOKEN, BINANCE_US_API_KEY,
BINANCE_US_API_SECRET, LOG_LEVEL.
`,
  validate: `Usage: toolgate validate <policy>

Parses and compiles a policy file (JSON or YAML). Exits 0 when it is valid; otherwise
prints every problem with its path and a fix, and exits 1.
`,
  test: `Usage: toolgate test <policy> <cases> [--json]

Runs the test cases (YAML or JSON) against the policy with a fake clock and a fresh
counter store, prints a pass/fail table and exits 1 if any case fails. Cases file:
  grant: demo                      # default grant of every case
  cases:
    - name: ten creates pass
      tool: binance_us_create_listen_key
      repeat: 10
      expect: { effect: allow }
    - name: the 11th is rate limited
      tool: binance_us_create_listen_key
      expect: { effect: deny, code: RATE_LIMITED }
    - name: a minute later it passes again
      tool: binance_us_create_listen_key
      advanceMs: 60000
      expect: { effect: allow }
A case may also set args, session, upstream: failure (roll back), reset: true, and
expectLast (what the last of the repeated calls must give).
`,
  explain: `Usage: toolgate explain <policy> --tool T [--args JSON] [--grant G] [--session S] [--json]

Shows which rule decides the call and every rule that was considered. Counters are not
consulted: a limit is reported as needed, not as exhausted.
`,
  scan: `Usage: toolgate scan <url> [--header "Name: value"]... [--out FILE]
       toolgate scan [--out FILE] -- <command> [args...]

Connects to an upstream MCP server (Streamable HTTP URL, or a command run over stdio),
lists its tools and writes a starter policy (YAML): default deny, and per tool the
rule its risk calls for (the same classifier the policy studio shows): destructive,
money-moving or code-running tools held for approval; other high-risk tools limited to
10/minute per grant (plus argument conditions for file paths and URLs); medium ones
30/minute; low-risk ones allowed with 120/minute. Each rule carries a comment with the
risk, category and evidence (name, description, input schema, annotations, which are
the upstream's claim and are overruled when the definition disagrees); review it.
Without --out the policy is printed to stdout.
With --pin every entry gets "pin: sha256:…" (the digest of the tool's definition) and
the policy "pins: { mode: enforce, on_mismatch: hide }"; with --out the approved
definitions are also written to <policy>.pins.json for "toolgate pins diff".
`,
  pins: PINS_HELP,
  audit: AUDIT_HELP,
};

function printHelp(io: CliIo, text: string): number {
  io.stdout.write(text);
  return 0;
}

function usageError(io: CliIo, command: string, message: string): number {
  io.stderr.write(`error: ${message}\n\n${HELP[command] ?? MAIN_HELP}`);
  return 2;
}

function printError(io: CliIo, err: unknown): number {
  if (err instanceof PolicyError) {
    io.stderr.write(
      `${err.source ? `${err.source}: ` : ""}${err.issues.length} problem(s):\n${formatIssues(err.issues)}\n`,
    );
    return 1;
  }
  if (err instanceof GatewayError) {
    io.stderr.write(`error: ${err.message}\n`);
    if (err.issues.length > 0) io.stderr.write(`${formatIssues(err.issues)}\n`);
    return 1;
  }
  io.stderr.write(`error: ${(err as Error).message ?? String(err)}\n`);
  return 1;
}

async function loadCompiled(path: string, io: CliIo): Promise<CompiledPolicy> {
  const file = resolve(io.cwd, path);
  return compilePolicy(await loadPolicyFile(file), { source: path });
}

const validate: Command = async (argv, io) => {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" } },
  });
  if (values.help) return printHelp(io, HELP.validate ?? MAIN_HELP);
  if (positionals.length !== 1) return usageError(io, "validate", "give exactly one policy file");
  try {
    const policy = await loadCompiled(positionals[0] as string, io);
    const doc = policy.document;
    const tools = Object.keys(doc.tools ?? {}).length;
    io.stdout.write(
      `ok: ${positionals[0]} is valid (default ${doc.default ?? "deny"}, ${tools} tool rule(s), version ${policy.version.slice(0, 12)})\n`,
    );
    return 0;
  } catch (err) {
    return printError(io, err);
  }
};

const test: Command = async (argv, io) => {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return printHelp(io, HELP.test ?? MAIN_HELP);
  if (positionals.length !== 2) {
    return usageError(io, "test", "give a policy file and a test cases file");
  }
  try {
    const policy = await loadCompiled(positionals[0] as string, io);
    const suite = await loadPolicyTestSuite(resolve(io.cwd, positionals[1] as string));
    const report = await runPolicyTests(policy, suite);
    if (values.json) {
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return report.ok ? 0 : 1;
    }
    const nameWidth = Math.min(60, Math.max(4, ...report.results.map((r) => r.name.length)));
    const rows = [`  ${"".padEnd(4)} ${"case".padEnd(nameWidth)}  calls  result`];
    for (const r of report.results) {
      const mark = r.ok ? "PASS" : "FAIL";
      const last = r.last ? `${r.last.effect} (${r.last.code})` : "";
      rows.push(
        `  ${mark} ${r.name.slice(0, nameWidth).padEnd(nameWidth)}  ${String(r.calls).padStart(5)}  ${r.ok ? last : (r.message ?? "failed")}`,
      );
    }
    rows.push("", `${report.passed} passed, ${report.failed} failed, ${report.total} total`);
    io.stdout.write(`${rows.join("\n")}\n`);
    return report.ok ? 0 : 1;
  } catch (err) {
    return printError(io, err);
  }
};

const explain: Command = async (argv, io) => {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      tool: { type: "string" },
      args: { type: "string" },
      grant: { type: "string" },
      session: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return printHelp(io, HELP.explain ?? MAIN_HELP);
  if (positionals.length !== 1) return usageError(io, "explain", "give exactly one policy file");
  if (!values.tool) return usageError(io, "explain", "--tool is required");
  let args: Record<string, unknown> = {};
  if (values.args !== undefined) {
    try {
      const parsed: unknown = JSON.parse(values.args);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new Error("must be a JSON object");
      }
      args = parsed as Record<string, unknown>;
    } catch (err) {
      return usageError(io, "explain", `--args is not a JSON object: ${(err as Error).message}`);
    }
  }
  try {
    const policy = await loadCompiled(positionals[0] as string, io);
    const engine = createPolicyEngine({});
    const identity = { grant: values.grant ?? "cli", session: values.session };
    const ex = engine.explain(policy, { name: values.tool, arguments: args }, identity);
    if (values.json) {
      io.stdout.write(`${JSON.stringify(ex, null, 2)}\n`);
      return 0;
    }
    const v = ex.verdict;
    const out = [
      `tool:     ${values.tool}`,
      `grant:    ${identity.grant}`,
      `effect:   ${v.effect} (${v.code})`,
      `rule:     ${v.ruleId}`,
      `reason:   ${v.reason}`,
    ];
    if (v.counters.length > 0) {
      out.push(
        `limits:   ${v.counters.map((c) => `${c.counter} ${c.max} per ${Math.round(c.windowMs / 1000)}s ${c.algorithm ?? "fixed"}${c.burst === undefined ? "" : ` burst ${c.burst}`} (key ${c.key}, weight ${c.weight})`).join("; ")}`,
      );
    }
    if (v.shadow) out.push(`shadow:   would have been ${v.shadow.effect} (${v.shadow.reason})`);
    const g = ex.guardrails;
    if (g?.pins !== undefined)
      out.push(
        `pin:      ${g.pin ?? "none"} (pins ${g.pins.mode}, on mismatch ${g.pins.onMismatch})`,
      );
    if (g?.results !== undefined)
      out.push(
        `results:  ${g.results.summary} (${g.results.ruleId}${g.results.shadow ? ", shadow" : ""})`,
      );
    out.push("", "trace:");
    for (const t of ex.trace) {
      out.push(`  ${t.step.padEnd(9)} ${t.result.padEnd(9)} ${t.ruleId.padEnd(40)} ${t.detail}`);
    }
    io.stdout.write(`${out.join("\n")}\n`);
    return 0;
  } catch (err) {
    return printError(io, err);
  }
};

const scan: Command = async (argv, io) => {
  const dash = argv.indexOf("--");
  const own = dash === -1 ? argv : argv.slice(0, dash);
  const command = dash === -1 ? [] : argv.slice(dash + 1);
  const { positionals, values } = parseArgs({
    args: own,
    allowPositionals: true,
    options: {
      header: { type: "string", multiple: true },
      out: { type: "string", short: "o" },
      timeout: { type: "string" },
      pin: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return printHelp(io, HELP.scan ?? MAIN_HELP);
  let target: ScanTarget;
  if (command.length > 0) {
    if (positionals.length > 0) return usageError(io, "scan", "give a URL or a command, not both");
    target = { kind: "stdio", command: command[0] as string, args: command.slice(1) };
  } else {
    if (positionals.length !== 1)
      return usageError(io, "scan", "give an upstream URL or -- <command>");
    const url = positionals[0] as string;
    if (!/^https?:\/\//.test(url)) {
      return usageError(
        io,
        "scan",
        `"${url}" is not an http(s) URL; for a command use: scan -- ${url}`,
      );
    }
    const headers: Record<string, string> = {};
    for (const h of values.header ?? []) {
      const i = h.indexOf(":");
      if (i <= 0) return usageError(io, "scan", `--header "${h}" must look like "Name: value"`);
      headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    target = { kind: "http", url, headers };
  }
  const timeoutMs = values.timeout ? Number(values.timeout) : 15_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    return usageError(io, "scan", "--timeout must be a positive number of milliseconds");
  }
  try {
    const tools = await listUpstreamTools(target, timeoutMs);
    const source =
      target.kind === "http" ? target.url : [target.command, ...(target.args ?? [])].join(" ");
    const yaml = starterPolicy(tools, source, { pin: values.pin === true });
    if (values.out) {
      const file = resolve(io.cwd, values.out);
      writeFileSync(file, `${yaml}\n`);
      io.stderr.write(`wrote ${values.out}: ${tools.length} tool(s)\n`);
      if (values.pin) {
        writeFileSync(snapshotPathFor(file), `${pinSnapshot(tools, source)}\n`);
        io.stderr.write(`wrote ${snapshotPathFor(values.out)}: the pinned definitions\n`);
      }
    } else {
      io.stdout.write(`${yaml}\n`);
    }
    return 0;
  } catch (err) {
    return printError(io, err);
  }
};

/** Commands other modules add (serve and test live next to what they need). */
const extra = new Map<string, Command>();

/** Registers a command; used by the entry point for `serve` and `test`. */
export function registerCommand(name: string, command: Command, help?: string): void {
  extra.set(name, command);
  if (help) HELP[name] = help;
}

/**
 * Runs the `toolgate` CLI with `argv` (without `node` and the script) and returns the
 * exit code. Never calls `process.exit`, so tests run it in-process.
 *
 * @example
 * const code = await runCli(["validate", "policy.yaml"], { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env });
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(MAIN_HELP);
    return name === undefined ? 2 : 0;
  }
  const commands: Record<string, Command> = {
    validate,
    test,
    explain,
    scan,
    pins: (a, o) => pinsCommand(a, o, { usageError, printError, loadCompiled }),
    audit: auditCommand,
  };
  const command = commands[name] ?? extra.get(name);
  if (!command) {
    io.stderr.write(`error: unknown command "${name}"\n\n${MAIN_HELP}`);
    return 2;
  }
  try {
    return await command(rest, io);
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      return usageError(io, name, (err as Error).message);
    }
    return printError(io, err);
  }
}

/** The per-command `--help` texts, for commands registered from outside (e.g. `serve`). */
export const COMMAND_HELP: Readonly<Record<string, string>> = HELP;
