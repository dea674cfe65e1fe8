// The embedded counter store: one gateway process, counters in memory, settled usage in a SQLite
// file (WAL). Crash guarantee: settle() returns only after the usage is committed to the WAL, so a
// crashed or killed process loses no settled spend (synchronous=NORMAL: an OS crash or power loss
// may lose the commits since the last checkpoint). Settles of the same event-loop turn share one
// transaction (group commit, deltas summed per counter): under load a call pays a share of one
// commit instead of a commit each, and no settle resolves before its transaction committed.
// Reservations and in-flight slots live in memory only: after a restart the requests they belonged
// to are gone too, so nothing stays held.
// The file is opened with an exclusive lock: a second process gets a clear error instead of
// silently keeping its own counts (several replicas need the Redis store).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Registry } from 'prom-client';
import { type CounterPersistence, MemoryCounters, type SettledUsage } from './memory-counters.ts';
import {
  type ActualUsage,
  type CounterStore,
  type CounterUsage,
  DEFAULT_LEASE_MS,
  type PeekRequest,
  type ReserveRequest,
  type ReserveResult,
  type StoreOperation,
  StoreUnavailableError,
  storeErrorCounter,
} from './store.ts';

export interface SqliteStoreOptions {
  /** The database file, e.g. `<dataDir>/limits.sqlite`; its folder is created. */
  path: string;
  registry?: Registry;
  leaseMs?: number;
  /** Housekeeping period (expire leases, drop idle counters and expired rows). */
  sweepIntervalMs?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS totals (
  id TEXT PRIMARY KEY,
  value INTEGER NOT NULL,
  expires_at INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (
  id TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS window_buckets (
  id TEXT NOT NULL,
  bucket INTEGER NOT NULL,
  value INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (id, bucket)
) WITHOUT ROWID;
`;

/** Usage accepted but not yet committed, summed per counter (and bucket). */
interface PendingUsage {
  totals: Map<string, { delta: number; expiresAt: number | null }>;
  buckets: Map<string, { id: string; bucket: number; delta: number; expiresAt: number }>;
}

function emptyPending(): PendingUsage {
  return { totals: new Map(), buckets: new Map() };
}

class SqlitePersistence implements CounterPersistence {
  readonly #db: DatabaseSync;
  #pending = emptyPending();
  /** Settles waiting for the pending usage to commit. */
  #waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  /** Called when a group commit fails (the usage stays pending and is retried). */
  onCommitError: (err: unknown) => void = () => {};
  readonly #getTotal: StatementSync;
  readonly #getWindow: StatementSync;
  readonly #addTotal: StatementSync;
  readonly #addBucket: StatementSync;
  readonly #dropTotals: StatementSync;
  readonly #dropBuckets: StatementSync;
  readonly #dropClaims: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#getTotal = db.prepare('SELECT value FROM totals WHERE id = ?');
    this.#getWindow = db.prepare(
      'SELECT bucket, value FROM window_buckets WHERE id = ? AND bucket > ? ORDER BY bucket',
    );
    this.#addTotal = db.prepare(
      `INSERT INTO totals (id, value, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET value = value + excluded.value, expires_at = excluded.expires_at`,
    );
    this.#addBucket = db.prepare(
      `INSERT INTO window_buckets (id, bucket, value, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id, bucket) DO UPDATE SET value = value + excluded.value`,
    );
    this.#dropTotals = db.prepare('DELETE FROM totals WHERE expires_at IS NOT NULL AND expires_at < ?');
    this.#dropBuckets = db.prepare('DELETE FROM window_buckets WHERE expires_at < ?');
    this.#dropClaims = db.prepare('DELETE FROM claims WHERE expires_at < ?');
  }

  loadTotal(id: string): number {
    const row = this.#getTotal.get(id) as { value: number } | undefined;
    return row ? row.value : 0;
  }

  loadWindow(id: string, afterBucket: number): { bucket: number; value: number }[] {
    return this.#getWindow.all(id, afterBucket) as { bucket: number; value: number }[];
  }

  /** Accepts settled usage; it is written by the next group commit (`committed()` waits for it). */
  commit(usage: SettledUsage): void {
    this.#merge(usage);
    this.#scheduled ??= setImmediate(this.#flushScheduled);
  }

  #merge(usage: SettledUsage): void {
    const pending = this.#pending;
    for (const t of usage.totals) {
      const p = pending.totals.get(t.id);
      if (p === undefined) pending.totals.set(t.id, { delta: t.delta, expiresAt: t.expiresAt });
      else {
        p.delta += t.delta;
        p.expiresAt = t.expiresAt;
      }
    }
    for (const b of usage.buckets) {
      const key = `${b.bucket}:${b.id}`;
      const p = pending.buckets.get(key);
      if (p === undefined) pending.buckets.set(key, { ...b });
      else p.delta += b.delta;
    }
  }

  /** Resolves once everything accepted so far is committed; rejects if that commit fails. */
  committed(): Promise<void> {
    if (this.#pending.totals.size === 0 && this.#pending.buckets.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  readonly #flushScheduled = (): void => {
    this.#scheduled = undefined;
    try {
      this.flush();
    } catch (err) {
      this.onCommitError(err);
    }
  };

  /** Commits the pending usage in one transaction now; on failure it stays pending and this throws. */
  flush(): void {
    if (this.#scheduled !== undefined) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    const pending = this.#pending;
    const waiters = this.#waiters;
    if (pending.totals.size === 0 && pending.buckets.size === 0) return;
    this.#pending = emptyPending();
    this.#waiters = [];
    try {
      this.#db.exec('BEGIN');
      for (const [id, t] of pending.totals) this.#addTotal.run(id, t.delta, t.expiresAt);
      for (const b of pending.buckets.values()) this.#addBucket.run(b.id, b.bucket, b.delta, b.expiresAt);
      this.#db.exec('COMMIT');
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      // Keep the usage (memory already counts it) for the next commit: a settle, a sweep or close
      // (not sooner: a disk that just failed would be retried in a busy loop).
      const accepted = this.#pending;
      this.#pending = pending;
      this.#merge({
        totals: [...accepted.totals].map(([id, t]) => ({ id, ...t })),
        buckets: [...accepted.buckets.values()],
      });
      for (const w of waiters) w.reject(err);
      throw err;
    }
    for (const w of waiters) w.resolve();
  }

  dropExpired(nowMs: number): void {
    this.#dropTotals.run(nowMs);
    this.#dropBuckets.run(nowMs);
    this.#dropClaims.run(nowMs);
  }
}

export class SqliteCounterStore implements CounterStore {
  readonly kind = 'sqlite';
  readonly #db: DatabaseSync;
  readonly #persistence: SqlitePersistence;
  readonly #counters: MemoryCounters;
  readonly #errors;
  readonly #timer: NodeJS.Timeout;
  #claim: StatementSync | undefined;
  #closed = false;

  /** Opens (or creates) the database; throws when another process holds it. */
  constructor(options: SqliteStoreOptions) {
    mkdirSync(dirname(options.path), { recursive: true });
    this.#db = new DatabaseSync(options.path);
    try {
      this.#db.exec('PRAGMA locking_mode = EXCLUSIVE');
      this.#db.exec('PRAGMA journal_mode = WAL');
      this.#db.exec('PRAGMA synchronous = NORMAL');
      this.#db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
    } catch (err) {
      this.#db.close();
      if (/locked|busy/i.test(String((err as Error).message))) {
        throw new Error(
          `the limits database ${options.path} is in use by another process; ` +
            'several gateway replicas need the redis counter store',
          { cause: err },
        );
      }
      throw err;
    }
    this.#persistence = new SqlitePersistence(this.#db);
    this.#persistence.onCommitError = () => this.#errors.inc({ store: 'sqlite', operation: 'settle' });
    this.#counters = new MemoryCounters(this.#persistence, options.leaseMs ?? DEFAULT_LEASE_MS);
    this.#errors = storeErrorCounter(options.registry);
    this.#timer = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 60_000);
    this.#timer.unref();
  }

  reserve(req: ReserveRequest): ReserveResult {
    return this.#guard('reserve', () => this.#counters.reserve(req));
  }

  async settle(reservationId: string, actual: ActualUsage): Promise<void> {
    this.#guard('settle', () => this.#counters.settle(reservationId, actual));
    try {
      await this.#persistence.committed();
    } catch (err) {
      throw new StoreUnavailableError('sqlite', 'settle', err);
    }
  }

  async release(reservationId: string): Promise<void> {
    this.#guard('release', () => this.#counters.release(reservationId));
  }

  peek(req: PeekRequest): CounterUsage[] {
    return this.#guard('peek', () => this.#counters.peek(req));
  }

  async claim(id: string, expiresAt: number): Promise<boolean> {
    return this.#guard('claim', () => {
      this.#claim ??= this.#db.prepare(
        `INSERT INTO claims (id, expires_at) VALUES (?, ?)
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE claims.expires_at < ?`,
      );
      return Number(this.#claim.run(id, expiresAt, Date.now()).changes) === 1;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    try {
      this.#persistence.flush();
    } finally {
      this.#db.close();
    }
  }

  /** Counters currently cached in memory (diagnostics). */
  get cachedCounters(): number {
    return this.#counters.size;
  }

  /** Runs housekeeping now (normally on a timer). */
  sweep(): void {
    this.#sweep();
  }

  #sweep(): void {
    if (this.#closed) return;
    try {
      // Counters are dropped from memory below and reload from the file: it must hold their usage.
      this.#persistence.flush();
      const nowMs = this.#counters.sweep();
      this.#persistence.dropExpired(nowMs);
    } catch {
      this.#errors.inc({ store: 'sqlite', operation: 'sweep' });
    }
  }

  #guard<T>(operation: StoreOperation, fn: () => T): T {
    if (this.#closed) throw new Error('the counter store is closed');
    try {
      return fn();
    } catch (err) {
      if (err instanceof TypeError) throw err;
      this.#errors.inc({ store: 'sqlite', operation });
      throw new StoreUnavailableError('sqlite', operation, err);
    }
  }
}
