import { z } from "zod";
import { HttpUpstreamTransport } from "../http-upstream.js";
import { ModernHttpTransport, speaksModern } from "../modern/upstream-transport.js";
import { baseUpstreamShape, type UpstreamTransport } from "./common.js";

/** A Streamable HTTP upstream. `headers` carry the upstream's own credentials. */
export const httpUpstreamSchema = z.object({
  kind: z.literal("http"),
  ...baseUpstreamShape,
  url: z.url("give an http(s) URL of the upstream's MCP endpoint"),
  headers: z.record(z.string(), z.string()).optional(),
  /**
   * The MCP revision the upstream speaks: `2025-11-25` (default: sessions, `initialize`),
   * `2026-07-28` (stateless; the gateway translates for its 2025 clients), or `auto`
   * (asked once with `server/discover`: 2026-07-28 when it answers so, else 2025-11-25).
   */
  protocol: z
    .enum(["2025-11-25", "2026-07-28", "auto"], {
      error: 'use "2025-11-25" (sessions), "2026-07-28" (stateless) or "auto"',
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
    if (config.protocol === "auto") {
      // Asked once; an unreachable server is asked again on the next connect.
      let modern: Promise<boolean> | undefined;
      return async () => {
        modern ??= speaksModern(url, headers).catch((e: unknown) => {
          modern = undefined;
          throw e;
        });
        return (await modern)
          ? new ModernHttpTransport(url, headers)
          : new HttpUpstreamTransport(url, headers, scheduler);
      };
    }
    return async () => new HttpUpstreamTransport(url, headers, scheduler);
  },
};
