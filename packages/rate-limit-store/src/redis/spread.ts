import type { CounterReservation, CounterSpec, ReserveOutcome } from "@toolgate/policy-engine";

type Counters = CounterReservation["counters"];

/** The two steps a spread reservation is made of, both on one slot. */
export interface SlotOps {
  /** Reserves specs that share a slot, all or none (rejects on an outage). */
  reserve(specs: readonly CounterSpec[], id: string): Promise<ReserveOutcome>;
  /** Gives back what `reserve` took for reservation `id` (idempotent, never rejects). */
  release(counters: Counters, id: string): Promise<void>;
}

/**
 * Reserves a call whose limits live on several slots (Redis Cluster, `scope` layout):
 * slot group by slot group, in the given (ascending slot) order, each group one atomic
 * script under the same reservation id. When a group refuses, or Redis fails, the groups
 * already reserved are rolled back before the answer, so the call stays all-or-nothing.
 *
 * Exactness: a group only admits when its counters have room, and a rollback returns
 * exactly the units this call added to the window it added them to, so the admitted
 * calls never exceed any limit. The price is conservative: while a call holds an early
 * group and is then refused on a later one, another call needing the early group's
 * counters may be refused although it would have fitted a moment later.
 *
 * A refusal's `counters` holds the states of the refusing group's specs only (the other
 * groups were not read, or were given back); `blockedBy` indexes the specs passed in.
 */
export async function reserveSpread(
  specs: readonly CounterSpec[],
  groups: readonly (readonly number[])[],
  id: string,
  ops: SlotOps,
): Promise<ReserveOutcome> {
  const counters: Counters[number][] = new Array(specs.length);
  const states: Extract<ReserveOutcome, { admitted: true }>["counters"][number][] = new Array(
    specs.length,
  );
  const held: Counters[] = [];
  const undo = () => Promise.all(held.map((c) => ops.release(c, id)));
  for (const g of groups) {
    let out: ReserveOutcome;
    try {
      out = await ops.reserve(
        g.map((i) => specs[i]!),
        id,
      );
    } catch (err) {
      await undo();
      throw err;
    }
    if (!out.admitted) {
      await undo();
      return { ...out, blockedBy: g[out.blockedBy]! };
    }
    held.push(out.reservation.counters);
    for (let j = 0; j < g.length; j++) {
      counters[g[j]!] = out.reservation.counters[j]!;
      states[g[j]!] = out.counters[j]!;
    }
  }
  return { admitted: true, reservation: { id, counters }, counters: states };
}
