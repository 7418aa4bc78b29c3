import type { RedisConnection } from "./connection.js";
import { SCRIPTS } from "./scripts.js";

const noop = (): void => {};

/**
 * Commit markers of one slot, batched per event-loop turn: every commit issued while
 * this turn's I/O callbacks run goes out as ONE command (a lone marker as
 * `SET ... NX PXAT`, several as one script setting each the same way) in the turn's
 * `setImmediate` phase. Under load this halves the commands per call (one reserve
 * script, a share of one commit script), which is Redis time and client CPU; a gateway
 * finishes each upstream response in its own I/O callback, so batching per tick alone
 * would send about one marker per write there. A lone sequential call still sends its
 * marker right after the answer. `commit` resolves when its marker is written (or failed, which is recorded:
 * a lost marker only means a later rollback of that reservation still gives units back).
 * The commits of one batch share one promise (no object per commit beyond its key).
 */
export class CommitBatch {
  readonly #conn: RedisConnection;
  #keys: string[] = [];
  #expireAts: number[] = [];
  #batch: Promise<void> | undefined;
  #release: () => void = noop;
  #inflight: Promise<void> = Promise.resolve();

  constructor(conn: RedisConnection) {
    this.#conn = conn;
  }

  /** Queues the marker `key` (expiring at `expireAt`, Redis clock); resolves once sent. */
  add(key: string, expireAt: number): Promise<void> {
    if (this.#batch === undefined) {
      this.#batch = new Promise<void>((resolve) => {
        this.#release = resolve;
      });
      // The end of this event-loop turn, not a timer: no delay beyond the I/O already
      // read. (A test faking setImmediate must advance it; none of this package's do.)
      setImmediate(this.flush);
    }
    this.#keys.push(key);
    this.#expireAts.push(expireAt);
    return this.#batch;
  }

  /** Sends what is queued now; resolves when every marker sent so far is settled. */
  readonly flush = (): Promise<void> => {
    const keys = this.#keys;
    const n = keys.length;
    if (n === 0) return this.#inflight;
    const ats = this.#expireAts;
    const release = this.#release;
    this.#keys = [];
    this.#expireAts = [];
    this.#batch = undefined;
    this.#release = noop;
    const conn = this.#conn;
    let sent: Promise<unknown>;
    if (n === 1) {
      sent = conn.send.call("set", [keys[0]!, "committed", "PXAT", ats[0]!, "NX"]);
    } else {
      const args: Array<string | number> = new Array(2 + 2 * n);
      args[0] = SCRIPTS.commitMany.sha;
      args[1] = n;
      for (let i = 0; i < n; i++) {
        args[2 + i] = keys[i]!;
        args[2 + n + i] = ats[i]!;
      }
      sent = conn.send.run(SCRIPTS.commitMany, args);
    }
    const settled = sent.then(noop, (err: unknown) => conn.recordError(err));
    const all = Promise.all([this.#inflight, settled]).then(() => release());
    this.#inflight = all;
    return all;
  };
}
