// Personal keys issued at sign-in live in the gateway's own store, never in git: SQLite beside the
// other embedded data, or Redis when replicas share counters. Only the SHA-256 of a key is stored.
// Every revocation bumps an epoch that each replica watches, so its cache forgets revoked keys.
import { createHash, randomBytes } from 'node:crypto';

export const PERSONAL_KEY_PREFIX = 'pcp_';
/** Records stay listable this long past their expiry, then are dropped. */
export const RETAIN_EXPIRED_MS = 7 * 86_400_000;

export interface PersonalKeyRecord {
  /** Public id (`pk_…`), safe to show and to revoke by; not the key. */
  id: string;
  /** Lower-case hex SHA-256 of the key. */
  hash: string;
  idp: string;
  subject: string;
  email?: string;
  groups: string[];
  /** Where it was issued for (the CLI sends the host name), to tell a person's keys apart. */
  label?: string;
  createdAt: number;
  expiresAt: number;
  revokedAt?: number;
  revokedBy?: string;
  lastUsedAt?: number;
}

/** What `keys revoke` names: one key, every key of one person, or every key issued to a group. */
export type RevokeSelector = { keyId: string } | { subject: string; idp?: string } | { group: string };

export interface ListFilter {
  subject?: string;
  group?: string;
  /** Include revoked and expired keys (default: only usable ones). */
  all?: boolean;
}

export interface PersonalKeyStore {
  readonly kind: 'sqlite' | 'redis';
  insert(record: PersonalKeyRecord): Promise<void>;
  byHash(hash: string): Promise<PersonalKeyRecord | undefined>;
  list(filter: ListFilter, nowMs: number): Promise<PersonalKeyRecord[]>;
  /** Marks matching usable keys revoked; returns them. */
  revoke(selector: RevokeSelector, by: string, nowMs: number): Promise<PersonalKeyRecord[]>;
  /** Last-use times, written in batches off the request path. */
  touch(uses: ReadonlyMap<string, number>): Promise<void>;
  /** Grows on every revocation; a replica that sees it move drops its cache. */
  revocationEpoch(): Promise<number>;
  /** Called on revocations made by any replica, where the store can tell at once (Redis pub/sub). */
  onRevoked?(listener: () => void): void;
  close(): Promise<void>;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new personal key and its public id: 256 bits from the CSPRNG. */
export function mintPersonalKey(): { key: string; id: string } {
  return {
    key: PERSONAL_KEY_PREFIX + randomBytes(32).toString('base64url'),
    id: `pk_${randomBytes(9).toString('base64url')}`,
  };
}

export function matchesSelector(r: PersonalKeyRecord, s: RevokeSelector): boolean {
  if ('keyId' in s) return r.id === s.keyId;
  if ('subject' in s) return r.subject === s.subject && (s.idp === undefined || r.idp === s.idp);
  return r.groups.includes(s.group);
}

export function matchesFilter(r: PersonalKeyRecord, f: ListFilter, nowMs: number): boolean {
  if (f.subject !== undefined && r.subject !== f.subject) return false;
  if (f.group !== undefined && !r.groups.includes(f.group)) return false;
  if (!f.all && (r.revokedAt !== undefined || r.expiresAt <= nowMs)) return false;
  return true;
}

/** A record as the HTTP API and the CLI show it: never the hash. */
export function publicRecord(r: PersonalKeyRecord): Omit<PersonalKeyRecord, 'hash'> & { status: string } {
  const { hash: _hash, ...rest } = r;
  const status = r.revokedAt !== undefined ? 'revoked' : r.expiresAt <= Date.now() ? 'expired' : 'active';
  return { ...rest, status };
}
