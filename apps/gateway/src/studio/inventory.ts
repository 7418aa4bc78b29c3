import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { resolveUpstream, type UpstreamConfig } from "@toolgate/mcp-express";
import type { ToolDefinition } from "../risk/classify.js";

/** One tool as agents reach it through the gateway. */
export interface InventoryTool {
  /** The name agents call (prefixed `<upstream>__` when two upstreams share a name). */
  readonly name: string;
  readonly upstream: string;
  readonly definition: ToolDefinition;
}

/** How listing one upstream went. */
export interface InventoryUpstream {
  readonly name: string;
  readonly ok: boolean;
  readonly tools: number;
  /** Why it could not be listed (no credentials or addresses in it). */
  readonly detail?: string | undefined;
}

/** A snapshot of every tool behind the gateway. */
export interface Inventory {
  readonly tools: readonly InventoryTool[];
  readonly upstreams: readonly InventoryUpstream[];
  /** When it was listed (epoch ms). */
  readonly at: number;
}

/** Options of {@link createToolInventory}. */
export interface ToolInventoryOptions {
  readonly upstreams: readonly UpstreamConfig[];
  /** How long a listing is reused. Default 60 s; a refresh is honoured after `minAgeMs`. */
  readonly ttlMs?: number;
  /** Youngest listing a forced refresh replaces (keeps a busy button from spawning stdio servers). Default 5 s. */
  readonly minAgeMs?: number;
  readonly timeoutMs?: number;
  /** Same separator as the MCP endpoint (mcp-express default `__`). */
  readonly separator?: string;
  readonly now?: () => number;
}

/** The studio's view of the upstreams' tools; see {@link createToolInventory}. */
export interface ToolInventory {
  list(opts?: { refresh?: boolean }): Promise<Inventory>;
}

async function listOver(transport: Transport, timeoutMs: number): Promise<ToolDefinition[]> {
  const client = new Client({ name: "toolgate-studio", version: "0.1.0" });
  try {
    await client.connect(transport, { timeout: timeoutMs });
    const tools: ToolDefinition[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : {}, { timeout: timeoutMs });
      tools.push(...(page.tools as ToolDefinition[]));
      cursor = page.nextCursor;
    } while (cursor);
    return tools;
  } finally {
    await client.close().catch(() => {});
  }
}

/** Lists one upstream over the same kind of connection the MCP endpoint uses. */
async function listUpstream(config: UpstreamConfig, timeoutMs: number): Promise<ToolDefinition[]> {
  const u = resolveUpstream(config);
  if (u.kind === "http") {
    return listOver(
      new StreamableHTTPClientTransport(new URL(u.url), {
        requestInit: { headers: u.headers ?? {} },
      }),
      timeoutMs,
    );
  }
  if (u.kind === "stdio") {
    // Like the endpoint: the child gets the configured env only (or the SDK's safe
    // default), never the gateway's own environment with its tokens.
    const params: ConstructorParameters<typeof StdioClientTransport>[0] = {
      command: u.command,
      args: u.args ?? [],
      stderr: "ignore",
    };
    if (u.env) params.env = u.env;
    if (u.cwd) params.cwd = u.cwd;
    return listOver(new StdioClientTransport(params), timeoutMs);
  }
  // A factory gives this listing its own server; a shared instance is left alone, because
  // connecting to it would take its single connection away from a live session.
  if (typeof u.server !== "function") {
    throw new Error("a shared in-process server is listed only by its sessions");
  }
  const instance = await u.server();
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  try {
    await instance.connect(serverSide);
    return await listOver(clientSide, timeoutMs);
  } finally {
    await instance.close().catch(() => {});
  }
}

/**
 * Lists every upstream's tools the way the MCP endpoint exposes them: bare names, or
 * `<upstream><separator><name>` for a name two upstreams share (the endpoint's `auto`
 * namespacing). Listings are cached for `ttlMs` and made one at a time, so a page that
 * polls cannot make the gateway spawn a stdio server per request.
 *
 * @example
 * const inv = createToolInventory({ upstreams });
 * (await inv.list()).tools.map((t) => t.name);
 */
export function createToolInventory(options: ToolInventoryOptions): ToolInventory {
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? 60_000;
  const minAgeMs = options.minAgeMs ?? 5_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const sep = options.separator ?? "__";
  let cached: Inventory | undefined;
  let running: Promise<Inventory> | undefined;

  async function build(): Promise<Inventory> {
    const results = await Promise.all(
      options.upstreams.map(async (u) => {
        try {
          const tools = await listUpstream(u, timeoutMs);
          return { name: u.name, ok: true, tools };
        } catch (err) {
          // Only the first line: SDK errors can quote response bodies.
          const detail = String((err as Error).message ?? err)
            .split("\n")[0]
            ?.slice(0, 200);
          return { name: u.name, ok: false, tools: [] as ToolDefinition[], detail };
        }
      }),
    );
    const count = new Map<string, number>();
    for (const r of results)
      for (const t of r.tools) count.set(t.name, (count.get(t.name) ?? 0) + 1);
    const multi = results.length > 1;
    const seen = new Set<string>();
    const tools: InventoryTool[] = [];
    for (const r of results) {
      for (const t of r.tools) {
        const name = multi && (count.get(t.name) ?? 0) > 1 ? `${r.name}${sep}${t.name}` : t.name;
        if (seen.has(name)) continue;
        seen.add(name);
        tools.push({ name, upstream: r.name, definition: t });
      }
    }
    return {
      tools,
      upstreams: results.map((r) => ({
        name: r.name,
        ok: r.ok,
        tools: r.tools.length,
        detail: "detail" in r ? r.detail : undefined,
      })),
      at: now(),
    };
  }

  return {
    list(opts = {}) {
      const age = cached ? now() - cached.at : Number.POSITIVE_INFINITY;
      if (cached && age < ttlMs && !(opts.refresh && age >= minAgeMs))
        return Promise.resolve(cached);
      running ??= build()
        .then((inv) => {
          cached = inv;
          return inv;
        })
        .finally(() => {
          running = undefined;
        });
      return running;
    },
  };
}
