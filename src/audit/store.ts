// The audit table in SQLite: one row per record, holding its canonical JSON, its place in the hash
// chain, and copies of the fields people filter on (indexed). The JSON is the record; the columns
// are derived from it and `verify` checks that they still agree.
import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import {
  type AuditEntry,
  type AuditOutcome,
  type AuditRecord,
  chainHash,
  GENESIS_HASH,
  normalizeRecord,
} from './record.ts';

/** The filterable columns, in table order, as derived from a (normalized) record. */
export interface IndexedColumns {
  request_id: string;
  ts: string;
  ts_ms: number | null;
  key_id: string | null;
  owner: string | null;
  team: string | null;
  provider: string;
  model: string;
  outcome: string;
  decision_code: string | null;
  policy_revision: string;
}

export const INDEXED_COLUMN_NAMES = [
  'request_id',
  'ts',
  'ts_ms',
  'key_id',
  'owner',
  'team',
  'provider',
  'model',
  'outcome',
  'decision_code',
  'policy_revision',
] as const satisfies readonly (keyof IndexedColumns)[];

export function indexedColumns(r: AuditRecord): IndexedColumns {
  const ms = Date.parse(r.time);
  return {
    request_id: r.requestId,
    ts: r.time,
    ts_ms: Number.isNaN(ms) ? null : ms,
    key_id: r.keyId,
    owner: r.owner,
    team: r.team,
    provider: r.provider,
    model: r.model,
    outcome: r.outcome,
    decision_code: r.decision ? r.decision.code : null,
    policy_revision: r.policyRevision,
  };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  record TEXT NOT NULL,
  request_id TEXT NOT NULL,
  ts TEXT NOT NULL,
  ts_ms INTEGER,
  key_id TEXT,
  owner TEXT,
  team TEXT,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  outcome TEXT NOT NULL,
  decision_code TEXT,
  policy_revision TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_log_ts ON audit_log (ts_ms);
CREATE INDEX IF NOT EXISTS audit_log_key ON audit_log (key_id, ts_ms);
CREATE INDEX IF NOT EXISTS audit_log_team ON audit_log (team, ts_ms);
CREATE INDEX IF NOT EXISTS audit_log_model ON audit_log (model, ts_ms);
CREATE INDEX IF NOT EXISTS audit_log_outcome ON audit_log (outcome, ts_ms);
CREATE INDEX IF NOT EXISTS audit_log_request ON audit_log (request_id);
-- Guards against mistakes, not against an attacker (who can drop them); the hash chain is for that.
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
`;

/** A raw row: the chain fields, the stored JSON and the indexed columns as the table holds them. */
export type StoredRow = IndexedColumns & { seq: number; prev_hash: string; hash: string; record: string };

export interface AuditFilter {
  keyId?: string;
  team?: string;
  owner?: string;
  provider?: string;
  model?: string;
  outcome?: AuditOutcome;
  /** The decision's machine-readable code, e.g. `model_not_allowed`. */
  decisionCode?: string;
  requestId?: string;
  /** Inclusive lower bound, epoch milliseconds. */
  sinceMs?: number;
  /** Exclusive upper bound, epoch milliseconds. */
  untilMs?: number;
  limit?: number;
  /** `desc` (default): newest first. */
  order?: 'asc' | 'desc';
}

const FILTER_COLUMNS: [keyof AuditFilter, keyof IndexedColumns][] = [
  ['keyId', 'key_id'],
  ['team', 'team'],
  ['owner', 'owner'],
  ['provider', 'provider'],
  ['model', 'model'],
  ['outcome', 'outcome'],
  ['decisionCode', 'decision_code'],
  ['requestId', 'request_id'],
];

const ENTRY_COLUMNS = 'seq, prev_hash AS prevHash, hash, record AS json';

/** The SQL conditions (joined by AND) and their parameters that select what `filter` asks for. */
export function filterClauses(filter: AuditFilter): { where: string[]; params: SQLInputValue[] } {
  const where: string[] = [];
  const params: SQLInputValue[] = [];
  for (const [field, column] of FILTER_COLUMNS) {
    const value = filter[field];
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    params.push(value as string);
  }
  if (filter.sinceMs !== undefined) {
    where.push('ts_ms >= ?');
    params.push(filter.sinceMs);
  }
  if (filter.untilMs !== undefined) {
    where.push('ts_ms < ?');
    params.push(filter.untilMs);
  }
  return { where, params };
}

// Rows come back with a null prototype; entries are plain objects.
function toEntry(row: Record<string, SQLOutputValue>): AuditEntry {
  return {
    seq: row.seq as number,
    prevHash: row.prevHash as string,
    hash: row.hash as string,
    json: row.json as string,
  };
}

export class AuditStore {
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly stmts: { last: StatementSync; insert?: StatementSync; after: StatementSync };

  constructor(path: string, options: { readOnly?: boolean } = {}) {
    this.path = path;
    this.db = new DatabaseSync(path, { readOnly: options.readOnly === true, timeout: 2000 });
    if (!options.readOnly) {
      this.db.exec('PRAGMA journal_mode = WAL');
      // FULL: a committed batch survives power loss, which is what the checkpoint file assumes.
      this.db.exec('PRAGMA synchronous = FULL');
      this.db.exec(SCHEMA);
    }
    this.stmts = {
      last: this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1'),
      after: this.db.prepare(`SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`),
    };
    if (!options.readOnly) {
      const cols = INDEXED_COLUMN_NAMES.join(', ');
      const marks = INDEXED_COLUMN_NAMES.map(() => '?').join(', ');
      this.stmts.insert = this.db.prepare(
        `INSERT INTO audit_log (seq, prev_hash, hash, record, ${cols}) VALUES (?, ?, ?, ?, ${marks})`,
      );
    }
  }

  /** The chain head: the last sequence number and hash (0 and the genesis hash when empty). */
  last(): { seq: number; hash: string } {
    const row = this.stmts.last.get() as { seq: number; hash: string } | undefined;
    return row ? { seq: row.seq, hash: row.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  /** Appends records in one transaction, chaining each to the one before; returns their entries. */
  append(records: readonly AuditRecord[]): AuditEntry[] {
    return this.appendJson(records.map((r) => JSON.stringify(normalizeRecord(r))));
  }

  /**
   * Appends records given as their canonical JSON (`JSON.stringify(normalizeRecord(r))`) in one
   * transaction. The indexed columns are derived from the parsed text, which is what `verify`
   * compares them with.
   */
  appendJson(jsons: readonly string[]): AuditEntry[] {
    const insert = this.stmts.insert;
    if (!insert) throw new Error('audit store is open read-only');
    const cols = jsons.map((json) => indexedColumns(JSON.parse(json) as AuditRecord));
    const entries: AuditEntry[] = [];
    // IMMEDIATE takes the write lock first, so the head read below cannot go stale, even with
    // another connection (the writer thread, another process) appending between our batches.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      let { seq, hash: prevHash } = this.last();
      for (let i = 0; i < jsons.length; i++) {
        const json = jsons[i];
        seq += 1;
        const hash = chainHash(prevHash, json);
        const values: SQLInputValue[] = [seq, prevHash, hash, json];
        for (const c of INDEXED_COLUMN_NAMES) values.push(cols[i][c]);
        insert.run(...values);
        entries.push({ seq, prevHash, hash, json });
        prevHash = hash;
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    return entries;
  }

  /** The seq of the first row after `afterSeq` whose stored JSON is exactly `json`, or null. */
  seqOf(json: string, afterSeq: number): number | null {
    const row = this.db
      .prepare('SELECT seq FROM audit_log WHERE seq > ? AND record = ? ORDER BY seq LIMIT 1')
      .get(afterSeq, json) as { seq: number } | undefined;
    return row ? row.seq : null;
  }

  /** Entries with seq greater than `seq`, in order, at most `limit`. */
  after(seq: number, limit: number): AuditEntry[] {
    return this.stmts.after.all(seq, limit).map(toEntry);
  }

  /** The entry at `seq`, or null. */
  at(seq: number): AuditEntry | null {
    const row = this.db.prepare(`SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE seq = ?`).get(seq);
    return row ? toEntry(row) : null;
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n;
  }

  /** Every row in sequence order, streamed (for verification). */
  rows(): IterableIterator<StoredRow> {
    return this.db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate() as IterableIterator<StoredRow>;
  }

  query(filter: AuditFilter): AuditEntry[] {
    const { where, params } = filterClauses(filter);
    const order = filter.order === 'asc' ? 'ASC' : 'DESC';
    let sql = `SELECT ${ENTRY_COLUMNS} FROM audit_log`;
    if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
    sql += ` ORDER BY seq ${order}`;
    if (filter.limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(filter.limit);
    }
    return this.db
      .prepare(sql)
      .all(...params)
      .map(toEntry);
  }

  close(): void {
    this.db.close();
  }
}
