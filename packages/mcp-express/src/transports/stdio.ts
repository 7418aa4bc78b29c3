import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { z } from "zod";
import { baseUpstreamShape, type UpstreamTransport } from "./common.js";

/** A stdio upstream: spawned per client session and restarted with backoff if it dies. */
export const stdioUpstreamSchema = z.object({
  kind: z.literal("stdio"),
  ...baseUpstreamShape,
  command: z.string().min(1, "give the executable to spawn"),
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().optional(),
});

/** Child processes speaking MCP on stdin/stdout. */
export const stdioTransport: UpstreamTransport<z.output<typeof stdioUpstreamSchema>> = {
  kind: "stdio",
  schema: stdioUpstreamSchema,
  marker: "command",
  supervise: () => true,
  shared: () => false,
  factory(config) {
    return async () => {
      const params: ConstructorParameters<typeof StdioClientTransport>[0] = {
        command: config.command,
        args: config.args ?? [],
        stderr: "pipe",
      };
      if (config.env) params.env = config.env;
      if (config.cwd) params.cwd = config.cwd;
      return new StdioClientTransport(params);
    };
  },
};
