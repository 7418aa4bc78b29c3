import { randomBytes } from "node:crypto";
import { zodIssueLines } from "@toolgate/policy-engine";
import { z } from "zod";
import { RateLimitStoreError, RateLimitStoreErrorCode } from "./errors.js";

/** `redis://` or `rediss://` (TLS), as ioredis accepts them. */
export const REDIS_URL = /^rediss?:\/\//;

/** A Redis URL option; the message shows the form to write. */
export const redisUrlSchema = z
  .string()
  .regex(REDIS_URL, "must start with redis:// or rediss://, e.g. redis://127.0.0.1:6379/0");

/** Turns a zod failure into a CONFIG_INVALID error whose message names each path. */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = zodIssueLines(result.error, what);
  throw new RateLimitStoreError(
    RateLimitStoreErrorCode.CONFIG_INVALID,
    `invalid ${what}: ${issues.join("; ")}`,
    { issues },
  );
}

/**
 * Default id source: a random per-store prefix plus a sequence number. Ids only need to
 * be unique across gateway instances, and one `randomBytes` per store (not per call)
 * keeps the hot path allocation-light.
 */
export function sequentialIds(prefix: string): () => string {
  const base = `${prefix}${randomBytes(8).toString("hex")}-`;
  let seq = 0;
  return () => base + (++seq).toString(36);
}
