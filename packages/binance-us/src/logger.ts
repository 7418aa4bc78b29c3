/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Minimal structured logger the connector writes to. Any pino-style logger can be adapted
 * with four one-line methods.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything; the default, so a library stays quiet unless asked. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/**
 * Masks a listen key for logs: it is a bearer credential for the account feed, so only
 * its first four characters are ever shown.
 *
 * @example
 * ```ts
 * maskListenKey("pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"); // "pqia…"
 * ```
 */
export function maskListenKey(listenKey: string | undefined): string | undefined {
  if (listenKey === undefined) return undefined;
  return `${listenKey.slice(0, 4)}…`;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * A logger writing one JSON line per entry to a sink (stderr by default, because stdout
 * carries the MCP stdio transport).
 *
 * @example
 * ```ts
 * const logger = createJsonLogger({ level: "info" });
 * ```
 */
export function createJsonLogger(
  options: { level?: LogLevel; write?: (line: string) => void; now?: () => number } = {},
): Logger {
  const min = LEVELS[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < min) return;
    write(JSON.stringify({ time: now(), level, msg: message, ...fields }));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** What a redacting logger must hide: secrets entirely, listen keys down to a prefix. */
export interface RedactionSources {
  /** API key, API secret: replaced by `[redacted]`. */
  secrets: () => Iterable<string | undefined>;
  /** Listen keys currently or previously in use: masked to their first four characters. */
  listenKeys?: () => Iterable<string | undefined>;
}

/**
 * Wraps a logger so that API keys, secrets and listen keys are scrubbed from every
 * message and field before it is written. This is the last line of defence: call sites
 * already avoid logging secrets, this guarantees it.
 *
 * @example
 * ```ts
 * const log = createRedactingLogger(createJsonLogger(), { secrets: () => [apiKey, apiSecret] });
 * ```
 */
export function createRedactingLogger(inner: Logger, sources: RedactionSources): Logger {
  const scrub = (text: string): string => {
    let out = text;
    for (const secret of sources.secrets()) {
      if (secret && secret.length >= 4 && out.includes(secret)) {
        out = out.split(secret).join("[redacted]");
      }
    }
    for (const key of sources.listenKeys?.() ?? []) {
      if (key && key.length >= 8 && out.includes(key)) {
        out = out.split(key).join(maskListenKey(key) ?? "");
      }
    }
    return out;
  };
  const scrubValue = (value: unknown, depth: number): unknown => {
    if (typeof value === "string") return scrub(value);
    if (depth > 4 || value === null || typeof value !== "object") return value;
    if (value instanceof Error) return { name: value.name, message: scrub(value.message) };
    if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = scrubValue(v, depth + 1);
    return out;
  };
  const wrap =
    (level: LogLevel) =>
    (message: string, fields?: Record<string, unknown>): void => {
      inner[level](
        scrub(message),
        fields === undefined ? undefined : (scrubValue(fields, 0) as Record<string, unknown>),
      );
    };
  return { debug: wrap("debug"), info: wrap("info"), warn: wrap("warn"), error: wrap("error") };
}
