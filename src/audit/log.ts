// The audit log the request pipeline writes to. `append` only enqueues; a batcher commits the queue
// to SQLite in one transaction every `flushIntervalMs` or `batchSize` records, updates the
// checkpoint, then hands the committed batch to the sinks.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Registry } from 'prom-client';
import { checkpointPath, readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { type AuditMetrics, auditMetrics } from './metrics.ts';
import { type AuditRecord, GENESIS_HASH } from './record.ts';
import { createSink } from './sinks/index.ts';
import { type AuditLogger, SinkRunner } from './sinks/runner.ts';
import type { AuditSink, AuditSinkConfig } from './sinks/types.ts';
import { AuditStore } from './store.ts';

export interface AuditLogOptions {
  /** Data directory (default `.data`); the log is `<dataDir>/audit.db`. */
  dataDir?: string;
  /** Overrides the database path. */
  dbPath?: string;
  /** Longest a record waits in the queue before its batch is committed (default 200). */
  flushIntervalMs?: number;
  /** Records that trigger a commit without waiting for the interval; also the most per transaction (default 500). */
  batchSize?: number;
  /** Queue bound; a full queue is written inline by the appending call (default 20000). */
  maxQueue?: number;
  sinks?: (AuditSinkConfig | AuditSink)[];
  /** Retry delays for sinks whose config does not set them (defaults 500 and 30000). */
  sinkRetry?: { baseMs?: number; maxMs?: number };
  /** How long `close` lets sinks catch up before leaving the rest for the next start (default 5000). */
  sinkDrainTimeoutMs?: number;
  registry?: Registry;
  /** pino-compatible; default writes JSON lines to stderr. */
  logger?: AuditLogger;
  /** Environment for `{env}` header references (default process.env). */
  env?: Record<string, string | undefined>;
}

/** The log on disk is not what the gateway last wrote: it refuses to extend it. */
export class AuditIntegrityError extends Error {
  override name = 'AuditIntegrityError';
}

/** The queue is full and could not be written: the record was not accepted. */
export class AuditQueueFullError extends Error {
  override name = 'AuditQueueFullError';
}

const stderrLogger: AuditLogger = {
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg, ...obj })}\n`),
  error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'error', msg, ...obj })}\n`),
};

export class AuditLog {
  readonly dbPath: string;
  private readonly store: AuditStore;
  private readonly checkpointFile: string;
  private readonly flushIntervalMs: number;
  private readonly batchSize: number;
  private readonly maxQueue: number;
  private readonly sinkDrainTimeoutMs: number;
  private readonly metrics: AuditMetrics;
  private readonly logger: AuditLogger;
  private readonly runners: SinkRunner[] = [];
  private readonly untrack: () => void;
  private queue: AuditRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private closing: Promise<void> | undefined;

  /** Opens (creating if needed) the log; throws AuditIntegrityError when its tail was tampered with. */
  static open(options: AuditLogOptions = {}): AuditLog {
    return new AuditLog(options);
  }

  private constructor(options: AuditLogOptions) {
    const dataDir = options.dataDir ?? '.data';
    this.dbPath = options.dbPath ?? join(dataDir, 'audit.db');
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.batchSize = Math.max(1, options.batchSize ?? 500);
    this.maxQueue = Math.max(this.batchSize, options.maxQueue ?? 20_000);
    this.sinkDrainTimeoutMs = options.sinkDrainTimeoutMs ?? 5000;
    this.logger = options.logger ?? stderrLogger;
    this.metrics = auditMetrics(options.registry ?? new Registry());
    mkdirSync(dirname(this.dbPath), { recursive: true });
    this.checkpointFile = checkpointPath(this.dbPath);
    this.store = new AuditStore(this.dbPath);
    const sinks: AuditSink[] = [];
    try {
      this.checkTail();
      const stateDir = join(dirname(this.dbPath), 'audit-sinks');
      for (const s of options.sinks ?? []) {
        const cfg = 'deliver' in s ? undefined : s;
        const sink = cfg ? createSink(cfg, { dataDir, env: options.env }) : (s as AuditSink);
        sinks.push(sink);
        this.runners.push(
          new SinkRunner(sink, {
            source: this.store,
            stateDir,
            metrics: this.metrics,
            logger: this.logger,
            retryBaseMs: cfg?.retryBaseMs ?? options.sinkRetry?.baseMs,
            retryMaxMs: cfg?.retryMaxMs ?? options.sinkRetry?.maxMs,
          }),
        );
      }
    } catch (err) {
      for (const s of sinks) void s.close();
      this.store.close();
      throw err;
    }
    this.untrack = this.metrics.track({
      queueDepth: () => this.queue.length,
      sinkLag: () => new Map(this.runners.map((r) => [r.sink.name, r.lag()])),
    });
    // Records committed before a crash or an outage go out now.
    for (const r of this.runners) r.start();
  }

  /** Records appended but not yet committed. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /**
   * Enqueues a record (cheap, synchronous). The log owns the object from here: do not mutate it.
   * When the queue is full the queue is committed inline; only if that fails too does this throw
   * AuditQueueFullError, and then the record was not taken.
   */
  append(record: AuditRecord): void {
    if (this.closing) throw new Error('audit log is closed');
    if (this.queue.length >= this.maxQueue) {
      this.metrics.queueFull.inc();
      this.writeAll();
      if (this.queue.length >= this.maxQueue) {
        throw new AuditQueueFullError(
          `audit queue full (${this.queue.length}) and the audit log cannot be written`,
        );
      }
    }
    const n = this.queue.push(record);
    if (n >= this.batchSize) {
      this.immediate ??= setImmediate(this.tick);
    } else {
      this.timer ??= setTimeout(this.tick, this.flushIntervalMs);
    }
  }

  /** Commits everything queued to SQLite (sinks get it asynchronously). Throws if the write fails. */
  async flush(): Promise<void> {
    this.clearSchedule();
    const err = this.writeAll();
    if (err) throw err;
  }

  /** Resolves true once every sink has every committed record, false after `timeoutMs`. */
  async waitForSinks(timeoutMs = this.sinkDrainTimeoutMs): Promise<boolean> {
    const done = await Promise.all(this.runners.map((r) => r.waitIdle(timeoutMs)));
    return done.every(Boolean);
  }

  /**
   * Graceful shutdown: commits the queue, gives the sinks `sinkDrainTimeoutMs` to catch up (what
   * they miss is sent on the next start), closes the database. Rejects if records could not be
   * committed; they are then lost with the process, and the error says how many.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.clearSchedule();
    const err = this.writeAll();
    await Promise.all(this.runners.map((r) => r.close(this.sinkDrainTimeoutMs)));
    this.untrack();
    this.store.close();
    if (err) {
      throw new Error(`audit log closed with ${this.queue.length} records not written: ${err.message}`, {
        cause: err,
      });
    }
  }

  private readonly tick = (): void => {
    this.clearSchedule();
    const err = this.writeBatch();
    if (this.queue.length === 0) return;
    // More than a batch queued: continue after pending I/O; after a failure: wait an interval.
    if (!err) this.immediate = setImmediate(this.tick);
    else this.timer = setTimeout(this.tick, this.flushIntervalMs);
  };

  private clearSchedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  /** Writes the whole queue batch by batch; returns the error that stopped it, if any. */
  private writeAll(): Error | undefined {
    while (this.queue.length > 0) {
      const err = this.writeBatch();
      if (err) return err;
    }
    return undefined;
  }

  /** Commits up to `batchSize` queued records; on failure they stay at the head of the queue. */
  private writeBatch(): Error | undefined {
    if (this.queue.length === 0) return undefined;
    const batch = this.queue.length <= this.batchSize ? this.queue : this.queue.slice(0, this.batchSize);
    let entries: ReturnType<AuditStore['append']>;
    try {
      entries = this.store.append(batch);
    } catch (thrown) {
      const err = thrown instanceof Error ? thrown : new Error(String(thrown));
      this.metrics.writeErrors.inc();
      this.logger.error(
        { err: err.message, queued: this.queue.length },
        'audit log: batch commit failed; kept in the queue',
      );
      return err;
    }
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
    this.metrics.written.inc(entries.length);
    const head = entries[entries.length - 1];
    try {
      writeCheckpoint(this.checkpointFile, head.seq, head.hash);
    } catch (err) {
      // The records are committed; a stale checkpoint only weakens the truncation check until the next batch.
      this.logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        'audit log: checkpoint not written',
      );
    }
    for (const r of this.runners) r.offer(entries);
    return undefined;
  }

  private checkTail(): void {
    const head = this.store.last();
    const hint =
      `run 'portcullis audit verify', keep ${this.dbPath} and its .checkpoint as evidence, ` +
      'then move both aside to start a new log';
    let cp: ReturnType<typeof readCheckpoint>;
    try {
      cp = readCheckpoint(this.checkpointFile);
    } catch (err) {
      throw new AuditIntegrityError(
        `audit log ${this.dbPath}: unreadable checkpoint (${(err as Error).message}); ${hint}`,
      );
    }
    if (!cp) {
      if (head.seq > 0) {
        throw new AuditIntegrityError(
          `audit log ${this.dbPath}: checkpoint file missing for ${head.seq} records; ${hint}`,
        );
      }
      writeCheckpoint(this.checkpointFile, 0, GENESIS_HASH);
      return;
    }
    if (cp.seq > head.seq) {
      throw new AuditIntegrityError(
        `audit log ${this.dbPath} ends at seq ${head.seq} but its checkpoint records seq ${cp.seq}; ${hint}`,
      );
    }
    const atCheckpoint = cp.seq === 0 ? GENESIS_HASH : this.store.at(cp.seq)?.hash;
    if (atCheckpoint !== cp.hash) {
      throw new AuditIntegrityError(
        `audit log ${this.dbPath}: seq ${cp.seq} does not match its checkpoint; ${hint}`,
      );
    }
    // Behind only after a crash between a commit and its checkpoint write.
    if (cp.seq < head.seq) writeCheckpoint(this.checkpointFile, head.seq, head.hash);
  }
}
