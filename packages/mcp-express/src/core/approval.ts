import type { Decision, Identity } from "../engine.js";
import type {
  ApprovalOutcome,
  ApprovalRequest,
  ElicitAnswer,
  ElicitSchema,
  HeldOutcome,
  Scheduler,
} from "../options.js";
import type { CallSignal } from "./call-abort.js";

/** What a held call came to, with who decided it (as the approval hook reported). */
export type HoldResult =
  | { outcome: "approved" | "rejected" | "timeout"; reason?: string; by?: string }
  | HeldOutcome;

/** What {@link holdForApproval} needs: the hook, time, ids and the call's capabilities. */
export interface HoldDeps {
  approve(req: ApprovalRequest): Promise<ApprovalOutcome>;
  scheduler: Scheduler;
  newId: () => string;
  timeoutMs: number;
  progressEveryMs: number;
}

/** The held call as the approval hook sees it. */
export interface HeldCall {
  identity: Identity;
  session: string | undefined;
  /** Tool name as the client sees it. */
  tool: string;
  upstream: string;
  args: Record<string, unknown>;
  digest: string;
  decision: Decision;
  grantSessions: number;
  /** Aborted when the caller gives up (cancel, disconnect) or its session ends. */
  signal: CallSignal;
  /** Tells the caller the call is still held (sent every `progressEveryMs`). */
  progress?: ((n: number, message: string) => void) | undefined;
  /** Asks the caller through elicitation, when its client can. */
  elicit?: ((message: string, schema: ElicitSchema) => Promise<ElicitAnswer>) | undefined;
  /** The call runs as an MCP task (told to the hook). */
  task?: boolean;
  /** A stateless (2026) caller, and the approval its sealed state names (told to the hook). */
  stateless?: { readonly resume?: string | undefined } | undefined;
}

/**
 * Holds a `require_approval` call until the hook answers, the approval times out or the
 * caller gives up (then `rejected` by `caller:cancelled`). A hook that throws rejects.
 * The request's own signal is aborted when the hold ends, however it ends, so an
 * approval UI can drop a request nobody waits for any more.
 */
export async function holdForApproval(deps: HoldDeps, call: HeldCall): Promise<HoldResult> {
  const abort = new AbortController();
  const onCallAbort = (): void => abort.abort();
  call.signal.addEventListener("abort", onCallAbort);
  if (call.signal.aborted) abort.abort();
  const { scheduler } = deps;
  let timer: unknown;
  let ticker: unknown;
  let progress = 0;
  const tick = (): void => {
    call.progress?.(++progress, `waiting for approval of ${call.tool}`);
    ticker = scheduler.setTimeout(tick, deps.progressEveryMs);
  };
  const req: ApprovalRequest = {
    id: deps.newId(),
    grant: call.identity.grant,
    tool: call.tool,
    upstream: call.upstream,
    arguments: call.args,
    argumentsDigest: call.digest,
    decision: call.decision,
    signal: abort.signal,
    grantSessions: call.grantSessions,
  };
  if (call.session !== undefined) req.session = call.session;
  if (call.identity.sub !== undefined) req.subject = call.identity.sub;
  if (call.identity.clientId !== undefined) req.clientId = call.identity.clientId;
  if (call.elicit) req.elicit = call.elicit;
  if (call.task === true) req.task = true;
  if (call.stateless) {
    req.stateless = true;
    if (call.stateless.resume !== undefined) req.resume = call.stateless.resume;
  }
  const timeout = new Promise<ApprovalOutcome>((resolve) => {
    timer = scheduler.setTimeout(() => resolve("timeout"), deps.timeoutMs);
  });
  const aborted = new Promise<ApprovalOutcome>((resolve) => {
    const done = (): void =>
      resolve({ outcome: "rejected", reason: "cancelled", by: "caller:cancelled" });
    if (abort.signal.aborted) done();
    else abort.signal.addEventListener("abort", done);
  });
  // A caller that asked for no progress gets none, and no timer runs for it.
  if (call.progress !== undefined) tick();
  try {
    const r = await Promise.race([
      deps.approve(req).catch(
        (e: unknown): ApprovalOutcome => ({
          outcome: "rejected",
          reason: `approver failed: ${String(e)}`,
        }),
      ),
      timeout,
      aborted,
    ]);
    return typeof r === "string" ? { outcome: r } : r;
  } finally {
    scheduler.clearTimeout(timer);
    scheduler.clearTimeout(ticker);
    call.signal.removeEventListener("abort", onCallAbort);
    if (!abort.signal.aborted) abort.abort();
  }
}
