import type { UserDataStream, UserDataStreamEvents } from "../user-data-stream.js";

/** Every event a stream emitted, per event name, in order. */
export type RecordedStreamEvents = {
  [K in keyof UserDataStreamEvents]: UserDataStreamEvents[K][];
};

/** Subscribes to every stream event so a test can assert on what it saw. */
export function recordStreamEvents(stream: UserDataStream): RecordedStreamEvents {
  const seen: RecordedStreamEvents = {
    event: [],
    connected: [],
    disconnected: [],
    reconnecting: [],
    keyChanged: [],
    rotated: [],
    resynced: [],
    warning: [],
    fatal: [],
  };
  for (const name of Object.keys(seen) as (keyof UserDataStreamEvents)[]) {
    stream.on(name, (payload) => (seen[name] as unknown[]).push(payload));
  }
  return seen;
}
