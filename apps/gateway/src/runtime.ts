import type { LoadedConfig } from "./config.js";
import type { Logger } from "./logger.js";

/** What is closed at shutdown (or when start-up fails), in reverse order of opening. */
export class Cleanups {
  readonly #steps: Array<() => Promise<void> | void> = [];
  constructor(private readonly logger: Logger) {}
  /** Registers a step; steps run last-in, first-out. */
  add(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }
  /** Runs every registered step once; a failing step is logged and the rest still run. */
  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, "error while shutting down");
      }
    }
  }
}

/** The seams every part of one gateway shares. */
export interface Runtime {
  readonly loaded: LoadedConfig;
  readonly env: Record<string, string | undefined>;
  readonly logger: Logger;
  readonly now: () => number;
  readonly newId: () => string;
  readonly cleanups: Cleanups;
}
