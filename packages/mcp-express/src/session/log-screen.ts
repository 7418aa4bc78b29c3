/**
 * Log notifications (`notifications/message`) carry no request id, so the gateway cannot
 * tell which call an upstream logged for. While a call of a tool with a result policy is
 * in flight on a link, every log notification from that link is screened by that call's
 * policy (by each of them, when several run): a secret a tool writes to its log reaches
 * the client no more than one in its result. The registry is per link, so on a link
 * shared by several sessions a log is screened whichever session's call is running.
 */
import type { ResultScreen } from "../core/result-policy.js";
import type { RpcMessage } from "../jsonrpc.js";

const inFlight = new WeakMap<object, Set<ResultScreen>>();

/** Runs `forward` with `screen` registered on `link` for as long as the call is open. */
export async function withLogScreen<T>(
  link: object,
  screen: ResultScreen | undefined,
  forward: () => Promise<T>,
): Promise<T> {
  if (screen === undefined) return forward();
  let set = inFlight.get(link);
  if (set === undefined) {
    set = new Set();
    inFlight.set(link, set);
  }
  set.add(screen);
  try {
    return await forward();
  } finally {
    set.delete(screen);
  }
}

/**
 * A log notification as the client may see it, screened by every call in flight on
 * `link` with a result policy; `undefined` when one withheld it (nothing is sent).
 */
export function screenLog(link: object, m: RpcMessage): RpcMessage | undefined {
  const set = inFlight.get(link);
  if (set === undefined || set.size === 0 || !m.params) return m;
  let params: Record<string, unknown> | undefined = m.params;
  for (const s of set) {
    params = s.log(params);
    if (params === undefined) return undefined;
  }
  return params === m.params ? m : { ...m, params };
}
