#!/usr/bin/env node
import { type CliIo, COMMAND_HELP, callerCwd, registerCommand, runCli } from "./cli.js";
import { serveCommand } from "./serve.js";

const io: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  // Relative paths are the caller's, also under `pnpm toolgate …` (see callerCwd).
  cwd: callerCwd(process.env, process.cwd()),
  env: process.env,
};

const stopSignal = new Promise<string>((resolve) => {
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.once(sig, () => {
      resolve(sig);
      // A second signal, or a drain that hangs past the bound, forces the exit.
      const grace = Number(process.env.TOOLGATE_SHUTDOWN_FORCE_MS ?? 30_000);
      setTimeout(() => process.exit(1), grace).unref();
      process.once(sig, () => process.exit(130));
    });
  }
});

registerCommand("serve", async (argv, cliIo) => {
  // Loaded only to serve: validate/test/explain/scan should not pay for the exchange code.
  const { binanceBuiltin } = await import("./builtins.js");
  const code = await serveCommand(argv, cliIo, { builtins: binanceBuiltin, stopSignal });
  if (code === -1) {
    cliIo.stdout.write(COMMAND_HELP.serve ?? "");
    return 0;
  }
  return code;
});

const argv = process.argv.slice(2);
const code = await runCli(argv.length === 0 ? ["serve"] : argv, io);
process.exitCode = code;
// Open handles (e.g. an upstream child that ignores stdin close) must not keep a finished
// command alive.
setTimeout(() => process.exit(code), 200).unref();
