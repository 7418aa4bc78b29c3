import { z } from "zod";
import { HttpUpstreamTransport } from "../http-upstream.js";
import { ModernHttpTransport } from "../modern/upstream-transport.js";
import { baseUpstreamShape, type UpstreamTransport } from "./common.js";

/** A Streamable HTTP upstream. `headers` carry the upstream's own credentials. */
export const httpUpstreamSchema = z.object({
  kind: z.literal("http"),
  ...baseUpstreamShape,
  url: z.url("give an http(s) URL of the upstream's MCP endpoint"),
  headers: z.record(z.string(), z.string()).optional(),
  /**
   * The MCP revision the upstream speaks: `2025-11-25` (default: sessions, `initialize`)
   * or `2026-07-28` (stateless; the gateway translates for its 2025 clients).
   */
  protocol: z
    .enum(["2025-11-25", "2026-07-28"], {
      error: 'use "2025-11-25" (sessions) or "2026-07-28" (stateless)',
    })
    .optional(),
});

/** Streamable HTTP upstreams: reconnected after a restart (the session is re-opened). */
export const httpTransport: UpstreamTransport<z.output<typeof httpUpstreamSchema>> = {
  kind: "http",
  schema: httpUpstreamSchema,
  marker: "url",
  supervise: () => true,
  shared: () => false,
  factory(config, scheduler) {
    const url = new URL(config.url);
    const headers = config.headers ?? {};
    if (config.protocol === "2026-07-28") return async () => new ModernHttpTransport(url, headers);
    return async () => new HttpUpstreamTransport(url, headers, scheduler);
  },
};
