import { type UpstreamConfig, upstreamKind } from "@toolgate/mcp-express";
import type { UpstreamEntry } from "./config.js";
import { GatewayError } from "./errors.js";
import type { Logger } from "./logger.js";

/** A built-in upstream started by the gateway (e.g. the Binance.US tools). */
export interface BuiltinUpstream {
  readonly upstream: UpstreamConfig;
  /** One line for the start-up banner, e.g. "Binance.US mock exchange at http://...". */
  readonly description?: string | undefined;
  /** Reports stream reconnects to metrics; called once at start. */
  onReconnect?(listener: () => void): void;
  close(): Promise<void>;
}

/** Starts the built-in upstream named in `builtin:`. */
export type BuiltinFactory = (
  entry: { readonly name: string; readonly builtin: string },
  ctx: { readonly env: Record<string, string | undefined>; readonly logger: Logger },
) => Promise<BuiltinUpstream>;

/** What {@link startUpstreams} needs from the gateway being composed. */
export interface StartUpstreamsOptions {
  readonly entries: readonly UpstreamEntry[];
  readonly builtins?: BuiltinFactory | undefined;
  readonly extra?: readonly UpstreamConfig[] | undefined;
  readonly env: Record<string, string | undefined>;
  readonly logger: Logger;
  /** Registers what to close at shutdown (a started builtin). */
  readonly onCleanup: (close: () => Promise<void>) => void;
  /** Counts a builtin's stream reconnect. */
  readonly onReconnect: (stream: string) => void;
}

/** The config's URL and command entries as mcp-express upstreams; builtins are started. */
function plainUpstream(entry: UpstreamEntry): UpstreamConfig | undefined {
  // The kind is mcp-express's (by its marker fields); `builtin` entries have none.
  const kind = upstreamKind(entry);
  if (kind === "http") {
    const e = entry as Extract<UpstreamEntry, { url: string }>;
    return {
      kind,
      name: e.name,
      url: e.url,
      headers: e.headers,
      grantHeaders: e.grantHeaders,
      timeoutMs: e.timeoutMs,
      protocol: e.protocol,
    };
  }
  if (kind === "stdio") {
    const e = entry as Extract<UpstreamEntry, { command: string }>;
    return {
      kind,
      name: e.name,
      command: e.command,
      args: e.args,
      env: e.env,
      cwd: e.cwd,
      timeoutMs: e.timeoutMs,
    };
  }
  return undefined;
}

/**
 * Turns the config's upstream entries into mcp-express upstreams, starting each
 * `builtin:` one through the factory, then adds the extra (in-process) ones. Fails
 * when none is left or a builtin is named without a factory.
 */
export async function startUpstreams(
  options: StartUpstreamsOptions,
): Promise<{ upstreams: UpstreamConfig[]; notes: string[] }> {
  const upstreams: UpstreamConfig[] = [];
  const notes: string[] = [];
  for (const entry of options.entries) {
    const plain = plainUpstream(entry);
    if (plain) {
      upstreams.push(plain);
      continue;
    }
    const b = entry as { name: string; builtin: string; timeoutMs?: number | undefined };
    if (!options.builtins) {
      throw new GatewayError("CONFIG_INVALID", `built-in upstream "${b.builtin}" is not available`);
    }
    const started = await options.builtins(b, { env: options.env, logger: options.logger });
    options.onCleanup(() => started.close());
    started.onReconnect?.(() => options.onReconnect(b.name));
    upstreams.push(
      b.timeoutMs === undefined
        ? started.upstream
        : { ...started.upstream, timeoutMs: b.timeoutMs },
    );
    if (started.description) notes.push(started.description);
  }
  upstreams.push(...(options.extra ?? []));
  if (upstreams.length === 0) {
    throw new GatewayError("CONFIG_INVALID", "no upstreams configured", [
      {
        path: "upstreams",
        message: "list at least one upstream",
        fix: "add a url, command or builtin upstream",
      },
    ]);
  }
  return { upstreams, notes };
}
