// The credentials the gateway reads from secret managers, cached per reference for its TTL and
// refreshed in the background before it runs out, so a rotation reaches the next call without a
// restart and the hot path never waits on the network. When the manager is down, the cached value
// serves until its TTL ends; after that, calls to the provider are refused with a clear reason.
// Values stay in memory only: they are never logged, and errors name the reference, not the value.
import type { Logger } from 'pino';
import { describeRef, type SecretFetcher, type SecretManagerName, type SecretRef } from './types.ts';

export const DEFAULT_TTL_SECONDS = 300;

interface Entry {
  ref: SecretRef;
  value?: string;
  expiresAt: number;
  refreshAt: number;
  lastError?: { at: number; message: string };
  inflight?: Promise<void>;
  retryTimer?: NodeJS.Timeout;
}

export type SecretRead = { value: string; error?: undefined } | { value?: undefined; error: string };

export interface SecretCacheOptions {
  fetchers: Partial<Record<SecretManagerName, SecretFetcher>>;
  log: Logger;
  now?: () => number;
  /** Fraction of the TTL after which a background refresh starts; default 0.8. */
  refreshAfter?: number;
  /** Delay before retrying a failed fetch; default 5 s, at most the time left. */
  retryMs?: number;
}

export class SecretCache {
  readonly #o: SecretCacheOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  #closed = false;

  constructor(options: SecretCacheOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** The cached value now, starting a fetch when there is none or it is due for refresh. */
  read(ref: SecretRef): SecretRead {
    const entry = this.#entry(ref);
    const now = this.#now();
    if (entry.value !== undefined && now < entry.expiresAt) {
      if (now >= entry.refreshAt) void this.#refresh(entry);
      return { value: entry.value };
    }
    void this.#refresh(entry);
    const where = describeRef(ref);
    if (entry.value !== undefined) {
      return {
        error: `the credential from ${where} expired at ${new Date(entry.expiresAt).toISOString()} and cannot be renewed: ${entry.lastError?.message ?? 'the secret manager has not answered'}`,
      };
    }
    if (entry.lastError)
      return { error: `the credential from ${where} cannot be read: ${entry.lastError.message}` };
    return { error: `the credential from ${where} is being fetched; retry in a moment` };
  }

  /** Fetch now (at start-up or when a policy naming the reference activates); resolves when done. */
  async load(ref: SecretRef): Promise<SecretRead> {
    const entry = this.#entry(ref);
    if (entry.value === undefined || this.#now() >= entry.refreshAt) await this.#refresh(entry);
    return this.read(ref);
  }

  /** For /status: each reference's state, never a value. */
  status(): {
    secret: string;
    state: 'ok' | 'stale' | 'expired' | 'pending';
    expiresAt?: string;
    error?: string;
  }[] {
    const now = this.#now();
    return [...this.#entries.values()].map((e) => ({
      secret: describeRef(e.ref),
      state:
        e.value === undefined ? 'pending' : now >= e.expiresAt ? 'expired' : e.lastError ? 'stale' : 'ok',
      ...(e.value !== undefined ? { expiresAt: new Date(e.expiresAt).toISOString() } : {}),
      ...(e.lastError ? { error: e.lastError.message } : {}),
    }));
  }

  /** Forget references no longer in use (values dropped from memory). */
  retain(refs: SecretRef[]): void {
    const keep = new Set(refs.map(keyOf));
    for (const [key, entry] of this.#entries) {
      if (keep.has(key)) continue;
      clearTimeout(entry.retryTimer);
      this.#entries.delete(key);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#entries.values()) clearTimeout(entry.retryTimer);
    this.#entries.clear();
    await Promise.all(Object.values(this.#o.fetchers).map((f) => f?.close?.()));
  }

  #entry(ref: SecretRef): Entry {
    const key = keyOf(ref);
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { ref, expiresAt: 0, refreshAt: 0 };
      this.#entries.set(key, entry);
    }
    return entry;
  }

  #refresh(entry: Entry): Promise<void> {
    if (this.#closed) return Promise.resolve();
    entry.inflight ??= this.#fetch(entry).finally(() => {
      entry.inflight = undefined;
    });
    return entry.inflight;
  }

  async #fetch(entry: Entry): Promise<void> {
    const where = describeRef(entry.ref);
    const fetcher = this.#o.fetchers[entry.ref.manager];
    const ttlMs = (entry.ref.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000;
    try {
      if (!fetcher) throw new Error(`no ${entry.ref.manager} client is configured in this gateway`);
      const value = await fetcher.fetch(entry.ref);
      if (value === '') throw new Error('the secret is empty');
      const now = this.#now();
      const rotated = entry.value !== undefined && entry.value !== value;
      entry.value = value;
      entry.expiresAt = now + ttlMs;
      entry.refreshAt = now + ttlMs * (this.#o.refreshAfter ?? 0.8);
      if (entry.lastError || rotated) {
        this.#o.log.info({ secret: where, rotated }, 'credential fetched from the secret manager');
      }
      entry.lastError = undefined;
    } catch (err) {
      const message = scrub((err as Error).message ?? String(err), entry.value);
      entry.lastError = { at: this.#now(), message };
      const left = entry.expiresAt - this.#now();
      this.#o.log.warn(
        { secret: where, err: message, cachedForMs: Math.max(0, left) },
        left > 0
          ? 'secret manager unreachable; the cached credential serves until its TTL ends'
          : 'secret manager unreachable and no valid cached credential: calls needing it are refused',
      );
      clearTimeout(entry.retryTimer);
      if (!this.#closed) {
        entry.retryTimer = setTimeout(() => void this.#refresh(entry), this.#o.retryMs ?? 5000);
        entry.retryTimer.unref();
      }
    }
  }
}

function keyOf(ref: SecretRef): string {
  return JSON.stringify(ref, Object.keys(ref).sort());
}

/** Error text from a client library, with any known secret value cut out just in case. */
function scrub(message: string, value: string | undefined): string {
  return value ? message.split(value).join('***') : message;
}
