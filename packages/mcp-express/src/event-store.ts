/** One stored SSE event: which stream it belongs to and the serialized JSON-RPC message. */
interface StoredEvent {
  readonly id: string;
  readonly streamId: string;
  readonly data: string;
}

/**
 * Bounded per-session memory of SSE events, so a client whose stream dropped can
 * reconnect with `Last-Event-ID` and receive what it missed. Event ids are
 * `<streamId>.<seq>`, so the stream can be recovered from the id alone.
 * Oldest events are dropped beyond `capacity` (default 1000).
 */
export class SessionEventStore {
  private readonly events: StoredEvent[] = [];
  private seq = 0;
  constructor(private readonly capacity = 1000) {}

  /** Records a message for a stream and returns its event id. */
  store(streamId: string, data: string): string {
    const id = `${streamId}.${++this.seq}`;
    this.events.push({ id, streamId, data });
    if (this.events.length > this.capacity) this.events.shift();
    return id;
  }

  /** Stream id encoded in an event id, or undefined when malformed. */
  static streamOf(eventId: string): string | undefined {
    const dot = eventId.lastIndexOf(".");
    return dot > 0 ? eventId.slice(0, dot) : undefined;
  }

  /**
   * Events of the same stream after `lastEventId`, oldest first. Returns undefined when the
   * id is unknown (expired or never issued) so the caller can refuse the resumption.
   */
  after(lastEventId: string): StoredEvent[] | undefined {
    const streamId = SessionEventStore.streamOf(lastEventId);
    if (streamId === undefined) return undefined;
    const idx = this.events.findIndex((e) => e.id === lastEventId);
    if (idx < 0) {
      // The priming event of a stream is stored too, so an unknown id really is gone.
      return undefined;
    }
    const out: StoredEvent[] = [];
    for (let i = idx + 1; i < this.events.length; i++) {
      const e = this.events[i]!;
      if (e.streamId === streamId) out.push(e);
    }
    return out;
  }
}
