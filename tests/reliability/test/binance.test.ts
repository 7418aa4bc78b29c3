// The gateway's built-in Binance.US upstream, keyed with the suite's Binance credentials
// and pointed at the mock exchange run as its own process. The binance_us_* tools are
// driven through the real gateway, happy path and every error the exchange can answer
// (5xx, revoked key, 429, 418), the managed stream is fed an event and has its socket
// dropped. The tools must tell the truth each time, and neither the API key nor the
// secret may show up anywhere: gateway output, audit log, metrics, or what clients read.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactSubdir, expectNoSecrets, recordClientText } from "../src/artifacts.js";
import {
  connectClient,
  endSession,
  type GatewayProcess,
  readJsonLines,
  startGateway,
  TSX_IMPORT,
  waitFor,
} from "../src/processes.js";
import { SECRETS } from "../src/secrets.js";

const MOCK_BIN = fileURLToPath(
  new URL("../../../packages/binance-us/src/bin/mock.ts", import.meta.url),
);

/** The mock exchange as its own process, its output kept in the artifacts. */
interface MockProcess {
  restUrl: string;
  wsUrl: string;
  dir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startMockProcess(): Promise<MockProcess> {
  const dir = artifactSubdir("binance-mock");
  const child = spawn(
    process.execPath,
    [
      ...TSX_IMPORT,
      MOCK_BIN,
      "--port",
      "0",
      "--api-key",
      `${SECRETS.binanceKey}:${SECRETS.binanceSecret}`,
    ],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  const file = createWriteStream(join(dir, "mock.log"));
  let out = "";
  const keep = (d: Buffer) => {
    out += String(d);
    file.write(d);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((r) =>
    child.once("exit", () => {
      setImmediate(() => file.end());
      r();
    }),
  );
  const m = await waitFor(
    "the mock exchange to listen",
    () => {
      if (child.exitCode !== null) throw new Error(`mock exited with ${child.exitCode}:\n${out}`);
      const rest = /REST:\s+(http:\/\/\S+?)\/api\/v3\/userDataStream/.exec(out);
      const ws = /WebSocket:\s+(ws:\/\/\S+?)\/ws\//.exec(out);
      return rest && ws ? { rest: rest[1] as string, ws: ws[1] as string } : undefined;
    },
    20_000,
  );
  return {
    restUrl: m.rest,
    wsUrl: m.ws,
    dir,
    child,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

interface ToolOutcome {
  ok: boolean;
  text: string;
  structured: Record<string, unknown> | undefined;
  meta: Record<string, unknown> | undefined;
}

describe("Binance.US tools through the gateway, against the mock exchange process", () => {
  let mock: MockProcess;
  let gw: GatewayProcess;
  let client: Client;
  const listenKeys = new Set<string>();

  const control = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${mock.restUrl}/__mock/${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect(r.status, `${method} /__mock/${path}`).toBe(200);
    return (await r.json()) as Record<string, unknown>;
  };
  const tool = async (name: string, args: Record<string, unknown> = {}): Promise<ToolOutcome> => {
    const r = await client.callTool({ name, arguments: args });
    const text = (r.content as Array<{ text?: string }>).map((c) => c.text ?? "").join("");
    // Everything an agent reads goes to the artifacts: the final scan checks it holds no
    // Binance credential (listen keys are fine there: the create tool returns them).
    recordClientText(`binance ${name}`, text);
    const meta = r._meta as Record<string, unknown> | undefined;
    return {
      ok: !r.isError,
      text,
      structured: r.structuredContent as Record<string, unknown> | undefined,
      meta: meta?.binanceUs as Record<string, unknown> | undefined,
    };
  };
  const create = async () => {
    const r = await tool("binance_us_create_listen_key");
    const key = r.structured?.listenKey;
    if (typeof key === "string") listenKeys.add(key);
    return r;
  };

  beforeAll(async () => {
    mock = await startMockProcess();
    gw = await startGateway({
      name: "binance-gw",
      config: [
        "upstreams:",
        "  - { name: binance-us, builtin: binance-us }",
        "grants:",
        `  agent: { apiKey: "\${TOOLGATE_API_KEY}", policy: policy.yaml }`,
        "audit: { path: audit.jsonl }",
      ].join("\n"),
      files: {
        "policy.yaml": [
          'version: "1"',
          "default: deny",
          "tools:",
          '  "binance_us_*":',
          "    limits: [{ counter: binance_rate, window: minute, max: 200, scope: grant }]",
          "",
        ].join("\n"),
      },
      env: {
        BINANCE_US_API_KEY: SECRETS.binanceKey,
        BINANCE_US_API_SECRET: SECRETS.binanceSecret,
        BINANCE_US_REST_URL: mock.restUrl,
        BINANCE_US_WS_URL: mock.wsUrl,
      },
    });
    client = await connectClient(gw.mcpUrl);
  });
  afterAll(async () => {
    if (client) await endSession(client).catch(() => undefined);
    await gw?.stop();
    await mock?.stop();
    // Listen keys may appear in tool results (their purpose) but never in what the
    // gateway itself writes: its output, audit log and metrics scrapes.
    expectNoSecrets(gw.dir, [...listenKeys]);
    expectNoSecrets(mock.dir);
  });

  it("creates, keeps alive and closes a listen key on the exchange the env points at", async () => {
    const c = await create();
    expect(c.ok, c.text).toBe(true);
    const key = c.structured?.listenKey as string;
    expect(key).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(c.text).toContain(key);
    // The mock process really holds that key: the gateway talked to it, not to a mock of its own.
    const state = (await control("GET", "state")) as { listenKeys?: Array<{ listenKey?: string }> };
    expect(JSON.stringify(state)).toContain(key.slice(0, 8));
    expect(gw.output()).toContain(mock.restUrl);

    const k = await tool("binance_us_keepalive_listen_key", { listenKey: key });
    expect(k.ok, k.text).toBe(true);
    expect(k.text).not.toContain(key);
    const closed = await tool("binance_us_close_listen_key", { listenKey: key });
    expect(closed.ok, closed.text).toBe(true);
    const gone = await tool("binance_us_keepalive_listen_key", { listenKey: key });
    expect(gone.ok).toBe(false);
    expect(gone.text).toMatch(/^LISTEN_KEY_NOT_FOUND: /);
    expect(gone.text).not.toContain(key);
  });

  it("reports 5xx, a revoked key, 429 and 418 truthfully, and recovers", async () => {
    await control("POST", "errors", { method: "POST", status: 503, times: 1 });
    const five = await create();
    expect(five.ok).toBe(false);
    expect(five.text).toMatch(/^SERVER_ERROR_OUTCOME_UNKNOWN: /);

    await control("POST", "api-keys/revoke", { apiKey: SECRETS.binanceKey });
    const revoked = await create();
    expect(revoked.ok).toBe(false);
    expect(revoked.text).toMatch(/^API_KEY_REJECTED: /);
    expect(revoked.text).toMatch(/Fatal: retrying cannot help/);
    expect(revoked.meta).toMatchObject({ code: "API_KEY_REJECTED", fatal: true });
    await control("POST", "api-keys/restore", { apiKey: SECRETS.binanceKey });
    expect((await create()).ok).toBe(true);

    await control("POST", "errors", { method: "PUT", status: 429, retryAfterSec: 1, times: 1 });
    const key = [...listenKeys].at(-1) as string;
    const limited = await tool("binance_us_keepalive_listen_key", { listenKey: key });
    expect(limited.ok).toBe(false);
    expect(limited.text).toMatch(/^RATE_LIMITED: .*Retry after 1 s/);
    expect(limited.meta).toMatchObject({ code: "RATE_LIMITED", status: 429 });
    // Inside the Retry-After window nothing is sent: the connector answers by itself.
    const before = (await control("GET", "requests")) as Record<string, unknown>;
    const held = await create();
    expect(held.ok).toBe(false);
    expect(held.text).toMatch(/not sent: Retry-After still running/);
    expect(await control("GET", "requests")).toEqual(before);
    await new Promise((r) => setTimeout(r, 1_100));

    await control("POST", "errors", { method: "POST", status: 418, retryAfterSec: 1, times: 1 });
    const banned = await create();
    expect(banned.ok).toBe(false);
    expect(banned.text).toMatch(/^IP_BANNED: /);
    await new Promise((r) => setTimeout(r, 1_100));
    await control("DELETE", "errors");
    const back = await waitFor(
      "create to work again",
      async () => {
        const r = await create();
        return r.ok ? r : undefined;
      },
      10_000,
      250,
    );
    expect(back.structured?.listenKey).toMatch(/^[A-Za-z0-9]{64}$/);

    // Failed calls cost no quota: the counter holds only the calls that succeeded.
    const counters = (await (
      await fetch(`${gw.url}/admin/api/counters`, {
        headers: { authorization: `Bearer ${SECRETS.adminToken}` },
      })
    ).json()) as { counters: Array<{ counter: string; used: number }> };
    const audit = readJsonLines<{ outcome: string }>(join(gw.dir, "audit.jsonl"));
    const succeeded = audit.filter((a) => a.outcome === "forwarded").length;
    expect(counters.counters.find((c) => c.counter === "binance_rate")?.used).toBe(succeeded);
  });

  it("runs the managed stream: delivers an event, survives dropped sockets, says so", async () => {
    const status = await waitFor(
      "the managed stream to connect",
      async () => {
        const s = await tool("binance_us_user_stream_status");
        return s.structured?.connected === true ? s : undefined;
      },
      20_000,
      250,
    );
    expect(status.ok).toBe(true);

    const pushed = await control("POST", "events", {
      target: { apiKey: SECRETS.binanceKey },
      type: "executionReport",
      fields: { X: "FILLED" },
    });
    expect(pushed.delivered).toBeGreaterThanOrEqual(1);
    const events = await waitFor(
      "the event through the gateway",
      async () => {
        const e = await tool("binance_us_user_stream_events", { cursor: 0 });
        const list = e.structured?.events as Array<{ type?: string }> | undefined;
        return list?.some((x) => x.type === "executionReport") ? e : undefined;
      },
      10_000,
      200,
    );
    expect(events.ok).toBe(true);

    await control("POST", "drop", {});
    const again = await waitFor(
      "the stream to reconnect",
      async () => {
        const s = await tool("binance_us_user_stream_status");
        const st = s.structured as { connected?: boolean; reconnects?: number } | undefined;
        return st?.connected && (st.reconnects ?? 0) >= 1 ? s : undefined;
      },
      20_000,
      250,
    );
    expect(again.structured?.reconnects).toBeGreaterThanOrEqual(1);

    // The gateway's own record of all this holds no Binance credential and no listen key.
    await gw.metrics();
    expectNoSecrets(gw.dir, [...listenKeys]);
  });
});
