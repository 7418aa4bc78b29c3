import type { CompiledPolicy, Identity } from "../engine.js";
import type { ModernFront } from "../modern/front.js";
import type { MrtrDeps } from "../modern/mrtr.js";
import type { Logger, RefusedEvent, Scheduler } from "../options.js";
import type { SessionContext } from "../session.js";
import type { SessionTable } from "../session-table.js";
import type { Telemetry } from "../telemetry.js";
import type { UpstreamPool } from "../upstream-pool.js";

/** What the Streamable HTTP front works with: settings, the session table, the upstreams. */
export interface FrontContext {
  readonly now: () => number;
  readonly newId: () => string;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly sessions: SessionTable;
  readonly pool: UpstreamPool;
  /** Handed to every new session. */
  readonly session: SessionContext;
  readonly responseMode: "auto" | "json" | "sse";
  readonly sseRetryMs: number;
  readonly maxBodyBytes: number;
  readonly maxSessionsPerGrant: number;
  /** Sealing and spending of the `requestState` the 2026 front hands out. */
  readonly mrtr: MrtrDeps;
  /** The stateless 2026-07-28 front (set once the context exists). */
  modern?: ModernFront;
  /** The caller's current policy; undefined when its grant has none. */
  policyFor(identity: Identity): CompiledPolicy | undefined;
  /** True once `close()` was called. */
  closing(): boolean;
  /** Audits a message refused before any session saw it. */
  onRefused(e: RefusedEvent): void;
}
