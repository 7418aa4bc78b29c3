import type { UserDataStream, UserDataStreamEvents } from "../user-data-stream.js";

/** Every event a source emitted, per event name, in order. */
export type RecordedEvents<E> = { [K in keyof E]: E[K][] };

/** Every event a stream emitted, per event name, in order. */
export type RecordedStreamEvents = RecordedEvents<UserDataStreamEvents>;

/** Subscribes to each named event of `source` so a test can assert on what it saw. */
export function recordEvents<E>(
  source: { on<K extends keyof E>(event: K, listener: (payload: E[K]) => void): unknown },
  names: readonly (keyof E)[],
): RecordedEvents<E> {
  const seen = {} as RecordedEvents<E>;
  for (const name of names) {
    const list: E[typeof name][] = [];
    seen[name] = list;
    source.on(name, (payload) => list.push(payload));
  }
  return seen;
}

/** Subscribes to every stream event so a test can assert on what it saw. */
export function recordStreamEvents(stream: UserDataStream): RecordedStreamEvents {
  return recordEvents<UserDataStreamEvents>(stream, [
    "event",
    "connected",
    "disconnected",
    "reconnecting",
    "keyChanged",
    "rotated",
    "resynced",
    "warning",
    "fatal",
  ]);
}
