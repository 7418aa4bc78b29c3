import type { CliIo } from "../../src/cli.js";

/** A CliIo that keeps what a command writes, so tests can assert on it (reset by assigning). */
export class CapturedIo implements CliIo {
  out = "";
  err = "";
  readonly stdout = {
    write: (s: string) => {
      this.out += s;
    },
  };
  readonly stderr = {
    write: (s: string) => {
      this.err += s;
    },
  };
  constructor(
    readonly cwd: string,
    readonly env: Record<string, string | undefined> = {},
  ) {}
}
