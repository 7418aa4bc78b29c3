/** A decision as the approvals page shows it: no argument values, ever. */
export interface FeedDecision {
  readonly id: string;
  readonly at: number;
  readonly grant: string;
  /** The verified subject (OAuth `sub`), when the caller presented a token. */
  readonly subject?: string | undefined;
  /** The OAuth client id of the caller's token. */
  readonly clientId?: string | undefined;
  readonly session?: string | undefined;
  readonly tool: string;
  readonly effect: string;
  readonly code: string;
  readonly reason: string;
  readonly ruleId: string;
  readonly outcome?: string | undefined;
  /** Who approved or rejected a held call (e.g. `admin`, `caller:withdrawn`); never a key. */
  readonly approver?: string | undefined;
  readonly retryAfterMs?: number | undefined;
  readonly shadow: boolean;
}

/** Per-grant tallies for the page's counter cards. */
export interface GrantTally {
  allowed: number;
  denied: number;
  rateLimited: number;
  held: number;
  forwarded: number;
  upstreamErrors: number;
}

/**
 * Recent decisions of this instance (a bounded ring) plus per-grant tallies, with a
 * subscription for the page's live stream.
 *
 * @example
 * const feed = new DecisionFeed(200);
 * feed.subscribe((d) => console.log(d.tool, d.effect));
 */
export class DecisionFeed {
  readonly #size: number;
  readonly #items: FeedDecision[] = [];
  readonly #tallies = new Map<string, GrantTally>();
  readonly #listeners = new Set<(d: FeedDecision) => void>();

  constructor(size = 200) {
    this.#size = size;
  }

  push(d: FeedDecision): void {
    this.#items.push(d);
    if (this.#items.length > this.#size) this.#items.shift();
    let t = this.#tallies.get(d.grant);
    if (!t) {
      t = { allowed: 0, denied: 0, rateLimited: 0, held: 0, forwarded: 0, upstreamErrors: 0 };
      this.#tallies.set(d.grant, t);
    }
    if (d.effect === "allow") t.allowed++;
    else if (d.effect === "require_approval") t.held++;
    else if (d.code === "RATE_LIMITED") t.rateLimited++;
    else t.denied++;
    if (d.outcome === "forwarded") t.forwarded++;
    if (d.outcome === "upstream_error") t.upstreamErrors++;
    for (const l of this.#listeners) l(d);
  }

  /** Newest first. */
  recent(limit = 50): FeedDecision[] {
    return this.#items.slice(-limit).reverse();
  }

  tallies(): Record<string, GrantTally> {
    return Object.fromEntries([...this.#tallies].map(([k, v]) => [k, { ...v }]));
  }

  subscribe(listener: (d: FeedDecision) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
