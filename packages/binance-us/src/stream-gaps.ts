import type { StreamGap } from "./stream-types.js";

// Enough gaps for any reader who polls at least once in a while, bounded so a flapping
// connection cannot grow memory without limit.
/** How many gaps a stream remembers. */
export const MAX_GAPS = 100;

/** The times no event could arrive, oldest first, at most {@link MAX_GAPS}. */
export class GapLog {
  readonly #gaps: StreamGap[] = [];

  /** Opens a gap after `afterCursor` unless one is already open. */
  open(afterCursor: number, at: number, reason: string): void {
    const last = this.#gaps.at(-1);
    if (last && last.to === undefined) return;
    this.#gaps.push({ afterCursor, from: at, to: undefined, reason });
    if (this.#gaps.length > MAX_GAPS) this.#gaps.shift();
  }

  /** Closes the open gap, if any, at `at`. */
  close(at: number): void {
    const last = this.#gaps.at(-1);
    if (last && last.to === undefined) last.to = at;
  }

  /** Copies of the gaps after `cursor`. */
  after(cursor: number): StreamGap[] {
    return this.#gaps.filter((g) => g.afterCursor >= cursor).map((g) => ({ ...g }));
  }
}

/**
 * The last `size` event identities, so an event seen on both sockets during a rotation is
 * delivered once. A ring: the oldest identity is forgotten first.
 */
export class DedupeWindow {
  readonly #seen = new Set<string>();
  readonly #order: (string | undefined)[];
  #pos = 0;

  constructor(size: number) {
    this.#order = new Array(size);
  }

  /** Whether `identity` is remembered. */
  has(identity: string): boolean {
    return this.#seen.has(identity);
  }

  /** Remembers `identity`, forgetting the oldest when full. */
  add(identity: string): void {
    const evicted = this.#order[this.#pos];
    if (evicted !== undefined) this.#seen.delete(evicted);
    this.#order[this.#pos] = identity;
    this.#pos = (this.#pos + 1) % this.#order.length;
    this.#seen.add(identity);
  }
}
