import { z } from "zod";
import { HttpUpstreamTransport } from "../http-upstream.js";
import { ModernHttpTransport, speaksModern } from "../modern/upstream-transport.js";
import { baseUpstreamShape, type UpstreamTransport } from "./common.js";
import { checkHeaderTemplates, renderHeaders } from "./header-template.js";

/**
 * A Streamable HTTP upstream. `headers` carry the upstream's own credentials; a value may
 * say who is calling with `{{grant}}` or `{{subject}}`. `grantHeaders` adds (or
 * replaces) headers for one grant's connections, e.g. that grant's own account key.
 * Nothing of the client's request (its `Authorization` above all) is ever copied.
 */
export const httpUpstreamSchema = z
  .object({
    kind: z.literal("http"),
    ...baseUpstreamShape,
    url: z.url("give an http(s) URL of the upstream's MCP endpoint"),
    headers: z.record(z.string(), z.string()).optional(),
    grantHeaders: z.record(z.string(), z.record(z.string(), z.string())).optional(),
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
  })
  .superRefine((c, ctx) => {
    if (c.headers) checkHeaderTemplates(c.headers, ctx, ["headers"]);
    for (const [grant, headers] of Object.entries(c.grantHeaders ?? {})) {
      checkHeaderTemplates(headers, ctx, ["grantHeaders", grant]);
    }
  });

/**
 * Streamable HTTP upstreams: reconnected after a restart (the session is re-opened).
 * Each connection gets the headers of the identity it is opened for.
 */
export const httpTransport: UpstreamTransport<z.output<typeof httpUpstreamSchema>> = {
  kind: "http",
  schema: httpUpstreamSchema,
  marker: "url",
  supervise: () => true,
  shared: () => false,
  factory(config, scheduler) {
    const url = new URL(config.url);
    const headers = config.headers ?? {};
    if (config.protocol === "2026-07-28") {
      return async (who) =>
        new ModernHttpTransport(url, renderHeaders(headers, config.grantHeaders, who));
    }
    if (config.protocol === "auto") {
      // Asked once (with the fixed headers only); an unreachable server is asked again on
      // the next connect.
      let modern: Promise<boolean> | undefined;
      return async (who) => {
        modern ??= speaksModern(url, renderHeaders(headers, undefined, undefined)).catch(
          (e: unknown) => {
            modern = undefined;
            throw e;
          },
        );
        const rendered = renderHeaders(headers, config.grantHeaders, who);
        return (await modern)
          ? new ModernHttpTransport(url, rendered)
          : new HttpUpstreamTransport(url, rendered, scheduler);
      };
    }
    return async (who) =>
      new HttpUpstreamTransport(url, renderHeaders(headers, config.grantHeaders, who), scheduler);
  },
};
