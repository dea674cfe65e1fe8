// The audit search behind /ui/audit: the newest matching records, read-only from the audit log.
// Ordered by call time (ts_ms) so SQLite walks one of the log's (column, ts_ms) indexes backwards and
// stops at the limit, instead of sorting every match by seq: a page stays fast on millions of rows.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type AuditFilter, filterClauses } from '../audit/store.ts';

export class AuditSearch {
  private readonly path: string;
  private db: DatabaseSync | undefined;

  constructor(dataDir: string) {
    this.path = join(dataDir, 'audit.db');
  }

  /** Newest first; at most `filter.limit` (default 100). */
  find(filter: AuditFilter): { seq: number; json: string }[] {
    if (this.db === undefined) {
      if (!existsSync(this.path)) return [];
      this.db = new DatabaseSync(this.path, { readOnly: true, timeout: 2000 });
    }
    const { where, params } = filterClauses(filter);
    params.push(filter.limit ?? 100);
    const sql = `SELECT seq, record AS json FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ts_ms DESC, seq DESC LIMIT ?`;
    return this.db.prepare(sql).all(...params) as { seq: number; json: string }[];
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}
