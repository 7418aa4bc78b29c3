import type { RedisConnection } from "./connection.js";
import { SCRIPTS } from "./scripts.js";

const noop = (): void => {};

/**
 * How long queued commit markers wait for a reservation to ride along with before they
 * go out on their own, when they were queued under load (other reservations open, or
 * commands in flight). Then the next reservation comes far sooner; if load stops, the
 * last markers go out this much later (still long before any rollback of them could
 * come: those follow timeouts and crashes measured in seconds).
 */
export const MARKER_RIDE_MS = 5;

/**
 * Weight of each new gap between reservations in their running mean (1/8): a few
 * reservations move it, one outlier does not.
 */
const GAP_WEIGHT = 1 / 8;

/** The shortest ride wait (ms): a timer cannot fire sooner. */
const MIN_RIDE_MS = 1;

/**
 * Markers wait for rides only while at least this share of recent waits got one. Callers
 * that await each commit before they reserve again (a library loop at any concurrency)
 * never give a waiting marker its ride: every wait would stall them all until the timer.
 */
const MIN_RIDE_RATE = 0.5;

/** While rides fail, one batch in this many still waits for one (to notice they work again). */
const PROBE_EVERY = 16;

/**
 * Commit markers of one slot, batched: every commit issued until the next reservation
 * (while reservations keep coming and others are open or commands in flight, for about
 * twice the usual gap between reservations, {@link MARKER_RIDE_MS} at most; otherwise
 * until the end of the event-loop turn) goes out as ONE command (a lone marker as
 * `SET ... NX PXAT`, several as one script setting each the same way), written in the
 * same socket write as that next reservation's EVALSHA. So on the answer path there is
 * one Redis round trip per call, and the commit costs no write (and no Redis wake-up) of
 * its own: it folds into the next call's. `commit` resolves when its marker is written
 * (or failed, which is recorded: a lost marker only means a later rollback of that
 * reservation still gives units back). The commits of one batch share one promise (no
 * object per commit beyond its key).
 */
export class CommitBatch {
  readonly #conn: RedisConnection;
  #keys: string[] = [];
  #expireAts: number[] = [];
  #batch: Promise<void> | undefined;
  #release: () => void = noop;
  #inflight: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Admitted reservations of this slot not yet committed or rolled back. */
  #open = 0;
  /** When the last reservation was written, on {@link #now} (ms). */
  #lastReserveAt = Number.NEGATIVE_INFINITY;
  /**
   * Running mean of the gaps between reservations (ms, each capped at MARKER_RIDE_MS):
   * how long a marker can expect to wait for its ride. Starts at the cap.
   */
  #gapMs = MARKER_RIDE_MS;
  /** Running share of waits that got a ride (weight GAP_WEIGHT); starts hopeful. */
  #rideRate = 1;
  /** Batches that could have waited while rides were failing (see PROBE_EVERY). */
  #skipped = 0;
  readonly #now: () => number;

  /**
   * `now` (default `performance.now`) only paces the ride: real time, never an injected
   * clock a test may stop (a stopped clock would make every gap zero, and that only
   * means markers go out sooner).
   */
  constructor(conn: RedisConnection, now: () => number = () => performance.now()) {
    this.#conn = conn;
    this.#now = now;
  }

  /** A reservation was admitted: its commit or rollback will follow. */
  opened(): void {
    this.#open++;
  }

  /** A reservation was rolled back (a commit says so through {@link add}). */
  closed(): void {
    if (this.#open > 0) this.#open--;
  }

  /** Queues the marker `key` (expiring at `expireAt`, Redis clock); resolves once sent. */
  add(key: string, expireAt: number): Promise<void> {
    this.closed();
    if (this.#batch === undefined) {
      this.#batch = new Promise<void>((resolve) => {
        this.#release = resolve;
      });
      // While other reservations of this store are still open (their calls in flight)
      // or commands are in flight, another reservation is likely soon: ride with it,
      // waiting about twice the usual gap between reservations (1 ms at least,
      // MARKER_RIDE_MS at most), unless recent waits got no ride (MIN_RIDE_RATE).
      // Otherwise (a lone call) the marker goes out at the end of this event-loop turn,
      // so `await commit()` stays one round trip. Real timers, not the injected
      // scheduler: a test faking time must not hold markers back for ever.
      if ((this.#open > 0 || this.#conn.send.busy()) && this.#rideLikely()) {
        const wait = Math.max(MIN_RIDE_MS, Math.min(MARKER_RIDE_MS, 2 * this.#gapMs));
        this.#timer = setTimeout(this.#noRide, wait);
      } else setImmediate(this.flush);
    }
    this.#keys.push(key);
    this.#expireAts.push(expireAt);
    return this.#batch;
  }

  /**
   * Called as a reservation is about to be written: queued markers go out first, in the
   * same socket write (the Sender corks the socket for the turn). Also paces the ride
   * (the gaps between reservations).
   */
  ride(): void {
    const now = this.#now();
    const gap = Math.min(now - this.#lastReserveAt, MARKER_RIDE_MS);
    this.#lastReserveAt = now;
    this.#gapMs += (gap - this.#gapMs) * GAP_WEIGHT;
    if (this.#keys.length === 0) return;
    if (this.#timer !== undefined) this.#rideRate += (1 - this.#rideRate) * GAP_WEIGHT;
    void this.flush();
  }

  /** Whether a marker should wait for a ride now, given how recent waits went. */
  #rideLikely(): boolean {
    if (this.#rideRate >= MIN_RIDE_RATE) return true;
    this.#skipped = (this.#skipped + 1) % PROBE_EVERY;
    return this.#skipped === 0;
  }

  /**
   * No reservation came to ride with: traffic is slow (or some reservation was never
   * settled, which would otherwise keep the count up for good and make every later
   * commit wait). Forget the count, so the next commits go out at the end of their turn
   * until new reservations open again; a count too low only batches less.
   */
  readonly #noRide = (): void => {
    this.#rideRate -= this.#rideRate * GAP_WEIGHT;
    this.#open = 0;
    void this.flush();
  };

  /** Sends what is queued now; resolves when every marker sent so far is settled. */
  readonly flush = (): Promise<void> => {
    const keys = this.#keys;
    const n = keys.length;
    if (n === 0) return this.#inflight;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
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
