// Detector results per content block, so the conversation history an agent resends every turn is not
// scanned again. Bounded by entries and bytes; evicts with CLOCK (second chance), an LRU approximation
// that costs nothing on a hit.
//
// Keying. `content` (default): blocks are bucketed by a cheap hash of their length and first and last
// characters, and a hit is confirmed by comparing the whole text (V8 compares with memcmp) — exact and
// fast, but the cache holds the texts themselves, in process memory only. `sha256`: the key is the
// SHA-256 of the text and nothing else is kept, at the price of hashing every block on every call
// (about 0.6 µs per KB on a small server core, several times the content comparison).
import { hash } from 'node:crypto';
import type { Match } from './types.ts';

export interface ScanCacheOptions {
  /** Most blocks remembered (default 50 000). */
  maxEntries?: number;
  /** Approximate memory bound in bytes, texts included in `content` mode (default 64 MiB). */
  maxBytes?: number;
  keyBy?: 'content' | 'sha256';
}

export interface CacheEntry {
  readonly key: number | string;
  /** The text itself (content keying), dropped when the entry leaves the cache. */
  text: string | undefined;
  /** Results per detector, by the slot of its signature (signatureSlot): read without hashing. */
  readonly bySlot: (Match[] | undefined)[];
  /** The key-aware results (`{"password": …}`) of the detector in `keyedSlot` for this text under `keyedKey`. */
  keyedKey?: string;
  keyedSlot?: number;
  keyedMatches?: Match[];
  /** UTF-8 length of the text, memoised for size limits. */
  utf8?: number;
  bytes: number;
  used: boolean;
  /**
   * Results for this text followed by another that is not its follower (split-secret scan), by the
   * other's entry and then by signature slot: what followerSeams held for a former follower, and the
   * seams of a text that occurs twice in one body.
   */
  joins?: WeakMap<CacheEntry, (import('./join.ts').JoinMatch[] | undefined)[]>;
  /** Next entry in the same bucket (content keying). */
  next: CacheEntry | undefined;
  /**
   * The entry of the text that followed this one in the last body scanned, and the results across
   * the seam between them by signature slot: a conversation resends its history in the same order,
   * so the next text is checked against it (one comparison) before it is looked up.
   */
  follower?: CacheEntry;
  followerSeams?: (import('./join.ts').JoinMatch[] | undefined)[];
  /** Set once the entry left the cache: a follower link to it no longer counts. */
  evicted?: boolean;
  /** The cache whose CLOCK list holds the entry (none once it left, or the cache was cleared). */
  owner: ScanCache | undefined;
  /** The entries before and after it in that list (older first). */
  older: CacheEntry | undefined;
  newer: CacheEntry | undefined;
  /** The cache's generation when it was stored; `clear()` starts a new one. */
  generation: number;
}

export interface ScanCacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

const slots = new Map<string, number>();

/** A small number for a detector signature, the same in every cache of the process. */
export function signatureSlot(signature: string): number {
  let slot = slots.get(signature);
  if (slot === undefined) {
    slot = slots.size;
    slots.set(signature, slot);
  }
  return slot;
}

const EDGE = 16;
const ENTRY_OVERHEAD = 160;
const MATCH_OVERHEAD = 200;
const SLOT_OVERHEAD = 8;

// Length plus the first and last characters: touches two cache lines of the text, which matters when a
// call carries a hundred blocks. Blocks that share all three chain in one bucket.
function edgeHash(text: string): number {
  const n = text.length;
  let h = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b);
  const head = Math.min(n, EDGE);
  for (let i = 0; i < head; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  for (let i = Math.max(head, n - EDGE); i < n; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h | 0;
}

export class ScanCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly keyBy: 'content' | 'sha256';
  readonly #buckets = new Map<number | string, CacheEntry>();
  // Every entry, in CLOCK order, as a list through the entries themselves: a Set cost a hash of the
  // entry on every store, and its growth after clear() showed in a first scan.
  #oldest: CacheEntry | undefined;
  #newest: CacheEntry | undefined;
  #count = 0;
  #bytes = 0;
  #generation = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  /** The last text `lookup` missed and its key: a miss is nearly always followed by its store. */
  #missed: string | undefined;
  #missedKey: number | string = 0;

  constructor(options: ScanCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 50_000;
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.keyBy = options.keyBy ?? 'content';
    if (!(this.maxEntries > 0) || !(this.maxBytes > 0))
      throw new Error('scan cache: limits must be positive');
  }

  #keyOf(text: string): number | string {
    return this.keyBy === 'sha256' ? hash('sha256', text, 'base64') : edgeHash(text);
  }

  /** What `store` remembered for `entry` under a detector signature. */
  resultsOf(entry: CacheEntry, signature: string): Match[] | undefined {
    return entry.bySlot[signatureSlot(signature)];
  }

  /** The entry for exactly this text, if remembered. */
  lookup(text: string): CacheEntry | undefined {
    const key = this.#keyOf(text);
    const e = this.#find(text, key);
    if (e === undefined) {
      this.#misses++;
      this.#missed = text;
      this.#missedKey = key;
      return undefined;
    }
    e.used = true;
    this.#hits++;
    return e;
  }

  /**
   * The entry for `text` when it is the text that followed `previous` last time (content keying):
   * lookup without hashing, for the history a conversation resends. Undefined otherwise.
   */
  follow(previous: CacheEntry, text: string): CacheEntry | undefined {
    return this.confirm(previous.follower, text);
  }

  /** `e` when it is still this cache's entry for exactly `text` (content keying), counted as a hit. */
  confirm(e: CacheEntry | undefined, text: string): CacheEntry | undefined {
    if (e === undefined || e.evicted === true || e.generation !== this.#generation || e.text !== text)
      return undefined;
    e.used = true;
    this.#hits++;
    return e;
  }

  #find(text: string, key: number | string): CacheEntry | undefined {
    for (let e = this.#buckets.get(key); e !== undefined; e = e.next) {
      if (e.text === undefined || e.text === text) return e;
    }
    return undefined;
  }

  /** Remembers `matches` for `text` under a detector signature; `entry` is what lookup returned, if anything. */
  store(text: string, signature: string, matches: Match[], entry?: CacheEntry): CacheEntry {
    let e = entry !== undefined && entry.owner === this ? entry : undefined;
    if (e === undefined && text === this.#missed) {
      // Just looked up and not found: the key is known, and only a store could have added the entry.
      this.#missed = undefined;
      e = this.#create(text, this.#missedKey);
    }
    const key = e === undefined ? this.#keyOf(text) : e.key;
    e ??= this.#find(text, key);
    e ??= this.#create(text, key);
    const slot = signatureSlot(signature);
    const previous = e.bySlot[slot];
    const delta =
      SLOT_OVERHEAD +
      matches.length * MATCH_OVERHEAD -
      (previous ? SLOT_OVERHEAD + previous.length * MATCH_OVERHEAD : 0);
    e.bySlot[slot] = matches;
    e.bytes += delta;
    this.#bytes += delta;
    this.#evict(e);
    return e;
  }

  /** A new entry for `text` under `key`, not yet holding any detector's results. */
  #create(text: string, key: number | string): CacheEntry {
    const keep = this.keyBy === 'content';
    const e: CacheEntry = {
      key,
      text: keep ? text : undefined,
      bySlot: [],
      bytes: ENTRY_OVERHEAD + (typeof key === 'string' ? key.length * 2 : 8) + (keep ? text.length * 2 : 0),
      used: false,
      next: keep ? this.#buckets.get(key) : undefined,
      // Every field from the start: entries of one shape keep the scan loop's reads monomorphic.
      utf8: undefined,
      keyedKey: undefined,
      keyedSlot: undefined,
      keyedMatches: undefined,
      joins: undefined,
      follower: undefined,
      followerSeams: undefined,
      evicted: false,
      generation: this.#generation,
      owner: undefined,
      older: undefined,
      newer: undefined,
    };
    if (!keep) {
      const old = this.#buckets.get(key);
      if (old) this.#remove(old);
    }
    this.#buckets.set(key, e);
    this.#append(e);
    this.#bytes += e.bytes;
    return e;
  }

  #remove(e: CacheEntry) {
    // Links to it from other entries (and a chain's last body) stay until they are replaced: it lets
    // go of its text and of the entries it links to, so what they keep alive is small.
    e.evicted = true;
    e.text = undefined;
    e.follower = undefined;
    e.followerSeams = undefined;
    this.#unlink(e);
    this.#bytes -= e.bytes;
    const head = this.#buckets.get(e.key);
    if (head === e) {
      if (e.next) this.#buckets.set(e.key, e.next);
      else this.#buckets.delete(e.key);
      return;
    }
    for (let p = head; p !== undefined; p = p.next) {
      if (p.next === e) {
        p.next = e.next;
        return;
      }
    }
  }

  #evict(keep: CacheEntry) {
    let guard = this.#count * 2 + 2;
    while ((this.#count > this.maxEntries || this.#bytes > this.maxBytes) && guard-- > 0) {
      const oldest = this.#oldest!;
      if (oldest === keep && this.#count === 1) break;
      if (oldest.used || oldest === keep) {
        oldest.used = false;
        this.#unlink(oldest);
        this.#append(oldest);
      } else {
        this.#remove(oldest);
        this.#evictions++;
      }
    }
  }

  /** Puts `e` at the new end of the CLOCK list. */
  #append(e: CacheEntry): void {
    e.owner = this;
    e.older = this.#newest;
    e.newer = undefined;
    if (this.#newest === undefined) this.#oldest = e;
    else this.#newest.newer = e;
    this.#newest = e;
    this.#count++;
  }

  /** Takes `e` out of the CLOCK list. */
  #unlink(e: CacheEntry): void {
    if (e.owner !== this) return;
    if (e.older === undefined) this.#oldest = e.newer;
    else e.older.newer = e.newer;
    if (e.newer === undefined) this.#newest = e.older;
    else e.newer.older = e.older;
    e.owner = undefined;
    e.older = undefined;
    e.newer = undefined;
    this.#count--;
  }

  clear(): void {
    this.#missed = undefined;
    this.#generation++;
    this.#buckets.clear();
    for (let e = this.#oldest; e !== undefined; ) {
      const next = e.newer;
      e.owner = undefined;
      e.older = undefined;
      e.newer = undefined;
      e = next;
    }
    this.#oldest = undefined;
    this.#newest = undefined;
    this.#count = 0;
    this.#bytes = 0;
  }

  stats(): ScanCacheStats {
    return {
      entries: this.#count,
      bytes: this.#bytes,
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
    };
  }
}

/** The process-wide cache chains use unless given their own (or `cache: false`). */
export const defaultScanCache = new ScanCache();
