import { parseArgs } from "node:util";
import {
  describeZodError,
  type InjectErrorSpec,
  injectErrorSpecSchema,
  type MockTunables,
  mockTunablesSchema,
} from "./options.js";

/** One command-line flag that sets a run-time option. */
interface TunableFlag {
  flag: string;
  option: keyof MockTunables;
  kind: "int" | "enum";
  help: string;
}

/** Every run-time option has a flag, so bots in any language can drive the mock. */
export const TUNABLE_FLAGS: readonly TunableFlag[] = [
  {
    flag: "key-validity-ms",
    option: "keyValidityMs",
    kind: "int",
    help: "listen key validity (default 3600000)",
  },
  {
    flag: "ping-interval-ms",
    option: "pingIntervalMs",
    kind: "int",
    help: "server ping interval (default 180000)",
  },
  {
    flag: "pong-timeout-ms",
    option: "pongTimeoutMs",
    kind: "int",
    help: "disconnect without pong after (default 600000)",
  },
  {
    flag: "max-age-ms",
    option: "connectionMaxAgeMs",
    kind: "int",
    help: "connection cut (default 86400000)",
  },
  {
    flag: "weight-limit",
    option: "weightLimitPerMinute",
    kind: "int",
    help: "request weight per IP per minute (default 1200)",
  },
  {
    flag: "ban-after-early-retries",
    option: "banAfterEarlyRetries",
    kind: "int",
    help: "calls inside a 429's Retry-After before a 418 (default 3)",
  },
  {
    flag: "ban-duration-sec",
    option: "banDurationSec",
    kind: "int",
    help: "first ban length, doubling per repeat (default 120)",
  },
  {
    flag: "max-incoming-per-sec",
    option: "maxIncomingMessagesPerSec",
    kind: "int",
    help: "incoming frames per second per stream socket (default 5)",
  },
  {
    flag: "on-incoming-limit",
    option: "onIncomingLimit",
    kind: "enum",
    help: "disconnect | count (default disconnect)",
  },
  {
    flag: "unknown-key-on-connect",
    option: "unknownKeyOnConnect",
    kind: "enum",
    help: "reject | close | silent (default reject)",
  },
  {
    flag: "on-key-expiry",
    option: "onKeyExpiry",
    kind: "enum",
    help: "event | event-close | close | keep (default event: listenKeyExpired, socket stays open and silent)",
  },
  {
    flag: "request-log-limit",
    option: "requestLogLimit",
    kind: "int",
    help: "request log entries kept (default 1000)",
  },
];

/** What the command line asks for. */
export interface MockCli {
  help: boolean;
  host: string | undefined;
  port: number | undefined;
  apiKeys: Record<string, { secret?: string; account?: string }>;
  tunables: MockTunables;
  faults: InjectErrorSpec[];
  fakeClock: boolean;
  verbose: boolean;
}

/** The usage text; lists every flag. */
export function mockUsage(): string {
  const rows = TUNABLE_FLAGS.map(
    (f) => `  --${`${f.flag} <${f.kind === "int" ? "n" : "mode"}>`.padEnd(32)}${f.help}`,
  );
  return [
    "Usage: binance-us-mock [options]",
    "  --host <host>                   interface to listen on (default 127.0.0.1)",
    "  --port <port>                   port, 0 for a free one (default 0)",
    "  --api-key <KEY[:SECRET[:ACCOUNT]]> accept this API key (repeatable); a SECRET enables the",
    "                                  signed endpoints (account, openOrders, order); keys naming",
    "                                  one ACCOUNT share its listen key. Without any, every",
    "                                  well-formed key (64 letters/digits) is accepted.",
    ...rows,
    "  --fault <json>                  queue a fault at start (repeatable), same body as",
    '                                  POST /__mock/errors, e.g. \'{"status":429,"times":2}\'',
    "  --fake-clock                    time moves only via POST /__mock/clock/advance",
    "  --verbose                       log every request (API keys masked)",
    "  --help",
  ].join("\n");
}

function int(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`--${flag} must be an integer, got "${raw}"`);
  return n;
}

function apiKeyOf(spec: string): [string, { secret?: string; account?: string }] {
  const [key = "", secret, account] = spec.split(":");
  if (key === "")
    throw new Error("--api-key needs a key before the colon: --api-key KEY[:SECRET[:ACCOUNT]]");
  return [key, { ...(secret ? { secret } : {}), ...(account ? { account } : {}) }];
}

function faultOf(raw: string): InjectErrorSpec {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new Error(`--fault must be JSON such as '{"status":503}', got ${raw}`);
  }
  const r = injectErrorSpecSchema.safeParse(json);
  if (!r.success) throw new Error(`--fault: ${describeZodError(r.error)}`);
  return json as InjectErrorSpec;
}

/** Parses the bin's arguments; throws an Error whose message names the flag and the fix. */
export function parseMockArgs(args: string[]): MockCli {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    host: { type: "string" },
    port: { type: "string" },
    "api-key": { type: "string", multiple: true },
    fault: { type: "string", multiple: true },
    "fake-clock": { type: "boolean" },
    verbose: { type: "boolean" },
    help: { type: "boolean" },
  };
  for (const f of TUNABLE_FLAGS) options[f.flag] = { type: "string" };
  const { values } = parseArgs({ args, options, strict: true, allowPositionals: false });
  const v = values as Record<string, string | string[] | boolean | undefined>;
  const raw: Record<string, unknown> = {};
  for (const f of TUNABLE_FLAGS) {
    const given = v[f.flag] as string | undefined;
    if (given !== undefined) raw[f.option] = f.kind === "int" ? int(f.flag, given) : given;
  }
  const tunables = mockTunablesSchema.safeParse(raw);
  if (!tunables.success) {
    const flagOf = (o: string) => TUNABLE_FLAGS.find((f) => f.option === o)?.flag ?? o;
    throw new Error(
      tunables.error.issues.map((i) => `--${flagOf(String(i.path[0]))}: ${i.message}`).join("; "),
    );
  }
  return {
    help: v.help === true,
    host: v.host as string | undefined,
    port: v.port === undefined ? undefined : int("port", v.port as string),
    apiKeys: Object.fromEntries(((v["api-key"] as string[] | undefined) ?? []).map(apiKeyOf)),
    tunables: tunables.data,
    faults: ((v.fault as string[] | undefined) ?? []).map(faultOf),
    fakeClock: v["fake-clock"] === true,
    verbose: v.verbose === true,
  };
}
