/** Paging and merging of upstream lists (tools, prompts, resources) for a session. */
import { createHash } from "node:crypto";
import { ToolgateMcpError } from "../errors.js";
import { RpcErrorCode, type RpcId, type RpcMessage, rpcError } from "../jsonrpc.js";
import type { UpstreamLink } from "../upstream.js";

/** True when the link is up and its server declared `capability` at initialize. */
export function offers(link: UpstreamLink, capability: "prompts" | "resources"): boolean {
  const caps = link.initResult?.capabilities as Record<string, unknown> | undefined;
  return link.ok && Boolean(caps?.[capability]);
}

/**
 * Fetches every page of a list method. `page`, when given, receives the first page's
 * result and, if the upstream paged, the length of that first page.
 */
export async function fetchAll(
  link: UpstreamLink,
  method: string,
  field: string,
  page?: { first?: Record<string, unknown>; size?: number },
): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  let cursor: unknown;
  for (let n = 0; n < 100; n++) {
    const res = await link.request(method, cursor === undefined ? undefined : { cursor });
    if (res.error) {
      throw new ToolgateMcpError(
        "UPSTREAM_FAILED",
        `upstream ${link.name}: ${method} failed: ${res.error.message}`,
      );
    }
    const items = res.result?.[field];
    if (Array.isArray(items)) out.push(...(items as Array<Record<string, unknown>>));
    cursor = res.result?.nextCursor;
    if (n === 0 && page) {
      page.first = res.result ?? {};
      if (typeof cursor === "string" && Array.isArray(items) && items.length > 0)
        page.size = items.length;
    }
    if (typeof cursor !== "string") break;
  }
  return out;
}

/**
 * Result-level fields of the upstreams' `tools/list`: one upstream's as they are; with
 * several, `_meta` merged, the smallest `ttlMs` (the list is only as fresh as its most
 * short-lived part), and any other field all of them give with the same value.
 */
export function mergeListFields(links: readonly UpstreamLink[]): Record<string, unknown> {
  const all = links.map((l) => l.toolsResult?.fields ?? {});
  if (all.length === 1) return { ...all[0] };
  const out: Record<string, unknown> = {};
  const meta: Record<string, unknown> = {};
  const ttls: number[] = [];
  const keys = new Set(all.flatMap((f) => Object.keys(f)));
  for (const k of keys) {
    if (k === "_meta") {
      for (const f of all) if (isRecord(f._meta)) Object.assign(meta, f._meta);
    } else if (k === "ttlMs") {
      for (const f of all) if (typeof f.ttlMs === "number") ttls.push(f.ttlMs);
    } else {
      const first = JSON.stringify(all[0]?.[k]);
      if (all.every((f) => k in f && JSON.stringify(f[k]) === first)) out[k] = all[0]?.[k];
    }
  }
  if (Object.keys(meta).length > 0) out._meta = meta;
  if (ttls.length > 0) out.ttlMs = Math.min(...ttls);
  return out;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The largest page size an upstream used for its tools, if any paged. */
export function largestPage(links: readonly UpstreamLink[]): number | undefined {
  let max: number | undefined;
  for (const l of links) {
    const s = l.toolsResult?.pageSize;
    if (s !== undefined && (max === undefined || s > max)) max = s;
  }
  return max;
}

/** A short digest of the listed names: a cursor is only good for the list it came from. */
export function listFingerprint(tools: ReadonlyArray<Record<string, unknown>>): string {
  return createHash("sha256")
    .update(tools.map((t) => String(t.name)).join("\u0000"))
    .digest("base64url")
    .slice(0, 16);
}

export function makeCursor(offset: number, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ o: offset, f: fingerprint })).toString("base64url");
}

/** The offset a gateway cursor points at; undefined for anything else or a stale list. */
export function readCursor(cursor: string, fingerprint: string): number | undefined {
  if (cursor.length > 200) return undefined;
  try {
    const c = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (!isRecord(c) || c.f !== fingerprint) return undefined;
    return Number.isSafeInteger(c.o) && (c.o as number) >= 0 ? (c.o as number) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A cursor the gateway did not hand out for this list (or one for a list that has changed
 * since): invalid params, as MCP asks for unknown cursors.
 */
export function badCursor(id: RpcId): RpcMessage {
  return rpcError(
    id,
    RpcErrorCode.INVALID_PARAMS,
    "Invalid params: unknown or expired cursor (list again without cursor)",
  );
}
