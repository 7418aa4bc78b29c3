/**
 * What the tool-call pipeline reads of a call's cancellation: whether and why it was
 * aborted, and an event to wait on while a call is held. A real `AbortSignal` fits it.
 */
export interface CallSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/**
 * An abort controller that builds the real `AbortController` only when something waits
 * on it (a held approval). Almost every call is decided, forwarded and answered without
 * anyone listening, and an AbortController with its signal is one of the costlier
 * objects a call would otherwise allocate.
 */
export class CallAbort implements CallSignal {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** The real signal, built on first use (already aborted when the call was). */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Aborts once with `reason` (later calls are ignored, as AbortController's are). */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }

  addEventListener(type: "abort", listener: () => void): void {
    this.signal.addEventListener(type, listener);
  }

  removeEventListener(type: "abort", listener: () => void): void {
    this.#controller?.signal.removeEventListener(type, listener);
  }
}
