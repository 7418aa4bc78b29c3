import {
  clockSchema,
  fnSchema,
  type MeteredCounterStore,
  schedulerSchema,
} from "@toolgate/policy-engine";
import { z } from "zod";

/**
 * Runtime seams the factory passes to whichever store it builds: `now` and `scheduler`
 * for every store; `ids` (a reservation id source) for backends that need ids unique
 * across instances (the memory store derives its ids from a sequence it can look up
 * in O(1)).
 */
export const CounterStoreRuntimeSchema = z
  .object({
    /** Clock in epoch ms. Default `Date.now`. */
    now: clockSchema.optional(),
    /** Timers for sweeps, start-up waits and hold ceilings. Default: real, unref'd timers. */
    scheduler: schedulerSchema.optional(),
    /** Reservation id source, unique across gateway instances. */
    ids: fnSchema<() => string>("returning a unique reservation id").optional(),
  })
  .strict();

/** Input type of {@link CounterStoreRuntimeSchema}. */
export type CounterStoreRuntime = z.input<typeof CounterStoreRuntimeSchema>;

/**
 * One store backend in the URL-scheme registry. Adding a backend (Postgres, Valkey
 * Cluster, ...) is one file exporting one of these, one line in `registry.ts`, and a
 * run of the store contract tests; fail mode, insurance and the hold ceiling come
 * from the wrappers.
 */
export interface StoreBackend<C extends { readonly type: string } = { readonly type: string }> {
  /** `type` of the object form, e.g. `redis`. */
  readonly type: C["type"];
  /** URL schemes (with the colon) this backend answers, e.g. `["redis:", "rediss:"]`. */
  readonly schemes: readonly string[];
  /** The example shown when a config string names no known scheme. */
  readonly example: string;
  /** Zod schema of the object form (strict, with `type`). */
  readonly schema: z.ZodType<C, unknown>;
  /**
   * The one-line form to the object form's input. `url.searchParams` holds the query;
   * report problems with `ctx.addIssue` and return `undefined`.
   */
  fromUrl(url: URL, ctx: z.RefinementCtx): Record<string, unknown> | undefined;
  /**
   * For schemes a WHATWG URL cannot hold (e.g. a comma-separated seed list): parses the
   * whole config string instead of `fromUrl`.
   */
  fromString?(raw: string, ctx: z.RefinementCtx): Record<string, unknown> | undefined;
  /** Builds the store (with its own failure handling) from a parsed config. */
  create(config: C, runtime: CounterStoreRuntime): MeteredCounterStore;
}

/** Options every backend accepts, applied by the factory as wrappers. */
export interface CommonStoreConfig {
  /** See `withHoldCeiling`. Unset: a held reservation lasts at most its longest window. */
  readonly holdTimeoutMs?: number | undefined;
}
