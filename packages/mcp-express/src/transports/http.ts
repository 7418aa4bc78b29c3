import { z } from "zod";
import { HttpUpstreamTransport } from "../http-upstream.js";
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
    return async (who) =>
      new HttpUpstreamTransport(url, renderHeaders(headers, config.grantHeaders, who), scheduler);
  },
};
