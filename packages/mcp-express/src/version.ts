import { createRequire } from "node:module";

/**
 * This package's version, read from its package.json (one level above both `src/` and
 * `dist/`), so the serverInfo/clientInfo the gateway sends and its tracer's version follow
 * the release instead of a number written in several places.
 */
export const TOOLGATE_VERSION: string = (
  createRequire(import.meta.url)("../package.json") as { version: string }
).version;
