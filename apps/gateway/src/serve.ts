import { parseArgs } from "node:util";
import type { CliIo } from "./cli.js";
import { loadGatewayConfig } from "./config.js";
import { formatIssues, GatewayError } from "./errors.js";
import { type BuiltinFactory, type RunningGateway, startGateway } from "./gateway.js";
import { createLogger, type Logger } from "./logger.js";

/**
 * The client example printed at start-up: a POSIX shell snippet of two `curl` lines that
 * initializes a session, keeps the `Mcp-Session-Id` the gateway answers with, and lists
 * the tools with it (a bare `tools/list` without the session id is refused). The tests
 * run exactly this text with `sh`.
 */
export function curlExample(mcpUrl: string, key: string): string {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "curl", version: "1" },
    },
  });
  const list = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" });
  const headers =
    `-H "Authorization: Bearer ${key}" -H "Content-Type: application/json" ` +
    `-H "Accept: application/json, text/event-stream"`;
  return (
    `S=$(curl -s -D - -o /dev/null ${mcpUrl} ${headers} -d '${body}' | tr -d '\\r' | awk 'tolower($1)=="mcp-session-id:"{print $2}')\n` +
    `curl -s ${mcpUrl} ${headers} -H "Mcp-Session-Id: $S" -d '${list}'`
  );
}

/** The start-up banner: where to connect and with what. Printed once, to stdout. */
export function banner(
  gw: RunningGateway,
  info: { generatedKey?: string | undefined; adminToken: string; adminTokenGenerated: boolean },
): string {
  const key = info.generatedKey ?? "$TOOLGATE_API_KEY";
  // Optional chaining: callers may pass a partial gateway (the banner only reads URLs).
  const oauth = (gw.mcp as RunningGateway["mcp"] | undefined)?.oauth;
  const lines = [
    "",
    `  Toolgate is running`,
    "",
    `  MCP endpoint   ${gw.mcpUrl}`,
    info.generatedKey
      ? `  API key        ${info.generatedKey}   (grant "demo"; set TOOLGATE_API_KEY to choose your own)`
      : `  API key        from TOOLGATE_API_KEY / the config file`,
    info.adminTokenGenerated
      ? `  Approvals      ${gw.adminUrl}?token=${encodeURIComponent(info.adminToken)}`
      : `  Approvals      ${gw.adminUrl}   (admin token from TOOLGATE_ADMIN_TOKEN / the config)`,
    info.adminTokenGenerated
      ? `  Policy studio  ${gw.adminUrl}/studio?token=${encodeURIComponent(info.adminToken)}`
      : `  Policy studio  ${gw.adminUrl}/studio`,
    `  Metrics        ${gw.url}/metrics`,
    ...(oauth
      ? [
          `  OAuth          tokens from ${String(oauth.metadata().authorization_servers)}; metadata at ${oauth.metadataUrl()}`,
        ]
      : []),
    ...gw.notes.map((n) => `  ${n}`),
    "",
    info.generatedKey
      ? "  Try it (open a session, then list the tools with its id):"
      : "  Try it (reads the key from $TOOLGATE_API_KEY in your shell; opens a session, lists the tools):",
    ...curlExample(gw.mcpUrl, key)
      .split("\n")
      .map((l) => `  ${l}`),
    "",
  ];
  return `${lines.join("\n")}\n`;
}

/** Options of {@link serveCommand}: the pieces `bin.ts` wires in. */
export interface ServeDeps {
  readonly builtins?: BuiltinFactory;
  readonly logger?: Logger;
  /** Resolves when the process should stop (SIGTERM/SIGINT in the real binary). */
  readonly stopSignal: Promise<string>;
}

/**
 * `toolgate serve`: loads the config, starts the gateway, prints the banner, and closes
 * gracefully when `stopSignal` resolves (in-flight calls get `shutdownGraceMs`).
 * Returns the exit code: 0 after a clean shutdown, 1 when start-up failed.
 */
export async function serveCommand(argv: string[], io: CliIo, deps: ServeDeps): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return -1;
  if (positionals.length > 0) {
    io.stderr.write(
      `error: serve takes no arguments (got ${positionals.join(" ")}); use --config FILE\n`,
    );
    return 2;
  }
  const logger = deps.logger ?? createLogger({ level: io.env.LOG_LEVEL });
  let gw: RunningGateway;
  let loaded: ReturnType<typeof loadGatewayConfig>;
  try {
    loaded = loadGatewayConfig({ file: values.config, cwd: io.cwd, env: io.env });
    gw = await startGateway({ loaded, logger, env: io.env, builtins: deps.builtins });
  } catch (err) {
    if (err instanceof GatewayError) {
      io.stderr.write(`toolgate: ${err.message}\n`);
      if (err.issues.length > 0) io.stderr.write(`${formatIssues(err.issues)}\n`);
    } else if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
      io.stderr.write(
        `toolgate: failed to start: ${(err as Error).message}\n` +
          "  another process listens there: stop it, or choose a port with PORT=8081 (or listen.port)\n",
      );
    } else {
      io.stderr.write(`toolgate: failed to start: ${(err as Error).message}\n`);
    }
    return 1;
  }
  io.stdout.write(
    banner(gw, {
      generatedKey: loaded.grants.find((g) => g.generatedKey)?.generatedKey,
      adminToken: loaded.adminToken,
      adminTokenGenerated: loaded.adminTokenGenerated,
    }),
  );
  const signal = await deps.stopSignal;
  logger.info({ signal }, "shutting down: finishing in-flight calls");
  await gw.close();
  return 0;
}
