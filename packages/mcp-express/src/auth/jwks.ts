import { createLocalJWKSet, type JSONWebKeySet, type JWSHeaderParameters } from "jose";
import { errText } from "../errors.js";

/** The slice of `fetch` this module uses (injectable for tests and custom agents). */
export type FetchLike = (
  url: string,
  init: { headers: Record<string, string>; signal: AbortSignal; redirect: "error" },
) => Promise<{
  ok: boolean;
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

/** Largest metadata or JWKS document read (a real JWKS is a few KiB). */
const MAX_DOC_BYTES = 512 * 1024;

/**
 * GETs a JSON document from the authorization server: no redirects, a time limit and a
 * size limit, so a slow or hostile server cannot hang or flood the gateway.
 */
export async function fetchJson(
  fetchImpl: FetchLike,
  url: string,
  timeoutMs: number,
): Promise<unknown> {
  const res = await fetchImpl(url, {
    headers: { accept: "application/json" },
    signal: AbortSignal.timeout(timeoutMs),
    redirect: "error",
  });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > MAX_DOC_BYTES)
    throw new Error(`GET ${url}: document larger than ${MAX_DOC_BYTES} bytes`);
  const text = await res.text();
  if (text.length > MAX_DOC_BYTES)
    throw new Error(`GET ${url}: document larger than ${MAX_DOC_BYTES} bytes`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`GET ${url}: not JSON`);
  }
}

/** Options of {@link JwksCache}. */
export interface JwksCacheOptions {
  /** Where the key set lives, or a function resolving it once (issuer discovery). */
  readonly uri: () => Promise<string>;
  readonly fetch: FetchLike;
  readonly now: () => number;
  /** Keys older than this are refetched before the next verification. */
  readonly maxAgeMs: number;
  /** Least time between two fetches caused by an unknown `kid` (or a failed fetch). */
  readonly cooldownMs: number;
  readonly timeoutMs: number;
  /** Told when a refresh fails (the last good keys stay in use). */
  readonly onError?: (message: string) => void;
}

type KeyResolver = ReturnType<typeof createLocalJWKSet>;

/**
 * The authorization server's signing keys, fetched once and then only when they are
 * older than `maxAgeMs` or a token names a `kid` the set lacks (at most once per
 * `cooldownMs`), never per request: a client sending made-up `kid`s cannot turn the
 * gateway into a load generator against its authorization server. One fetch at a time;
 * concurrent verifications wait for it. When a refresh fails the last good keys stay in
 * use, so a brief outage of the authorization server does not log everyone out.
 */
export class JwksCache {
  private resolver: KeyResolver | undefined;
  private kids = new Set<string>();
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  /** Fetches done so far (for tests and metrics). */
  fetches = 0;
  /** Bumped whenever a new key set is loaded: results verified under older keys are void. */
  epoch = 0;

  constructor(private readonly opts: JwksCacheOptions) {}

  /** True once a key set has been loaded. */
  get loaded(): boolean {
    return this.resolver !== undefined;
  }

  /** True while the loaded set is younger than `maxAgeMs` (no refresh due). */
  fresh(now: number): boolean {
    return this.resolver !== undefined && now - this.fetchedAt < this.opts.maxAgeMs;
  }

  /**
   * The resolver to verify a token whose header is `header` with, after refreshing the
   * set when it is stale or lacks the token's `kid` (cool-down permitting). Rejects
   * only when no key set could ever be loaded.
   */
  async resolverFor(header: JWSHeaderParameters): Promise<KeyResolver> {
    const now = this.opts.now();
    const stale = now - this.fetchedAt >= this.opts.maxAgeMs;
    const unknownKid = typeof header.kid === "string" && !this.kids.has(header.kid);
    const mayFetch = now - this.lastAttempt >= this.opts.cooldownMs;
    if (this.resolver === undefined || ((stale || unknownKid) && mayFetch)) {
      await this.refresh();
    }
    if (this.resolver === undefined) throw new Error("signing keys are not available");
    return this.resolver;
  }

  /** Refetches now (single flight). Failures keep the previous keys and are reported. */
  refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async load(): Promise<void> {
    this.lastAttempt = this.opts.now();
    this.fetches++;
    try {
      const uri = await this.opts.uri();
      const doc = await fetchJson(this.opts.fetch, uri, this.opts.timeoutMs);
      const keys = (doc as { keys?: unknown } | null)?.keys;
      if (!Array.isArray(keys)) throw new Error(`GET ${uri}: no "keys" list`);
      // Only public signing keys: a symmetric ("oct") key in a JWKS would let anyone who
      // reads the set mint tokens, and private parts must never be trusted or kept.
      const usable = keys.filter(
        (k: unknown) =>
          typeof k === "object" &&
          k !== null &&
          (k as { kty?: unknown }).kty !== "oct" &&
          !("d" in k) &&
          ((k as { use?: unknown }).use === undefined || (k as { use?: unknown }).use === "sig"),
      ) as JSONWebKeySet["keys"];
      this.resolver = createLocalJWKSet({ keys: usable });
      this.kids = new Set(
        usable.map((k) => k.kid).filter((k): k is string => typeof k === "string"),
      );
      this.fetchedAt = this.opts.now();
      this.epoch++;
    } catch (e) {
      this.opts.onError?.(errText(e));
    }
  }
}
