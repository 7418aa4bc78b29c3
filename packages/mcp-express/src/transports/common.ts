import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { z } from "zod";
import type { Scheduler } from "../options.js";
import type { UpstreamIdentity } from "./header-template.js";

export type { UpstreamIdentity } from "./header-template.js";

/**
 * Builds a fresh, not yet started transport to one upstream, for the identity that
 * opens it (absent for the start-up probe): HTTP upstreams send that identity's headers.
 */
export type TransportFactory = (who?: UpstreamIdentity) => Promise<Transport>;

/**
 * One upstream transport kind: its config schema (with `kind` as the discriminator),
 * how to recognise a config written before `kind` existed, and how to connect.
 * A new transport is one file exporting one of these, listed in registry.ts.
 */
export interface UpstreamTransport<C extends { kind: string; name: string }> {
  readonly kind: C["kind"];
  /** The config's zod schema; errors name the field and the fix. */
  readonly schema: z.ZodType<C>;
  /** The field that marks an old config (without `kind`) as this kind, e.g. `url`. */
  readonly marker: string;
  /** Reconnect with backoff when the connection drops (the upstream may come back). */
  supervise(config: C): boolean;
  /** One link for every session (never closed by one) instead of one per session. */
  shared(config: C): boolean;
  /** The factory of transports to the upstream described by `config`. */
  factory(config: C, scheduler: Scheduler): TransportFactory;
}

/** Fields every upstream kind has. */
export const baseUpstreamShape = {
  /** Unique among the upstreams; prefixes its tools when names collide. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "use 1-64 chars of [A-Za-z0-9_.-]"),
  /**
   * Longest wait for this upstream's answer to a forwarded request, in ms. When it passes
   * the request is cancelled upstream (`notifications/cancelled`), a `tools/call` has its
   * reservation rolled back (outcome `upstream_timeout`), and the client gets an error
   * naming the upstream. A tool's policy entry may set its own `timeoutMs`. Default
   * `callTimeoutMs` (60000).
   */
  timeoutMs: z.number().int().positive("give the call timeout in ms, e.g. 60000").optional(),
};
