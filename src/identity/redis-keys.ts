// Personal keys in Redis, shared by every replica. A revocation bumps an epoch and is published on
// a channel, so other replicas drop their caches at once; the epoch is also polled in case a
// message is lost while a subscriber reconnects.
import { Redis } from 'ioredis';
import {
  type ListFilter,
  matchesFilter,
  matchesSelector,
  type PersonalKeyRecord,
  type PersonalKeyStore,
  RETAIN_EXPIRED_MS,
  type RevokeSelector,
} from './key-store.ts';

export interface RedisKeyStoreOptions {
  url: string;
  keyPrefix?: string;
  onConnectionError?: (message: string) => void;
}

export class RedisPersonalKeyStore implements PersonalKeyStore {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  #subscriber: Redis | undefined;
  readonly #prefix: string;
  readonly #url: string;
  readonly #onError?: (message: string) => void;

  constructor(options: RedisKeyStoreOptions) {
    this.#prefix = options.keyPrefix ?? 'portcullis:identity:';
    this.#url = options.url;
    this.#onError = options.onConnectionError;
    this.#redis = new Redis(options.url, {
      maxRetriesPerRequest: 1,
      commandTimeout: 1_000,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    });
    this.#redis.on('error', (err: Error) => this.#onError?.(err.message));
  }

  #k(name: string): string {
    return `${this.#prefix}${name}`;
  }

  async insert(r: PersonalKeyRecord): Promise<void> {
    await this.#redis
      .multi()
      .set(this.#k(`key:${r.hash}`), JSON.stringify(r), 'PXAT', r.expiresAt + RETAIN_EXPIRED_MS)
      .zadd(this.#k('index'), r.expiresAt, r.hash)
      .zremrangebyscore(this.#k('index'), '-inf', r.createdAt - RETAIN_EXPIRED_MS)
      .exec();
  }

  async byHash(hash: string): Promise<PersonalKeyRecord | undefined> {
    const text = await this.#redis.get(this.#k(`key:${hash}`));
    return text === null ? undefined : (JSON.parse(text) as PersonalKeyRecord);
  }

  async #all(): Promise<PersonalKeyRecord[]> {
    const hashes = await this.#redis.zrevrange(this.#k('index'), 0, -1);
    if (hashes.length === 0) return [];
    const [texts, used] = await Promise.all([
      this.#redis.mget(hashes.map((h) => this.#k(`key:${h}`))),
      this.#redis.hmget(this.#k('used'), ...hashes),
    ]);
    const out: PersonalKeyRecord[] = [];
    texts.forEach((text, i) => {
      if (text === null) return;
      const r = JSON.parse(text) as PersonalKeyRecord;
      const at = used[i];
      if (at !== null && at !== undefined) r.lastUsedAt = Number(at);
      out.push(r);
    });
    return out;
  }

  async list(filter: ListFilter, nowMs: number): Promise<PersonalKeyRecord[]> {
    return (await this.#all()).filter((r) => matchesFilter(r, filter, nowMs));
  }

  async revoke(selector: RevokeSelector, by: string, nowMs: number): Promise<PersonalKeyRecord[]> {
    const revoked = (await this.#all())
      .filter((r) => r.revokedAt === undefined && r.expiresAt > nowMs && matchesSelector(r, selector))
      .map((r) => ({ ...r, revokedAt: nowMs, revokedBy: by }));
    if (revoked.length === 0) return [];
    const tx = this.#redis.multi();
    for (const r of revoked) {
      tx.set(this.#k(`key:${r.hash}`), JSON.stringify(r), 'PXAT', r.expiresAt + RETAIN_EXPIRED_MS);
    }
    tx.incr(this.#k('epoch'));
    tx.publish(this.#k('revoked'), String(revoked.length));
    await tx.exec();
    return revoked;
  }

  async touch(uses: ReadonlyMap<string, number>): Promise<void> {
    if (uses.size === 0) return;
    const fields: string[] = [];
    for (const [hash, at] of uses) fields.push(hash, String(at));
    await this.#redis.hset(this.#k('used'), ...fields);
  }

  async revocationEpoch(): Promise<number> {
    return Number((await this.#redis.get(this.#k('epoch'))) ?? 0);
  }

  onRevoked(listener: () => void): void {
    if (this.#subscriber === undefined) {
      this.#subscriber = new Redis(this.#url, {
        retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
      });
      this.#subscriber.on('error', (err: Error) => this.#onError?.(err.message));
      void this.#subscriber.subscribe(this.#k('revoked')).catch(() => {});
    }
    this.#subscriber.on('message', () => listener());
  }

  async close(): Promise<void> {
    this.#subscriber?.disconnect();
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}
