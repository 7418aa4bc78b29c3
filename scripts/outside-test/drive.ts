// Drives a README example that serves MCP (copied into the outside project and compiled
// there with the installed packages): `node drive.js <mode> <example.js>`.
// Modes: stdio-v1 / stdio-v2 (the mcp-guard examples, through each SDK's own client over
// stdio) and http (the mcp-express example, over Streamable HTTP).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioV2 } from "@modelcontextprotocol/client/stdio";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as StdioV1 } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

interface Result {
  isError?: boolean;
  content?: Array<{ type: string; text?: string }>;
  _meta?: Record<string, unknown>;
}
interface AnyClient {
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  callTool(p: { name: string; arguments?: Record<string, unknown> }): Promise<unknown>;
  close(): Promise<void>;
}

const [mode, example] = process.argv.slice(2);
if (mode === undefined || example === undefined)
  throw new Error("usage: drive <mode> <example.js>");

const text = (r: Result) => r.content?.[0]?.text ?? "";
const code = (r: Result) => (r._meta?.["toolgate/decision"] as { code?: string } | undefined)?.code;
const call = async (c: AnyClient, name: string, args: Record<string, unknown> = {}) =>
  (await c.callTool({ name, arguments: args })) as Result;

/** The mcp-guard README examples: 3 payments a minute below 1,000, admin tools hidden. */
async function guardExample(client: AnyClient): Promise<void> {
  const tools = (await client.listTools()).tools.map((t) => t.name);
  assert.deepEqual(tools, ["send_payment"], "admin_reset must be hidden");
  for (let i = 0; i < 3; i++) {
    const ok = await call(client, "send_payment", { to: "bob", amount: 10 });
    assert.equal(text(ok), "sent 10 to bob");
  }
  const limited = await call(client, "send_payment", { to: "bob", amount: 10 });
  assert.equal(limited.isError, true);
  assert.match(
    text(limited),
    /^denied by policy: rate limit "payments" reached: 3 .*retry in 60s$/,
  );
  assert.equal(code(limited), "RATE_LIMITED");
  const big = await call(client, "send_payment", { to: "bob", amount: 5000 });
  assert.equal(text(big), 'denied by policy: argument "args.amount" must be less than 1000');
  assert.equal(code(await call(client, "admin_reset")), "TOOL_HIDDEN");
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The mcp-express README example: started as its own process, then used as a client would. */
async function httpExample(): Promise<void> {
  const port = await freePort();
  const child = spawn(process.execPath, [example as string], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.setEncoding("utf8");
  const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no endpoint line within 20s: ${out}`)), 20_000);
    child.stdout.on("data", (d: string) => {
      out += d;
      if (out.includes(`http://127.0.0.1:${port}/mcp`)) {
        clearTimeout(t);
        resolve();
      }
    });
    void exited.then((c) => reject(new Error(`example exited early (${c}): ${out}`)));
  });
  const url = new URL(`http://127.0.0.1:${port}/mcp`);
  const connect = async (key: string) => {
    const c = new ClientV1({ name: "outside", version: "1.0.0" });
    await c.connect(
      new StreamableHTTPClientTransport(url, {
        requestInit: { headers: { Authorization: `Bearer ${key}` } },
      }),
    );
    return c as unknown as AnyClient;
  };
  try {
    await assert.rejects(connect("wrong-key"), "a wrong key must be refused");
    const client = await connect("sk-demo-123");
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(tools, ["create_listen_key", "transfer"]);
    for (let i = 0; i < 10; i++)
      assert.equal(text(await call(client, "create_listen_key")), "listen key created");
    const limited = await call(client, "create_listen_key");
    assert.equal(limited.isError, true);
    assert.match(text(limited), /rate limit "create" reached: 10 per minute per grant; retry in/);
    assert.equal(text(await call(client, "transfer", { amount: 50 })), "moved 50");
    const refused = await call(client, "transfer", { amount: 500 });
    assert.equal(refused.isError, true);
    assert.equal(text(refused), "denied by policy: approval rejected");
    await client.close();
    assert.match(out, /demo create_listen_key: forwarded/);
    assert.match(out, /demo transfer: approval_rejected/);
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, "SIGTERM must drain and exit 0");
}

if (mode === "http") {
  await httpExample();
} else if (mode === "stdio-v1") {
  const client = new ClientV1({ name: "outside", version: "1.0.0" });
  await client.connect(new StdioV1({ command: process.execPath, args: [example] }));
  await guardExample(client as unknown as AnyClient).finally(() => client.close());
} else if (mode === "stdio-v2") {
  const client = new ClientV2({ name: "outside", version: "1.0.0" });
  await client.connect(new StdioV2({ command: process.execPath, args: [example] }));
  await guardExample(client as unknown as AnyClient).finally(() => client.close());
} else {
  throw new Error(`unknown mode ${mode}`);
}
console.log(`drive ${mode}: ok`);
