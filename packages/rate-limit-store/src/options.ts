import { randomBytes } from "node:crypto";
import { z } from "zod";
import { RateLimitStoreError, RateLimitStoreErrorCode } from "./errors.js";

/** Something like `setTimeout`/`clearTimeout`, injected so tests can drive time. */
export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real timers, unref'd so an idle store never keeps the process alive. */
export const realScheduler: Scheduler = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/** `redis://` or `rediss://` (TLS), as ioredis accepts them. */
export const REDIS_URL = /^rediss?:\/\//;

/** A Redis URL option; the message shows the form to write. */
export const redisUrlSchema = z
  .string()
  .regex(REDIS_URL, "must start with redis:// or rediss://, e.g. redis://127.0.0.1:6379/0");

export const fnSchema = <T>(what: string) =>
  z.custom<T>((v) => typeof v === "function", { message: `must be a function (${what})` });

export const schedulerSchema = z.custom<Scheduler>(
  (v) =>
    typeof v === "object" &&
    v !== null &&
    typeof (v as Scheduler).setTimeout === "function" &&
    typeof (v as Scheduler).clearTimeout === "function",
  { message: "must be an object with setTimeout(fn, ms) and clearTimeout(handle)" },
);

/** Turns a zod failure into a CONFIG_INVALID error whose message names each path. */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => {
    const path = i.path.length > 0 ? i.path.join(".") : "(root)";
    return `${what}.${path}: ${i.message}`;
  });
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
