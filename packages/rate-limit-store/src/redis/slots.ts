/**
 * Where the store's keys live on a Redis Cluster. Two layouts:
 *
 * - `store`: every key carries the store's one hash tag (`<prefix>{<hashTag>}:...`), so
 *   every call is one slot and one script, and the whole store is one shard.
 * - `scope`: a counter key carries its own scope value as the tag
 *   (`<prefix>{<scope>|<value>}:c:<counter>|<scope>|<value>`). The counters of one grant
 *   (per-tool and `all_tools`) share a slot, different grants spread over the masters,
 *   and a call whose limits span slots is reserved slot group by slot group.
 */

/** Number of hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

/** CRC16 (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster uses. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i]! << 8;
    for (let b = 0; b < 8; b++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

const utf8 = new TextEncoder();

/**
 * The slot Redis Cluster assigns to a key whose hash tag is `tag` (the text between the
 * first `{` and the next `}`); `tag` must be non-empty and contain no `}`.
 */
export function slotOfTag(tag: string): number {
  return crc16(utf8.encode(tag)) % CLUSTER_SLOTS;
}

/**
 * The hash tag of a counter key under the `scope` layout: its scope and value (what
 * follows the counter name), so every counter of one grant or session shares a slot.
 * `{`, `}` and `%` are percent-encoded (an injective escape, so distinct scopes never
 * merge and the tag never ends early); never empty.
 */
export function scopeTag(key: string): string {
  const bar = key.indexOf("|");
  const raw = bar >= 0 ? key.slice(bar + 1) : key;
  const tag = /[{}%]/.test(raw)
    ? raw.replace(/%/g, "%25").replace(/\{/g, "%7B").replace(/\}/g, "%7D")
    : raw;
  return tag.length > 0 ? tag : "%";
}

/** Builds every Redis key of the store: counters and settle markers. */
export interface KeyLayout {
  /** `true` when keys spread over slots (the `scope` layout). */
  readonly sharded: boolean;
  /** The Redis key of a counter; `ns` is `c:`, `s:` or `b:`. */
  counter(ns: string, key: string): string;
  /** The settle marker of reservation `id` in the slot of counter `key`. */
  marker(key: string, id: string): string;
  /** The slot of counter `key` (0 for every key under the `store` layout). */
  slot(key: string): number;
}

/** The `store` layout: one hash tag for every key, one slot. */
export function storeLayout(prefix: string, hashTag: string): KeyLayout {
  const base = `${prefix}{${hashTag}}:`;
  return {
    sharded: false,
    counter: (ns, key) => base + ns + key,
    marker: (_key, id) => base + "r:" + id,
    slot: () => 0,
  };
}

/** The `scope` layout: each counter in the slot of its scope value. */
export function scopeLayout(prefix: string): KeyLayout {
  return {
    sharded: true,
    counter: (ns, key) => `${prefix}{${scopeTag(key)}}:${ns}${key}`,
    marker: (key, id) => `${prefix}{${scopeTag(key)}}:r:${id}`,
    slot: (key) => slotOfTag(scopeTag(key)),
  };
}

/**
 * Indexes of `keys` grouped by slot, groups in ascending slot order. Every instance
 * reserves the groups of a call in this same order, so two calls competing for the
 * same counters meet on the first shared group instead of each holding one half.
 */
export function groupBySlot(layout: KeyLayout, keys: readonly string[]): number[][] {
  const bySlot = new Map<number, number[]>();
  for (let i = 0; i < keys.length; i++) {
    const slot = layout.slot(keys[i]!);
    const g = bySlot.get(slot);
    if (g === undefined) bySlot.set(slot, [i]);
    else g.push(i);
  }
  return [...bySlot.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}
