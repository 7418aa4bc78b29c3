import type { BuiltinFactory } from "./gateway.js";

/**
 * Starts the built-in `binance-us` upstream: the Binance.US listen-key tools, backed by
 * the in-process mock exchange unless `BINANCE_US_API_KEY` is set.
 */
export const binanceBuiltin: BuiltinFactory = async (entry) => {
  throw new Error(`built-in upstream "${entry.builtin}" is not wired yet`);
};
