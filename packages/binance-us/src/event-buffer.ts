/** What a full buffer does with the next event. */
export type OverflowPolicy = "drop_oldest" | "drop_newest";

/** One buffered entry: the event and its position in the stream. */
export interface BufferedEntry<T> {
  /** Monotonically increasing, starting at 1; never reused, survives reconnects. */
  cursor: number;
  /** Receive time (epoch ms, from the injected clock). */
  receivedAt: number;
  event: T;
}

/** Result of {@link EventBuffer.since}. */
export interface EventPage<T> {
  events: BufferedEntry<T>[];
  /** Pass this back as `cursor` to continue after the last returned event. */
  nextCursor: number;
  /** True when events after the requested cursor were lost to the overflow policy. */
  dropped: boolean;
  /** Count of events lost to overflow since the buffer was created. */
  droppedTotal: number;
}

/**
 * A bounded ring buffer with cursors, so pollers (MCP agents) can read "events since X"
 * without holding a socket. Asking for events after cursor N marks everything up to N as
 * read (so an event handed out counts as read only when the reader comes back for what
 * follows it: at-least-once). A full buffer first makes room by evicting read events (no loss); only when every
 * held event is unread does the overflow policy apply: `drop_oldest` (default) evicts the
 * oldest unread event, `drop_newest` refuses the new one (so the unread backlog stays
 * intact until a reader moves on). Either way the reader learns via `dropped` that it
 * missed something and should resync; `droppedTotal` counts only unread events lost.
 * With several readers "read" means read by the furthest one; slower readers still see
 * `dropped`.
 *
 * @example
 * ```ts
 * const buf = new EventBuffer<string>({ size: 2 });
 * buf.push("a", 0); buf.push("b", 0); buf.push("c", 0);
 * buf.since(0).dropped; // true ("a" was evicted)
 * ```
 */
export class EventBuffer<T> {
  readonly size: number;
  readonly overflow: OverflowPolicy;
  readonly #ring: (BufferedEntry<T> | undefined)[];
  #head = 0; // index of the oldest entry
  #count = 0;
  #lastCursor = 0;
  #droppedTotal = 0;
  // Cursor of the most recent event that was dropped or evicted (0 if none).
  #lastDroppedCursor = 0;
  // Highest cursor any reader has asked to continue after: events up to it were read.
  #readCursor = 0;

  constructor(options: { size: number; overflow?: OverflowPolicy }) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new RangeError("buffer.size must be a positive integer");
    }
    this.size = options.size;
    this.overflow = options.overflow ?? "drop_oldest";
    this.#ring = new Array(this.size);
  }

  /** Cursor of the newest event ever assigned (0 before the first). */
  get lastCursor(): number {
    return this.#lastCursor;
  }

  /** Events currently held. */
  get length(): number {
    return this.#count;
  }

  /** Events lost to overflow so far. */
  get droppedTotal(): number {
    return this.#droppedTotal;
  }

  /** Adds an event; returns its entry, or `undefined` if `drop_newest` refused it. */
  push(event: T, receivedAt: number): BufferedEntry<T> | undefined {
    const cursor = ++this.#lastCursor;
    const entry: BufferedEntry<T> = { cursor, receivedAt, event };
    if (this.#count === this.size) {
      const oldest = this.#ring[this.#head];
      const oldestRead = oldest !== undefined && oldest.cursor <= this.#readCursor;
      if (!oldestRead) {
        this.#droppedTotal++;
        if (this.overflow === "drop_newest") {
          this.#lastDroppedCursor = cursor;
          return undefined;
        }
      }
      if (oldest) this.#lastDroppedCursor = Math.max(this.#lastDroppedCursor, oldest.cursor);
      this.#ring[this.#head] = entry;
      this.#head = (this.#head + 1) % this.size;
      return entry;
    }
    this.#ring[(this.#head + this.#count) % this.size] = entry;
    this.#count++;
    return entry;
  }

  /** Events with a cursor greater than `cursor` (default 0), oldest first, at most `limit`. */
  since(cursor = 0, limit = 100): EventPage<T> {
    if (cursor > this.#readCursor) this.#readCursor = Math.min(cursor, this.#lastCursor);
    const events: BufferedEntry<T>[] = [];
    for (let k = 0; k < this.#count && events.length < limit; k++) {
      const entry = this.#ring[(this.#head + k) % this.size];
      if (entry && entry.cursor > cursor) events.push(entry);
    }
    const last = events.at(-1);
    return {
      events,
      nextCursor: last ? last.cursor : Math.max(cursor, this.#lastDroppedCursor),
      dropped: this.#lastDroppedCursor > cursor,
      droppedTotal: this.#droppedTotal,
    };
  }

  /** Forgets every held event (cursors keep increasing). */
  clear(): void {
    this.#ring.fill(undefined);
    this.#head = 0;
    this.#count = 0;
  }
}
