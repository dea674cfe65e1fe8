// Personal keys in SQLite (node:sqlite), for a gateway without Redis. Workers on one machine share
// the file; the revocation epoch is a row they all read.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  type ListFilter,
  matchesFilter,
  matchesSelector,
  type PersonalKeyRecord,
  type PersonalKeyStore,
  RETAIN_EXPIRED_MS,
  type RevokeSelector,
} from './key-store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS personal_keys (
  hash TEXT PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  subject TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS personal_keys_subject ON personal_keys (subject);
CREATE TABLE IF NOT EXISTS identity_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO identity_meta (name, value) VALUES ('revocation_epoch', 0);
`;

export class SqlitePersonalKeyStore implements PersonalKeyStore {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #stmts: Record<'insert' | 'byHash' | 'all' | 'update' | 'epoch' | 'bump' | 'purge', StatementSync>;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path, { timeout: 2000 });
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA synchronous = NORMAL');
    this.#db.exec(SCHEMA);
    this.#stmts = {
      insert: this.#db.prepare(
        'INSERT INTO personal_keys (hash, id, subject, expires_at, record) VALUES (?, ?, ?, ?, ?)',
      ),
      byHash: this.#db.prepare('SELECT record FROM personal_keys WHERE hash = ?'),
      all: this.#db.prepare('SELECT record FROM personal_keys ORDER BY expires_at DESC'),
      update: this.#db.prepare('UPDATE personal_keys SET record = ? WHERE hash = ?'),
      epoch: this.#db.prepare("SELECT value FROM identity_meta WHERE name = 'revocation_epoch'"),
      bump: this.#db.prepare("UPDATE identity_meta SET value = value + 1 WHERE name = 'revocation_epoch'"),
      purge: this.#db.prepare('DELETE FROM personal_keys WHERE expires_at < ?'),
    };
  }

  async insert(r: PersonalKeyRecord): Promise<void> {
    this.#stmts.purge.run(r.createdAt - RETAIN_EXPIRED_MS);
    this.#stmts.insert.run(r.hash, r.id, r.subject, r.expiresAt, JSON.stringify(r));
  }

  async byHash(hash: string): Promise<PersonalKeyRecord | undefined> {
    const row = this.#stmts.byHash.get(hash) as { record: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.record) as PersonalKeyRecord);
  }

  #all(): PersonalKeyRecord[] {
    return (this.#stmts.all.all() as { record: string }[]).map((row) => JSON.parse(row.record));
  }

  async list(filter: ListFilter, nowMs: number): Promise<PersonalKeyRecord[]> {
    return this.#all().filter((r) => matchesFilter(r, filter, nowMs));
  }

  async revoke(selector: RevokeSelector, by: string, nowMs: number): Promise<PersonalKeyRecord[]> {
    const revoked: PersonalKeyRecord[] = [];
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const r of this.#all()) {
        if (r.revokedAt !== undefined || r.expiresAt <= nowMs || !matchesSelector(r, selector)) continue;
        const next = { ...r, revokedAt: nowMs, revokedBy: by };
        this.#stmts.update.run(JSON.stringify(next), r.hash);
        revoked.push(next);
      }
      if (revoked.length > 0) this.#stmts.bump.run();
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    return revoked;
  }

  async touch(uses: ReadonlyMap<string, number>): Promise<void> {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const [hash, at] of uses) {
        const row = this.#stmts.byHash.get(hash) as { record: string } | undefined;
        if (row === undefined) continue;
        const r = JSON.parse(row.record) as PersonalKeyRecord;
        if ((r.lastUsedAt ?? 0) < at) this.#stmts.update.run(JSON.stringify({ ...r, lastUsedAt: at }), hash);
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async revocationEpoch(): Promise<number> {
    return Number((this.#stmts.epoch.get() as { value: number }).value);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
