import { z } from "zod";
import { HttpUpstreamTransport } from "../http-upstream.js";
import { baseUpstreamShape, type UpstreamTransport } from "./common.js";

/** A Streamable HTTP upstream. `headers` carry the upstream's own credentials. */
export const httpUpstreamSchema = z.object({
  kind: z.literal("http"),
  ...baseUpstreamShape,
  url: z.url("give an http(s) URL of the upstream's MCP endpoint"),
  headers: z.record(z.string(), z.string()).optional(),
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
    return async () => new HttpUpstreamTransport(url, headers, scheduler);
  },
};
