/**
 * The upstream transports, by `kind`. To add one: write `transports/<kind>.ts` exporting
 * its {@link UpstreamTransport} and list it here; the config schema, the types and
 * the connection code follow from that one entry.
 */
import { z } from "zod";
import type { Scheduler } from "../options.js";
import type { TransportFactory, UpstreamTransport } from "./common.js";
import { httpTransport, httpUpstreamSchema } from "./http.js";
import { inProcessTransport, inProcessUpstreamSchema } from "./in-process.js";
import { stdioTransport, stdioUpstreamSchema } from "./stdio.js";

const TRANSPORTS = [httpTransport, stdioTransport, inProcessTransport] as const;

/** The upstream kinds, as `kind` accepts them. */
export const UPSTREAM_KINDS = TRANSPORTS.map((t) => t.kind);

/** An upstream as validated: its `kind` is always set. */
export type ResolvedUpstreamConfig = z.output<typeof resolvedSchema>;

const resolvedSchema = z.discriminatedUnion(
  "kind",
  [httpUpstreamSchema, stdioUpstreamSchema, inProcessUpstreamSchema],
  {
    error: () =>
      `set kind to one of ${UPSTREAM_KINDS.join(", ")} (or give url for http, command for stdio, server for in-process)`,
  },
);

/**
 * The kind of an upstream config: its `kind`, or for a config written without one, the
 * kind whose marker field it has (`url`, `command`, `server`); undefined when neither.
 */
export function upstreamKind(config: unknown): string | undefined {
  if (typeof config !== "object" || config === null) return undefined;
  const c = config as Record<string, unknown>;
  if (typeof c.kind === "string") return c.kind;
  return TRANSPORTS.find((t) => t.marker in c)?.kind;
}

/**
 * One upstream's config schema. `kind` may be left out when the config has the kind's
 * marker field (configs written before `kind` existed stay valid).
 */
export const upstreamConfigSchema = z.preprocess((v) => {
  if (typeof v !== "object" || v === null || "kind" in v) return v;
  const kind = upstreamKind(v);
  return kind === undefined ? v : { ...v, kind };
}, resolvedSchema);

function transportOf(config: ResolvedUpstreamConfig): UpstreamTransport<ResolvedUpstreamConfig> {
  const t = TRANSPORTS.find((x) => x.kind === config.kind);
  // Configs are validated before use, so every kind has its transport.
  return t as unknown as UpstreamTransport<ResolvedUpstreamConfig>;
}

/** Parses an upstream config (old form accepted) into its resolved form. */
export function resolveUpstream(config: unknown): ResolvedUpstreamConfig {
  return upstreamConfigSchema.parse(config);
}

/** How to reach and treat one upstream, from its transport. */
export function upstreamPlan(
  config: ResolvedUpstreamConfig,
  scheduler: Scheduler,
): { factory: TransportFactory; supervise: boolean; shared: boolean } {
  const t = transportOf(config);
  return {
    factory: t.factory(config, scheduler),
    supervise: t.supervise(config),
    shared: t.shared(config),
  };
}
