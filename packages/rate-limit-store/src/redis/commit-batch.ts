import type { RedisConnection } from "./connection.js";

interface Pending {
  readonly key: string;
  readonly expireAt: number;
  readonly done: () => void;
}

/**
 * Commit markers of one slot, batched per tick: every commit issued while the current
 * callbacks run goes out as ONE command (a lone marker as `SET ... NX PXAT`, several as
 * one script setting each the same way) on the next tick. Under load this halves the
 * commands per call (one reserve script, a share of one commit script), which is Redis
 * time and client CPU; a lone sequential call still sends its marker at once, after the
 * answer. `commit` resolves when its marker is written (or failed, which is recorded:
 * a lost marker only means a later rollback of that reservation still gives units back).
 */
export class CommitBatch {
  readonly #conn: RedisConnection;
  #pending: Pending[] = [];
  #inflight: Promise<void> = Promise.resolve();

  constructor(conn: RedisConnection) {
    this.#conn = conn;
  }

  /** Queues the marker `key` (expiring at `expireAt`, Redis clock); resolves once sent. */
  add(key: string, expireAt: number): Promise<void> {
    return new Promise<void>((done) => {
      // nextTick, not a timer: batching needs no delay, and fake timers cannot stall it.
      if (this.#pending.length === 0) process.nextTick(this.flush);
      this.#pending.push({ key, expireAt, done });
    });
  }

  /** Sends what is queued now; resolves when every marker sent so far is settled. */
  readonly flush = (): Promise<void> => {
    const batch = this.#pending;
    if (batch.length === 0) return this.#inflight;
    this.#pending = [];
    const conn = this.#conn;
    const sent =
      batch.length === 1
        ? conn.client.set(batch[0]!.key, "committed", "PXAT", batch[0]!.expireAt, "NX")
        : conn.scripts.toolgateCommitMany(
            batch.length,
            ...batch.map((p) => p.key),
            ...batch.map((p) => p.expireAt),
          );
    const settled = sent.then(
      () => undefined,
      (err: unknown) => conn.recordError(err),
    );
    const all = Promise.all([this.#inflight, settled]).then(() => {
      for (const p of batch) p.done();
    });
    this.#inflight = all;
    return all;
  };
}
