/**
 * MCP tasks (2025-11-25, experimental) for `tools/call`: a call the client sent with a
 * `task` param is answered at once with a task, runs in the background (held for
 * approval as long as the approval may wait, then forwarded), and the client polls
 * `tasks/get`, fetches `tasks/result`, or stops it with `tasks/cancel`. A call refused by
 * policy or by an approver ends the task `failed` with the reason; one that ran ends it
 * `completed` (also with an `isError` result: the tool ran).
 */
import type { Slot } from "../client-streams.js";
import { CallAbort } from "../core/call-abort.js";
import { RpcErrorCode, type RpcId, type RpcMessage, rpcError } from "../jsonrpc.js";
import type { Scheduler } from "../options.js";
import type { Open } from "./types.js";

/** `_meta` key tying a message to its task (the spec's). */
export const RELATED_TASK = "io.modelcontextprotocol/related-task";

type Status = "working" | "completed" | "failed" | "cancelled";

interface TaskEntry {
  readonly taskId: string;
  status: Status;
  statusMessage?: string;
  readonly createdAt: number;
  lastUpdatedAt: number;
  readonly ttl: number;
  readonly entry: Open;
  result?: RpcMessage;
  readonly done: Promise<void>;
  finish(): void;
}

/** What a session's task table needs. */
export interface TaskDeps {
  readonly now: () => number;
  readonly newId: () => string;
  readonly scheduler: Scheduler;
}

/** Longest time a finished task's result is kept, and the default. */
const MAX_TTL_MS = 3_600_000;
const DEFAULT_TTL_MS = 600_000;
/** Tasks one session may hold at once (finished ones count until they are dropped). */
const MAX_TASKS = 100;
const POLL_MS = 1000;

/** True when `params` ask for task-augmented execution (`task: {}` or `task: { ttl }`). */
export function wantsTask(params: Record<string, unknown> | undefined): boolean {
  const t = params?.task;
  return typeof t === "object" && t !== null && !Array.isArray(t);
}

/** The server capability announcing tasks for `tools/call`. */
export const TASKS_CAPABILITY = { requests: { tools: { call: {} } }, cancel: {}, list: {} };

function isDenial(m: RpcMessage): string | undefined {
  const r = m.result as
    | { isError?: boolean; content?: Array<{ text?: string }>; _meta?: Record<string, unknown> }
    | undefined;
  if (r?.isError !== true || r._meta?.["toolgate/decision"] === undefined) return undefined;
  return (r.content ?? []).map((c) => c.text ?? "").join(" ");
}

/** One session's tasks. */
export class TaskTable {
  private readonly tasks = new Map<string, TaskEntry>();

  constructor(private readonly deps: TaskDeps) {}

  /**
   * Starts `run` as a task for request `id` and answers the `CreateTaskResult`. `run`
   * gets the task's own request state (its abort is the task's cancel).
   */
  create(
    id: RpcId,
    params: Record<string, unknown>,
    run: (entry: Open) => Promise<RpcMessage>,
  ): RpcMessage {
    if (this.tasks.size >= MAX_TASKS)
      return rpcError(
        id,
        RpcErrorCode.INVALID_REQUEST,
        `too many tasks in this session (${MAX_TASKS})`,
      );
    const asked = (params.task as { ttl?: unknown }).ttl;
    const ttl =
      typeof asked === "number" && asked > 0 ? Math.min(asked, MAX_TTL_MS) : DEFAULT_TTL_MS;
    const taskId = this.deps.newId();
    const slot: Slot = {
      clientId: id,
      key: `task:${taskId}`,
      res: undefined,
      mode: "done",
      stream: undefined,
    };
    const entry: Open = { slot, abort: new CallAbort() };
    let finish!: () => void;
    const done = new Promise<void>((r) => {
      finish = r;
    });
    const at = this.deps.now();
    const t: TaskEntry = {
      taskId,
      status: "working",
      createdAt: at,
      lastUpdatedAt: at,
      ttl,
      entry,
      done,
      finish,
    };
    this.tasks.set(taskId, t);
    run(entry).then(
      (m) => this.settle(t, m),
      (e: unknown) =>
        this.settle(
          t,
          rpcError(id, RpcErrorCode.INTERNAL_ERROR, e instanceof Error ? e.message : "task failed"),
        ),
    );
    return { jsonrpc: "2.0", id, result: { task: this.view(t) } };
  }

  /** Notes what a held call is waiting for (shown in `tasks/get`). */
  progress(entry: Open, message: string): void {
    for (const t of this.tasks.values()) if (t.entry === entry) t.statusMessage = message;
  }

  /** `tasks/get`, `tasks/result`, `tasks/cancel`, `tasks/list`. */
  async handle(
    method: string,
    id: RpcId,
    params: Record<string, unknown> | undefined,
  ): Promise<RpcMessage> {
    if (method === "tasks/list")
      return {
        jsonrpc: "2.0",
        id,
        result: { tasks: [...this.tasks.values()].map((t) => this.view(t)) },
      };
    const taskId = params?.taskId;
    const t = typeof taskId === "string" ? this.tasks.get(taskId) : undefined;
    if (!t) return rpcError(id, RpcErrorCode.INVALID_PARAMS, `unknown task ${String(taskId)}`);
    if (method === "tasks/get") return { jsonrpc: "2.0", id, result: this.view(t) };
    if (method === "tasks/cancel") {
      if (t.status !== "working")
        return rpcError(id, RpcErrorCode.INVALID_PARAMS, `task ${t.taskId} is already ${t.status}`);
      this.update(t, "cancelled", "cancelled by the client");
      t.entry.abort.abort("task cancelled by the client");
      return { jsonrpc: "2.0", id, result: this.view(t) };
    }
    // tasks/result waits for the end, as the spec asks.
    await t.done;
    const m = t.result as RpcMessage;
    if (m.error) return { ...m, id };
    const result = { ...(m.result as Record<string, unknown>) };
    result._meta = { ...(result._meta as object), [RELATED_TASK]: { taskId: t.taskId } };
    return { jsonrpc: "2.0", id, result };
  }

  /** Ends every task (the session closed): their calls are aborted. */
  close(reason: unknown): void {
    for (const t of this.tasks.values()) t.entry.abort.abort(reason);
  }

  private settle(t: TaskEntry, m: RpcMessage): void {
    t.result = m;
    if (t.status === "working") {
      const denied = isDenial(m);
      if (m.error) this.update(t, "failed", m.error.message);
      else if (denied !== undefined) this.update(t, "failed", denied);
      else this.update(t, "completed", undefined);
    }
    t.finish();
    const keep = Math.max(t.createdAt + t.ttl - this.deps.now(), 60_000);
    this.deps.scheduler.setTimeout(() => this.tasks.delete(t.taskId), keep);
  }

  private update(t: TaskEntry, status: Status, message: string | undefined): void {
    t.status = status;
    t.statusMessage = message;
    t.lastUpdatedAt = this.deps.now();
  }

  private view(t: TaskEntry): Record<string, unknown> {
    return {
      taskId: t.taskId,
      status: t.status,
      ttl: t.ttl,
      createdAt: new Date(t.createdAt).toISOString(),
      lastUpdatedAt: new Date(t.lastUpdatedAt).toISOString(),
      pollInterval: POLL_MS,
      ...(t.statusMessage !== undefined && { statusMessage: t.statusMessage }),
    };
  }
}
