import { createMemoryStore } from "@toolgate/policy-engine";
import { z } from "zod";
import type { StoreBackend } from "./types.js";

const MemoryConfigSchema = z
  .object({
    type: z.literal("memory"),
    /** See `withHoldCeiling`. */
    holdTimeoutMs: z.number().int().positive().optional(),
  })
  .strict();

/** A parsed `memory` store config. */
export type MemoryConfig = z.output<typeof MemoryConfigSchema>;

/** `memory` (or `memory:?holdTimeout=120000`): the one in-memory store, for one gateway. */
export const memoryBackend: StoreBackend<MemoryConfig> = {
  type: "memory",
  schemes: ["memory:"],
  example: '"memory"',
  schema: MemoryConfigSchema,
  fromUrl(url, ctx) {
    const out: Record<string, unknown> = { type: "memory" };
    for (const [param, value] of url.searchParams) {
      if (param !== "holdTimeout") {
        ctx.addIssue({ code: "custom", message: `unknown option ?${param} for the memory store` });
        return undefined;
      }
      out.holdTimeoutMs = Number(value);
    }
    return out;
  },
  create(_config, rt) {
    return createMemoryStore({
      ...(rt.now !== undefined && { now: rt.now }),
      ...(rt.scheduler !== undefined && { scheduler: rt.scheduler }),
    });
  },
};
