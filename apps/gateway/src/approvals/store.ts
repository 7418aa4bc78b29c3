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
  /** The caller's OAuth subject, when it had one (an approver with that subject may not decide). */
  readonly subject?: string | undefined;
  /** What the call needs (absent: one approver, anyone allowed to decide for the grant). */
  readonly rule?: ApprovalRule | undefined;
  /** Every approver's decision so far, oldest first. */
  readonly decisions?: readonly ApprovalDecision[] | undefined;
  /** `wait`: the caller waits on it; `retry`: the caller calls again to consume it. */
  readonly mode?: "wait" | "retry" | undefined;
  /** For `retry`: the key of (grant, tool, argument digest) a repeat call looks it up by. */
  readonly binding?: string | undefined;
  /** For `retry`: when a repeat call consumed the approval (it runs once). */
  readonly consumedAt?: number | undefined;
}

/** The approval rule a held call was stored with (the policy's, or the default). */
export interface ApprovalRule {
  /** Where the rule is written (`tools.x.approval[0]`), or the rule that held the call. */
  readonly ruleId: string;
  /** Distinct approvers needed. */
  readonly approvers: number;
  /** Approver names or roles allowed to decide; absent: any approver allowed for the grant. */
  readonly from?: readonly string[] | undefined;
  /** Every decision must carry a reason. */
  readonly reasonRequired?: boolean | undefined;
}

/** One approver's decision on a held call. */
export interface ApprovalDecision {
  /** The approver's configured name (`admin` when no approvers are configured). */
  readonly approver: string;
  readonly decision: "approve" | "reject";
  readonly reason?: string | undefined;
  readonly at: number;
}

/**
 * What {@link ApprovalStore.decide} did: `approved`/`rejected` ended it, `recorded` added
 * an approval that is not yet enough; the rest refused the decision and changed nothing.
 */
export type DecideResult =
  | "approved"
  | "rejected"
  | "recorded"
  | "not_pending"
  | "expired"
  | "already_decided";

/** Distinct approvals a record needs. */
export function approversNeeded(r: ApprovalRecord): number {
  return r.rule?.approvers ?? 1;
}

/**
 * The decision rule every store applies (Redis runs the same steps in one script): only a
 * pending, unexpired record takes decisions, one per approver; one rejection ends it; it
 * is approved when enough distinct approvers approved.
 */
export function applyDecision(
  r: ApprovalRecord,
  d: ApprovalDecision,
): { readonly result: DecideResult; readonly record: ApprovalRecord } {
  if (r.status !== "pending") return { result: "not_pending", record: r };
  if (r.expiresAt <= d.at) return { result: "expired", record: r };
  const decisions = r.decisions ?? [];
  if (decisions.some((x) => x.approver === d.approver))
    return { result: "already_decided", record: r };
  const next = [...decisions, d];
  if (d.decision === "reject") {
    return {
      result: "rejected",
      record: {
        ...r,
        decisions: next,
        status: "rejected",
        resolvedAt: d.at,
        resolvedBy: d.approver,
        resolution: d.reason || "rejected by an approver",
      },
    };
  }
  const approvals = next.filter((x) => x.decision === "approve");
  if (approvals.length < approversNeeded(r)) {
    return { result: "recorded", record: { ...r, decisions: next } };
  }
  return {
    result: "approved",
    record: {
      ...r,
      decisions: next,
      status: "approved",
      resolvedAt: d.at,
      resolvedBy: approvals.map((x) => x.approver).join(", "),
      resolution: d.reason || undefined,
    },
  };
}

/** What {@link ApprovalStore.resolve} is asked to do. */
export interface ApprovalResolution {
  readonly status: Exclude<ApprovalStatus, "pending">;
  readonly by: string;
  readonly reason?: string | undefined;
  readonly at: number;
}

/**
 * Emitted for every create, decision and resolve, on every instance sharing the store
 * (for refreshing views; the once-only lifecycle events are in `events.ts`).
 */
export type ApprovalEvent =
  | { readonly type: "created"; readonly approval: ApprovalRecord }
  | { readonly type: "decided"; readonly approval: ApprovalRecord }
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
  /**
   * Records one approver's decision atomically (see {@link applyDecision}). Throws
   * `APPROVAL_NOT_FOUND` for unknown ids. Who may decide is checked before, by the caller.
   */
  decide(
    id: string,
    decision: ApprovalDecision,
  ): Promise<{ result: DecideResult; approval: ApprovalRecord }>;
  /** The latest retry-mode record stored under `binding`, if it has not been consumed or cleared. */
  findByBinding(binding: string): Promise<ApprovalRecord | undefined>;
  /**
   * Consumes an approved retry-mode record exactly once, across instances: true for the
   * one caller that consumed it; false when it is not approved, expired or already used.
   */
  consume(id: string, at: number): Promise<boolean>;
  /** Forgets `binding` if it still points at `id` (the next identical call asks anew). */
  clearBinding(binding: string, id: string): Promise<void>;
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
  const m = new MemoryState(options.keepResolved ?? 100);
  return {
    name: "memory",
    async create(record) {
      m.records.set(record.id, record);
      if (record.binding !== undefined) m.bindings.set(record.binding, record.id);
      m.emit({ type: "created", approval: record });
    },
    async get(id) {
      return m.records.get(id);
    },
    async listPending() {
      return [...m.records.values()]
        .filter((r) => r.status === "pending")
        .sort((a, b) => a.createdAt - b.createdAt);
    },
    async listRecent(limit = 20) {
      return m.resolvedOrder
        .slice(-limit)
        .reverse()
        .map((id) => m.records.get(id))
        .filter((r): r is ApprovalRecord => r !== undefined);
    },
    async resolve(id, resolution) {
      const current = m.get(id);
      if (current.status !== "pending") return { approval: current, changed: false };
      const next: ApprovalRecord = {
        ...current,
        status: resolution.status,
        resolvedAt: resolution.at,
        resolvedBy: resolution.by,
        resolution: resolution.reason,
      };
      m.finished(next);
      return { approval: next, changed: true };
    },
    async decide(id, decision) {
      const { result, record } = applyDecision(m.get(id), decision);
      if (result === "recorded") {
        m.records.set(id, record);
        m.emit({ type: "decided", approval: record });
      } else if (result === "approved" || result === "rejected") m.finished(record);
      return { result, approval: record };
    },
    async findByBinding(binding) {
      const id = m.bindings.get(binding);
      return id === undefined ? undefined : m.records.get(id);
    },
    consume: async (id, at) => m.consume(id, at),
    async clearBinding(binding, id) {
      if (m.bindings.get(binding) === id) m.bindings.delete(binding);
    },
    subscribe(listener) {
      m.listeners.add(listener);
      return () => m.listeners.delete(listener);
    },
    async ready() {
      return { ok: true };
    },
    async close() {
      m.listeners.clear();
    },
  };
}

/** The memory store's state: records, bindings, the resolved order and listeners. */
class MemoryState {
  readonly records = new Map<string, ApprovalRecord>();
  readonly bindings = new Map<string, string>();
  readonly resolvedOrder: string[] = [];
  readonly listeners = new Set<(event: ApprovalEvent) => void>();

  constructor(private readonly keep: number) {}

  emit(event: ApprovalEvent): void {
    for (const l of this.listeners) l(event);
  }

  get(id: string): ApprovalRecord {
    const r = this.records.get(id);
    if (!r) throw new GatewayError("APPROVAL_NOT_FOUND", `no approval with id ${id}`);
    return r;
  }

  /** Stores a record that just ended, forgets the oldest beyond `keep`, announces it. */
  finished(next: ApprovalRecord): void {
    this.records.set(next.id, next);
    this.resolvedOrder.push(next.id);
    while (this.resolvedOrder.length > this.keep) {
      const old = this.resolvedOrder.shift() as string;
      const gone = this.records.get(old);
      this.records.delete(old);
      if (gone?.binding !== undefined && this.bindings.get(gone.binding) === old)
        this.bindings.delete(gone.binding);
    }
    this.emit({ type: "resolved", approval: next });
  }

  consume(id: string, at: number): boolean {
    const r = this.records.get(id);
    if (!r || r.status !== "approved" || r.consumedAt !== undefined || r.expiresAt <= at)
      return false;
    this.records.set(id, { ...r, consumedAt: at });
    if (r.binding !== undefined && this.bindings.get(r.binding) === id)
      this.bindings.delete(r.binding);
    return true;
  }
}
