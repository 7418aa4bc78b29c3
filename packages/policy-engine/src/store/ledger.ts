import type { CounterReservation } from "../contracts.js";

// Which reservations of a memory store are still open, so commit and rollback are
// idempotent per reservation: a bit per reservation, in chunks that disappear once
// settled or expired.

/**
 * Settle-state of 1024 consecutive reservations. Rollback must be idempotent, so the
 * store has to remember which reservations are still open; a bit per reservation in
 * chunks that disappear once all their reservations settled (or all their windows
 * ended) keeps that O(1) per call and as small as the calls in flight. A per-id Map
 * cost more than the rest of `reserve` together.
 */
interface Chunk {
  /** Bit set = settled (committed or rolled back). */
  readonly settled: Uint32Array;
  /** Reservations handed out from this chunk and not yet settled. */
  open: number;
  /** End of the latest window any of its reservations went into. */
  until: number;
}

const CHUNK_BITS = 10;
const CHUNK_SIZE = 1 << CHUNK_BITS;

/**
 * A reservation as this store hands it out. The sequence number rides along in a
 * private field so settling our own reservations needs no id parsing (a copy, or a
 * plain object with the same id, still settles through the id).
 */
export class MemoryReservation implements CounterReservation {
  readonly id: string;
  readonly counters: CounterReservation["counters"];
  readonly #seq: number;
  readonly #owner: object;
  constructor(owner: object, id: string, seq: number, counters: CounterReservation["counters"]) {
    this.id = id;
    this.#owner = owner;
    this.#seq = seq;
    this.counters = counters;
  }
  /** The sequence number of `r` when `owner` issued this very object, else -1. */
  static seqOf(r: CounterReservation, owner: object): number {
    return r instanceof MemoryReservation && r.#owner === owner ? r.#seq : -1;
  }
}

/** The reservation numbers and settle-state of one memory store. */
export class ReservationLedger {
  readonly #chunks = new Map<number, Chunk>();
  #seq = 0;
  #current: Chunk | undefined;

  /** `idPrefix`: reservation ids are it plus the base-36 sequence number. */
  constructor(readonly idPrefix: string) {}

  /** The number the next reservation gets. */
  get next(): number {
    return this.#seq;
  }

  /** A reservation object for number `seq`, settled through this ledger. */
  issue(seq: number, counters: CounterReservation["counters"]): MemoryReservation {
    return new MemoryReservation(this, this.idPrefix + seq.toString(36), seq, counters);
  }

  /** Allocates the next reservation number and marks it open in its chunk. */
  open(until: number): number {
    const n0 = this.#seq++;
    let current = this.#current;
    if ((n0 & (CHUNK_SIZE - 1)) === 0 || current === undefined) {
      if (current !== undefined && current.open === 0) {
        this.#chunks.delete((n0 >>> CHUNK_BITS) - 1);
      }
      current = { settled: new Uint32Array(CHUNK_SIZE / 32), open: 0, until: 0 };
      this.#current = current;
      this.#chunks.set(n0 >>> CHUNK_BITS, current);
    }
    current.open++;
    if (until > current.until) current.until = until;
    return n0;
  }

  /**
   * Marks a reservation settled. False when it was already settled, its chunk is gone
   * (all settled, or every window ended) or the id is not one of ours.
   */
  settle(reservation: CounterReservation): boolean {
    let n = MemoryReservation.seqOf(reservation, this);
    if (n === -1) {
      const id = reservation.id;
      const prefix = this.idPrefix;
      if (typeof id !== "string" || !id.startsWith(prefix)) return false;
      n = Number.parseInt(id.slice(prefix.length), 36);
    }
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.#seq) return false;
    const chunkNo = n >>> CHUNK_BITS;
    const chunk = this.#chunks.get(chunkNo);
    if (chunk === undefined) return false;
    const bit = n & (CHUNK_SIZE - 1);
    const word = bit >>> 5;
    const mask = 1 << (bit & 31);
    if ((chunk.settled[word]! & mask) !== 0) return false;
    chunk.settled[word]! |= mask;
    if (--chunk.open === 0 && chunk !== this.#current) this.#chunks.delete(chunkNo);
    return true;
  }

  /** Forgets reservations whose windows all ended: they can only roll back into nothing. */
  sweep(t: number): void {
    for (const [n, c] of this.#chunks) {
      if (c.until <= t && c !== this.#current) this.#chunks.delete(n);
    }
  }

  /** Forgets everything (the store closed). */
  clear(): void {
    this.#chunks.clear();
  }
}
