import { createRequire } from "node:module";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { createBinanceUsMcpServer } from "@toolgate/binance-us/mcp";
import { compilePolicy, createPolicyEngine } from "@toolgate/policy-engine";
import { beforeAll, describe, expect, it } from "vitest";
import {
  classifyToolRisk,
  type RiskCategory,
  type RiskLevel,
  type ToolDefinition,
} from "./classify.js";
import { recommendRule } from "./recommend.js";

type Row = [tool: string, category: RiskCategory, risk: RiskLevel, verdict: string, reason: RegExp];

/** Lists a server's tools the way the gateway sees them (`tools/list`). */
async function listTools(client: Client): Promise<ToolDefinition[]> {
  const out: ToolDefinition[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    out.push(...(page.tools as ToolDefinition[]));
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

function check(defs: readonly ToolDefinition[], rows: readonly Row[]) {
  const byName = new Map(defs.map((d) => [d.name, d]));
  for (const [tool, category, risk, verdict, reason] of rows) {
    const def = byName.get(tool);
    expect(def, `${tool} is listed`).toBeDefined();
    const a = classifyToolRisk(def as ToolDefinition);
    const text = a.reasons.map((r) => r.text).join(" | ");
    expect({ tool, category: a.category, risk: a.risk }, text).toEqual({ tool, category, risk });
    expect(recommendRule(a).verdict, `${tool}: ${text}`).toBe(verdict);
    expect(text, tool).toMatch(reason);
  }
}

describe("risk classifier on the builtin Binance.US tools (real definitions)", () => {
  let defs: ToolDefinition[];
  beforeAll(async () => {
    const server = createBinanceUsMcpServer({ apiKey: "k".repeat(64), managedStream: "off" });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await server.connect(a);
    const client = new Client({ name: "risk-test", version: "0" });
    await client.connect(b);
    defs = await listTools(client);
    await client.close();
    await server.close();
  });

  it("judges all five", () => {
    expect(defs.map((d) => d.name).sort()).toEqual([
      "binance_us_close_listen_key",
      "binance_us_create_listen_key",
      "binance_us_keepalive_listen_key",
      "binance_us_user_stream_events",
      "binance_us_user_stream_status",
    ]);
    check(defs, [
      // Opens a live feed of balances, orders and trades and hands out its key.
      [
        "binance_us_create_listen_key",
        "execute",
        "high",
        "limit",
        /returns "listenKey", a credential.*live feed of account data/,
      ],
      ["binance_us_keepalive_listen_key", "write", "low", "allow", /heartbeat/],
      [
        "binance_us_close_listen_key",
        "destructive",
        "high",
        "approve",
        /destructiveHint: true.*ends the stream for every process/,
      ],
      ["binance_us_user_stream_status", "read", "medium", "limit", /openWorldHint/],
      ["binance_us_user_stream_events", "read", "medium", "limit", /it reads/],
    ]);
  });

  it("recommends the limit the shipped policy enforces for create, and generous room for keepalive", () => {
    const create = recommendRule(
      classifyToolRisk(defs.find((d) => d.name === "binance_us_create_listen_key")!),
    );
    expect(create.rule.limits).toEqual([
      { counter: "binance_us_create_listen_key_rate", window: "minute", max: 10, scope: "grant" },
    ]);
    const keepalive = recommendRule(
      classifyToolRisk(defs.find((d) => d.name === "binance_us_keepalive_listen_key")!),
    );
    expect(keepalive.rule).toMatchObject({ action: "allow", limits: [{ max: 120 }] });
  });
});

describe("risk classifier on the MCP reference server (server-everything, real definitions)", () => {
  let defs: ToolDefinition[];
  beforeAll(async () => {
    const require = createRequire(import.meta.url);
    const entry = require.resolve("@modelcontextprotocol/server-everything/dist/index.js");
    // Declaring sampling, elicitation and roots makes it register its conditional tools too.
    const client = new Client(
      { name: "risk-test", version: "0" },
      { capabilities: { sampling: {}, elicitation: {}, roots: {} } },
    );
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [entry, "stdio"],
        stderr: "ignore",
      }),
    );
    defs = await listTools(client);
    await client.close();
  }, 20_000);

  it("judges every tool it lists, and contradicts the read-only claim of get-env", () => {
    check(defs, [
      ["echo", "read", "low", "allow", /annotated readOnlyHint: true \(agrees\)/],
      ["get-sum", "read", "low", "allow", /name says "get"/],
      ["get-tiny-image", "read", "low", "allow", /it reads/],
      ["get-annotated-message", "read", "low", "allow", /it reads/],
      ["get-resource-links", "read", "low", "allow", /it reads/],
      ["get-resource-reference", "read", "low", "allow", /it reads/],
      ["get-structured-content", "read", "low", "allow", /it reads/],
      // Read-only is true, harmless is not: it prints every environment variable.
      ["get-env", "read", "high", "limit", /environment variables.*not harmless/],
      ["gzip-file-as-resource", "read", "medium", "limit", /"data" is a URL the server fetches/],
      ["toggle-simulated-logging", "write", "medium", "limit", /changes state/],
      ["toggle-subscriber-updates", "write", "medium", "limit", /changes state/],
      ["trigger-long-running-operation", "read", "low", "allow", /only reads/],
    ]);
    expect(classifyToolRisk(defs.find((d) => d.name === "get-env")!).contradicted).toEqual([
      "readOnlyHint: true (as harmless)",
    ]);
    const conditional: Row[] = [
      ["get-roots-list", "read", "low", "allow", /it reads/],
      ["trigger-sampling-request", "execute", "medium", "limit", /asks the client/],
      ["trigger-elicitation-request", "execute", "medium", "limit", /starts something/],
    ];
    check(defs, conditional);
    // Every listed tool gets a verdict with at least one reason.
    for (const d of defs) expect(classifyToolRisk(d).reasons.length).toBeGreaterThan(0);
  });
});

const obj = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: "object",
  properties,
  required,
});
const str = (description = "") => ({ type: "string", description });
const num = (description = "") => ({ type: "number", description });

/** Typical file, shell, payment and messaging tools, shaped like the popular servers'. */
const TYPICAL: ToolDefinition[] = [
  {
    name: "read_file",
    description: "Read the complete contents of a file from the file system.",
    inputSchema: obj({ path: str() }, ["path"]),
    annotations: { readOnlyHint: true },
  },
  {
    name: "write_file",
    description: "Create a new file or completely overwrite an existing file with new content.",
    inputSchema: obj({ path: str(), content: str() }, ["path", "content"]),
  },
  {
    name: "list_directory",
    description: "Get a detailed listing of all files and directories in a specified path.",
    inputSchema: obj({ path: { type: "string", enum: ["/srv/data", "/srv/reports"] } }),
    annotations: { readOnlyHint: true },
  },
  {
    name: "move_file",
    description: "Move or rename files and directories.",
    inputSchema: obj({ source: str(), destination: str() }),
  },
  {
    // A lying upstream: the name says delete, the annotation says read-only.
    name: "delete_file",
    description: "Deletes a file.",
    inputSchema: obj({ path: str() }),
    annotations: { readOnlyHint: true, destructiveHint: false },
  },
  {
    name: "execute_command",
    description: "Execute a shell command on the host and return its output.",
    inputSchema: obj({ command: str("The command line"), cwd: str() }, ["command"]),
  },
  {
    name: "run_python",
    description: "Runs Python code in a sandbox.",
    inputSchema: obj({ code: str() }),
  },
  {
    name: "create_payment_intent",
    description: "Creates a PaymentIntent to collect a payment from a customer.",
    inputSchema: obj({ amount: { type: "integer" }, currency: str() }, ["amount", "currency"]),
  },
  {
    name: "create_refund",
    description: "Refunds a charge that has previously been created.",
    inputSchema: obj({ payment_intent: str(), amount: { type: "integer" } }),
  },
  {
    name: "transfer_funds",
    description: "Moves money between accounts.",
    inputSchema: obj({ amount: num(), to_account: str() }),
  },
  {
    name: "get_balance",
    description: "Returns the account balance.",
    inputSchema: obj({}),
  },
  {
    name: "list_transactions",
    description: "Lists recent transactions.",
    inputSchema: obj({ limit: num() }),
  },
  {
    name: "send_email",
    description: "Sends an email.",
    inputSchema: obj({ to: str(), subject: str(), body: str() }),
  },
  {
    name: "create_issue",
    description: "Create a new issue in a GitHub repository.",
    inputSchema: obj({ owner: str(), repo: str(), title: str(), body: str() }),
  },
  {
    name: "merge_pull_request",
    description: "Merge a pull request.",
    inputSchema: obj({ owner: str(), repo: str(), pull_number: num() }),
  },
  {
    name: "fetch",
    description: "Fetches a URL from the internet and extracts its contents as markdown.",
    inputSchema: obj({ url: { type: "string", format: "uri" } }, ["url"]),
    annotations: { readOnlyHint: true, openWorldHint: true },
  },
  {
    name: "search_web",
    description: "Search the web.",
    inputSchema: obj({ query: str() }),
    annotations: { openWorldHint: true },
  },
  { name: "frobnicate", description: "", inputSchema: obj({}) },
];

describe("risk classifier on typical file, shell, payment and messaging tools", () => {
  it("judges each one, with reasons", () => {
    check(TYPICAL, [
      ["read_file", "read", "medium", "limit", /"path" is a file path/],
      ["write_file", "write", "high", "limit", /"path" is a file path: it can write/],
      // The enum pins where it may look.
      ["list_directory", "read", "low", "allow", /it reads/],
      // Both ends are the caller's choice: it can overwrite anything the server can reach.
      ["move_file", "write", "high", "limit", /name says "move".*"source" is a file path/],
      ["delete_file", "destructive", "high", "approve", /name says "delete"/],
      ["execute_command", "execute", "high", "approve", /"command" is code or a command/],
      ["run_python", "execute", "high", "approve", /"code" is code/],
      ["create_payment_intent", "money", "high", "approve", /"payment".*"amount", "currency"/],
      ["create_refund", "money", "high", "approve", /"refund"|refunds/],
      ["transfer_funds", "money", "high", "approve", /name says "transfer": it moves money/],
      ["get_balance", "read", "low", "allow", /name says "get"/],
      ["list_transactions", "read", "low", "allow", /name says "list"/],
      ["send_email", "write", "high", "limit", /"send" acts in your name.*"to" names a recipient/],
      ["create_issue", "write", "medium", "limit", /changes state/],
      ["merge_pull_request", "write", "high", "limit", /"merge" acts in your name/],
      ["fetch", "read", "medium", "limit", /"url" is a URL the server fetches/],
      ["search_web", "read", "medium", "limit", /openWorldHint/],
      ["frobnicate", "other", "medium", "limit", /review it/],
    ]);
  });

  it("reports annotation claims the definition contradicts", () => {
    const lying = classifyToolRisk(TYPICAL.find((t) => t.name === "delete_file")!);
    expect(lying.contradicted).toEqual(["readOnlyHint: true", "destructiveHint: false"]);
    expect(lying.reasons.map((r) => r.text).join("\n")).toContain(
      'annotated readOnlyHint: true, but name says "delete"',
    );
    // A claim of danger is believed even when the name sounds harmless.
    const claimed = classifyToolRisk({ name: "get_x", annotations: { destructiveHint: true } });
    expect(claimed.category).toBe("destructive");
    // A read-only claim is believed when nothing contradicts it.
    expect(
      classifyToolRisk({ name: "frobnicate", annotations: { readOnlyHint: true } }).category,
    ).toBe("read");
  });

  it("splits names in every common spelling and never matches inside words", () => {
    expect(classifyToolRisk({ name: "createOrder" }).category).toBe("money");
    expect(classifyToolRisk({ name: "listOrders" }).category).toBe("read");
    expect(classifyToolRisk({ name: "get-preset" }).category).toBe("read"); // not "reset"
    expect(classifyToolRisk({ name: "withdraw_funds" }).category).toBe("money");
    expect(classifyToolRisk({ name: "HTTPRequestRun" }).category).toBe("execute");
  });

  it("turns high-risk file and URL arguments into argument conditions that compile", () => {
    const write = recommendRule(classifyToolRisk(TYPICAL.find((t) => t.name === "write_file")!));
    expect(write.rule.deny_if).toEqual([
      expect.objectContaining({ path: "args.path", op: "contains", value: ".." }),
    ]);
    const tools: Record<string, unknown> = {};
    for (const t of TYPICAL) tools[t.name] = recommendRule(classifyToolRisk(t)).rule;
    const policy = compilePolicy({ version: "1", default: "deny", tools } as never);
    const engine = createPolicyEngine({});
    const id = { grant: "g" };
    expect(
      engine.evaluate(policy, { name: "write_file", arguments: { path: "../etc/passwd" } }, id)
        .effect,
    ).toBe("deny");
    expect(
      engine.evaluate(policy, { name: "write_file", arguments: { path: "notes.txt" } }, id).effect,
    ).toBe("allow");
    expect(engine.evaluate(policy, { name: "send_email" }, id).counters[0]?.max).toBe(10);
    expect(engine.evaluate(policy, { name: "delete_file" }, id).effect).toBe("require_approval");
  });
});
