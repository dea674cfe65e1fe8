// Daily aggregates (and hourly spend, for budget periods that start mid-day) of the audit log for
// the dashboard, kept in their own SQLite file beside it (`<data-dir>/ui-rollup.db`) and brought up
// to date from the audit log's last seq before each read, so a page costs a scan of a few thousand
// aggregate rows, not of every audit record. The audit log stays the source of truth: deleting the
// rollup file rebuilds it from the log.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { AuditRecord } from '../audit/record.ts';
import { AuditStore } from '../audit/store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_daily (
  day TEXT NOT NULL, team TEXT NOT NULL, key_id TEXT NOT NULL, owner TEXT NOT NULL,
  provider TEXT NOT NULL, model TEXT NOT NULL,
  calls INTEGER NOT NULL, allowed INTEGER NOT NULL, denied INTEGER NOT NULL, blocked INTEGER NOT NULL,
  errors INTEGER NOT NULL, cost REAL NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL,
  cached INTEGER NOT NULL,
  PRIMARY KEY (day, team, key_id, owner, provider, model)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spend_hourly (
  hour TEXT NOT NULL, team TEXT NOT NULL, key_id TEXT NOT NULL, cost REAL NOT NULL,
  PRIMARY KEY (key_id, hour, team)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS spend_hourly_team ON spend_hourly (team, hour);
CREATE TABLE IF NOT EXISTS refusals_daily (
  day TEXT NOT NULL, team TEXT NOT NULL, key_id TEXT NOT NULL, outcome TEXT NOT NULL,
  code TEXT NOT NULL, reason TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (day, team, key_id, outcome, code, reason)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS findings_daily (
  day TEXT NOT NULL, team TEXT NOT NULL, rule TEXT NOT NULL, action TEXT NOT NULL, stage TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (day, team, rule, action, stage)) WITHOUT ROWID;
`;

const CHUNK = 20_000;

interface UsageRow {
  day: string;
  team: string;
  key_id: string;
  owner: string;
  provider: string;
  model: string;
  calls: number;
  allowed: number;
  denied: number;
  blocked: number;
  errors: number;
  cost: number;
  input: number;
  output: number;
  cached: number;
}

export class AuditRollup {
  private readonly db: DatabaseSync;
  private readonly auditPath: string;
  private audit: AuditStore | undefined;
  private readonly stmts: Record<
    'usage' | 'spend' | 'refusal' | 'finding' | 'cursor' | 'setCursor',
    StatementSync
  >;

  constructor(dataDir: string) {
    this.auditPath = join(dataDir, 'audit.db');
    this.db = new DatabaseSync(join(dataDir, 'ui-rollup.db'));
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.stmts = {
      spend: this.db.prepare(`INSERT INTO spend_hourly VALUES (?,?,?,?)
        ON CONFLICT DO UPDATE SET cost = cost + excluded.cost`),
      usage: this.db.prepare(`INSERT INTO usage_daily VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
        ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, allowed = allowed + excluded.allowed,
        denied = denied + excluded.denied, blocked = blocked + excluded.blocked, errors = errors + excluded.errors,
        cost = cost + excluded.cost, input = input + excluded.input, output = output + excluded.output,
        cached = cached + excluded.cached`),
      refusal: this.db.prepare(`INSERT INTO refusals_daily VALUES (?,?,?,?,?,?,?)
        ON CONFLICT DO UPDATE SET n = n + excluded.n`),
      finding: this.db.prepare(`INSERT INTO findings_daily VALUES (?,?,?,?,?,?)
        ON CONFLICT DO UPDATE SET n = n + excluded.n`),
      cursor: this.db.prepare(`SELECT v FROM meta WHERE k = 'seq'`),
      setCursor: this.db.prepare(
        `INSERT INTO meta VALUES ('seq', ?) ON CONFLICT DO UPDATE SET v = excluded.v`,
      ),
    };
  }

  /** The last audit seq folded in. */
  cursor(): number {
    return ((this.stmts.cursor.get() as { v: number } | undefined)?.v ?? 0) as number;
  }

  /** Folds in the audit records written since the last call; returns how many. */
  catchUp(): number {
    if (this.audit === undefined) {
      if (!existsSync(this.auditPath)) return 0;
      this.audit = new AuditStore(this.auditPath, { readOnly: true });
    }
    // A new audit log (the old one moved aside) starts the aggregates again.
    if (this.audit.last().seq < this.cursor()) this.reset();
    let total = 0;
    for (;;) {
      const entries = this.audit.after(this.cursor(), CHUNK);
      if (entries.length === 0) return total;
      this.fold(
        entries.map((e) => JSON.parse(e.json) as AuditRecord),
        entries[entries.length - 1].seq,
      );
      total += entries.length;
    }
  }

  private reset(): void {
    this.db.exec(
      'DELETE FROM usage_daily; DELETE FROM spend_hourly; DELETE FROM refusals_daily; DELETE FROM findings_daily; DELETE FROM meta',
    );
  }

  private fold(records: AuditRecord[], lastSeq: number): void {
    const usage = new Map<string, UsageRow>();
    const spend = new Map<string, [string, string, string, number]>();
    const refusals = new Map<string, [string, string, string, string, string, string, number]>();
    const findings = new Map<string, [string, string, string, string, string, number]>();
    for (const r of records) {
      const hour = r.time.slice(0, 13);
      const team = r.team ?? '';
      const key = r.keyId ?? '';
      const day = hour.slice(0, 10);
      const id = `${day}\u0000${team}\u0000${key}\u0000${r.owner ?? ''}\u0000${r.provider}\u0000${r.model}`;
      if (r.costUsd !== 0) {
        const sid = `${hour}\u0000${team}\u0000${key}`;
        const row = spend.get(sid);
        if (row) row[3] += r.costUsd;
        else spend.set(sid, [hour, team, key, r.costUsd]);
      }
      let u = usage.get(id);
      if (u === undefined) {
        u = {
          day,
          team,
          key_id: key,
          owner: r.owner ?? '',
          provider: r.provider,
          model: r.model,
          calls: 0,
          allowed: 0,
          denied: 0,
          blocked: 0,
          errors: 0,
          cost: 0,
          input: 0,
          output: 0,
          cached: 0,
        };
        usage.set(id, u);
      }
      u.calls += 1;
      if (r.outcome === 'allowed') u.allowed += 1;
      else if (r.outcome === 'denied') u.denied += 1;
      else if (r.outcome === 'blocked') u.blocked += 1;
      else u.errors += 1;
      u.cost += r.costUsd;
      u.input += r.tokens.input;
      u.output += r.tokens.output;
      u.cached += r.tokens.cached;
      if (r.outcome === 'denied' || r.outcome === 'blocked') {
        const code = r.decision?.code ?? r.errorCode ?? '';
        const reason = (r.decision?.reasons ?? []).join('; ').slice(0, 500);
        const rid = `${day}\u0000${team}\u0000${key}\u0000${r.outcome}\u0000${code}\u0000${reason}`;
        const row = refusals.get(rid);
        if (row) row[6] += 1;
        else refusals.set(rid, [day, team, key, r.outcome, code, reason, 1]);
      }
      for (const f of r.findings) {
        const fid = `${day}\u0000${team}\u0000${f.rule}\u0000${f.action}\u0000${f.stage}`;
        const row = findings.get(fid);
        if (row) row[5] += 1;
        else findings.set(fid, [day, team, f.rule, f.action, f.stage, 1]);
      }
    }
    this.db.exec('BEGIN');
    try {
      for (const u of usage.values()) {
        this.stmts.usage.run(
          u.day,
          u.team,
          u.key_id,
          u.owner,
          u.provider,
          u.model,
          u.calls,
          u.allowed,
          u.denied,
          u.blocked,
          u.errors,
          u.cost,
          u.input,
          u.output,
          u.cached,
        );
      }
      for (const [hour, team, key, cost] of spend.values()) this.stmts.spend.run(hour, team, key, cost);
      for (const row of refusals.values()) this.stmts.refusal.run(...row);
      for (const row of findings.values()) this.stmts.finding.run(...row);
      this.stmts.setCursor.run(lastSeq);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Rows of a read-only query on the rollup tables. */
  all<T>(sql: string, ...params: (string | number)[]): T[] {
    return this.db.prepare(sql).all(...params) as T[];
  }

  close(): void {
    this.audit?.close();
    this.db.close();
  }
}
