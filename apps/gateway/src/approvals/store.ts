import { GatewayError } from "../errors.js";

/** Lifecycle of an approval: created pending, resolved exactly once. */
export type ApprovalStatus = "pending" | "approved" | "rejected" | "timeout";

/**
 * A held call as the approvals page sees it. Arguments are stored as the approver must
 * see them, with only named secrets and detected credentials masked: the store (and Redis
 * behind it) never holds those.
 */
export interface ApprovalRecord {
  readonly id: string;
  readonly grant: string;
  readonly session?: string | undefined;
  readonly tool: string;
  readonly upstream: string;
  /**
   * The arguments as the approver must see them: full values, except secrets named by the
   * policy or config and credentials the built-in detectors recognise, each replaced by
   * `••••••(masked: <why>)`.
   */
  readonly arguments: Record<string, unknown>;
  /** `args.<path>` of each masked value; absent when nothing is hidden. */
  readonly masked?: readonly string[] | undefined;
  /** sha256 of the canonical JSON of the real arguments: the approval is bound to it. */
  readonly argumentsDigest: string;
  /** The policy's reason for holding the call. */
  readonly reason: string;
  readonly ruleId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly status: ApprovalStatus;
  readonly resolvedAt?: number | undefined;
  /**
   * Who resolved it: the approver (`admin`: the admin token), `caller:withdrawn` /
   * `caller:cancelled` (the caller can only withdraw), `caller:elicitation` (only with
   * `callerMayApprove`), or `timeout`. Never a credential.
   */
  readonly resolvedBy?: string | undefined;
  /** Why it was rejected or timed out (shown to the agent). */
  readonly resolution?: string | undefined;
}

/** What {@link ApprovalStore.resolve} is asked to do. */
export interface ApprovalResolution {
  readonly status: Exclude<ApprovalStatus, "pending">;
  readonly by: string;
  readonly reason?: string | undefined;
  readonly at: number;
}

/** Emitted for every create and resolve, on every instance sharing the store. */
export type ApprovalEvent =
  | { readonly type: "created"; readonly approval: ApprovalRecord }
  | { readonly type: "resolved"; readonly approval: ApprovalRecord };

/**
 * Where pending approvals live. With Redis every gateway instance sees the same
 * approvals, so a person can approve on instance B a call held on instance A.
 */
export interface ApprovalStore {
  readonly name: string;
  create(record: ApprovalRecord): Promise<void>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  /** Pending approvals, oldest first. */
  listPending(): Promise<ApprovalRecord[]>;
  /** Recently resolved approvals, newest first. */
  listRecent(limit?: number): Promise<ApprovalRecord[]>;
  /**
   * Resolves a pending approval exactly once. If it is no longer pending the stored
   * record is returned unchanged with `changed: false`, so a timeout racing an approve
   * sees who won. Throws `APPROVAL_NOT_FOUND` for unknown ids.
   */
  resolve(
    id: string,
    resolution: ApprovalResolution,
  ): Promise<{ approval: ApprovalRecord; changed: boolean }>;
  /** Subscribes to creates and resolves (of all instances); returns the unsubscribe. */
  subscribe(listener: (event: ApprovalEvent) => void): () => void;
  ready(): Promise<{ ok: boolean; detail?: string }>;
  close(): Promise<void>;
}

/** Options of {@link createMemoryApprovalStore}. */
export interface MemoryApprovalStoreOptions {
  /** Resolved approvals remembered for the "recent" list. Default 100. */
  readonly keepResolved?: number;
}

/**
 * The single-process approval store (the default with `store: memory`).
 *
 * @example
 * const approvals = createMemoryApprovalStore();
 */
export function createMemoryApprovalStore(options: MemoryApprovalStoreOptions = {}): ApprovalStore {
  const keep = options.keepResolved ?? 100;
  const records = new Map<string, ApprovalRecord>();
  const resolvedOrder: string[] = [];
  const listeners = new Set<(event: ApprovalEvent) => void>();
  const emit = (event: ApprovalEvent) => {
    for (const l of listeners) l(event);
  };
  return {
    name: "memory",
    async create(record) {
      records.set(record.id, record);
      emit({ type: "created", approval: record });
    },
    async get(id) {
      return records.get(id);
    },
    async listPending() {
      return [...records.values()]
        .filter((r) => r.status === "pending")
        .sort((a, b) => a.createdAt - b.createdAt);
    },
    async listRecent(limit = 20) {
      return resolvedOrder
        .slice(-limit)
        .reverse()
        .map((id) => records.get(id))
        .filter((r): r is ApprovalRecord => r !== undefined);
    },
    async resolve(id, resolution) {
      const current = records.get(id);
      if (!current) throw new GatewayError("APPROVAL_NOT_FOUND", `no approval with id ${id}`);
      if (current.status !== "pending") return { approval: current, changed: false };
      const next: ApprovalRecord = {
        ...current,
        status: resolution.status,
        resolvedAt: resolution.at,
        resolvedBy: resolution.by,
        resolution: resolution.reason,
      };
      records.set(id, next);
      resolvedOrder.push(id);
      while (resolvedOrder.length > keep) {
        const old = resolvedOrder.shift();
        if (old !== undefined) records.delete(old);
      }
      emit({ type: "resolved", approval: next });
      return { approval: next, changed: true };
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async ready() {
      return { ok: true };
    },
    async close() {
      listeners.clear();
    },
  };
}
