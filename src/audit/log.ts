// The audit log the request pipeline writes to. `append` only enqueues; a batcher sends the queue,
// `batchSize` records at a time, every `flushIntervalMs` or as soon as a batch is full, to the
// writer thread (writer.ts), which commits it to SQLite in one transaction and updates the
// checkpoint; its answer hands the committed batch to the sinks. One batch is at the writer at a
// time, so the hash chain follows the order of `append`.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { checkpointPath, readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { AuditJournal, journalDir, readJournal } from './journal.ts';
import { type AuditMetrics, auditMetrics } from './metrics.ts';
import { type AuditEntry, type AuditRecord, GENESIS_HASH, normalizeRecord, restatedJson } from './record.ts';
import { createSink } from './sinks/index.ts';
import { type AuditLogger, SinkRunner } from './sinks/runner.ts';
import type { AuditSink, AuditSinkConfig } from './sinks/types.ts';
import { AuditStore } from './store.ts';
import { type WriterReply, WriterThread } from './writer.ts';

export interface AuditLogOptions {
  /** Data directory (default `.data`); the log is `<dataDir>/audit.db`. */
  dataDir?: string;
  /** Overrides the database path. */
  dbPath?: string;
  /** Longest a record waits in the queue before its batch is committed (default 200). */
  flushIntervalMs?: number;
  /** Records that trigger a commit without waiting for the interval; also the most per transaction (default 500). */
  batchSize?: number;
  /** Queue bound; an append that finds it full commits a batch inline, on its caller's time (default 20000). */
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

/** How long an append that found the queue full waits for the batch at the writer thread. */
const SYNC_WAIT_MS = 5000;
/** Writer thread deaths in a row (no batch committed in between) before writing moves to the main thread. */
const MAX_WRITER_DEATHS = 3;

interface Waiter {
  /** Resolved once this many records (counted from open) are committed. */
  upTo: number;
  resolve(): void;
  reject(err: Error): void;
}

/** Test-only access to the writer thread; not part of the public API. */
export const auditLogInternals: unique symbol = Symbol('portcullis.audit.internals');

export interface AuditLogInternals {
  /** The writer thread, or undefined when writing happens on the main thread. */
  worker(): Worker | undefined;
  /** The writer commits the next batch it gets, then exits without answering. */
  exitAfterNextCommit(): void;
}

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
  private runners: SinkRunner[] = [];
  /** The configuration each runner was built from, as JSON (absent for sinks passed as objects). */
  private readonly runnerConfigs = new WeakMap<SinkRunner, string>();
  private readonly sinkContext: {
    dataDir: string;
    stateDir: string;
    env?: Record<string, string | undefined>;
    retry?: { baseMs?: number; maxMs?: number };
  };
  /** The last `setSinks` (they run one after another). */
  private sinkChange: Promise<unknown> = Promise.resolve();
  private readonly untrack: () => void;
  /** Appended, not yet taken into a batch. */
  /** Records appended and not yet taken into a batch, as canonical JSON. */
  private queue: string[] = [];
  /**
   * Batches taken from the queue, as canonical JSON, oldest first: the first is at the writer
   * thread while `inFlight`; a second is serialized while the writer commits the first.
   */
  private batches: string[][] = [];
  /** Records in `batches`. */
  private batched = 0;
  private inFlight = false;
  /** Undefined: batches are committed on the main thread (the writer could not be kept running). */
  private writer: WriterThread | undefined;
  private writerDeaths = 0;
  private testExitAfterCommit = false;
  /** Records appended and committed since open; `flush` waits for the one to reach the other. */
  private appended = 0;
  private committed = 0;
  /** Seq of the last record this log committed (the head at open before that). */
  private lastSeq: number;
  private waiters: Waiter[] = [];
  /** Every accepted record is written here first, so a killed process loses none (journal.ts). */
  private readonly journal: AuditJournal;
  /** Set when the interval elapsed while a batch was in flight: the next goes on its reply. */
  private due = false;
  /** A commit failed: the next attempt waits for the retry timer (or a flush). */
  private retrying = false;
  /** Inside a synchronous inline write: replies must not start the next batch. */
  private syncing = false;
  private stopped = false;
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
    this.sinkContext = {
      dataDir,
      stateDir: join(dirname(this.dbPath), 'audit-sinks'),
      env: options.env,
      retry: options.sinkRetry,
    };
    const sinks: AuditSink[] = [];
    try {
      this.checkTail();
      this.replayJournal();
      for (const s of options.sinks ?? []) {
        const cfg = 'deliver' in s ? undefined : s;
        const sink = cfg ? this.createSink(cfg) : (s as AuditSink);
        sinks.push(sink);
        this.runners.push(this.runnerFor(sink, cfg));
      }
    } catch (err) {
      for (const s of sinks) void s.close();
      this.store.close();
      throw err;
    }
    this.journal = new AuditJournal(journalDir(this.dbPath), undefined, (err) =>
      this.logger.error({ err: err.message }, 'audit journal: provisional records not written'),
    );
    this.journal.discardOld();
    this.lastSeq = this.store.last().seq;
    this.writer = this.startWriter();
    this.untrack = this.metrics.track({
      queueDepth: () => this.queueDepth,
      sinkLag: () => new Map(this.runners.map((r) => [r.sink.name, r.lag()])),
    });
    // Records committed before a crash or an outage go out now.
    for (const r of this.runners) r.start();
  }

  /** Records appended but not yet committed (including the batch the writer thread is committing). */
  get queueDepth(): number {
    return this.queue.length + this.batched;
  }

  /**
   * Enqueues a record (synchronous; it is serialized now, so the caller may reuse the object).
   * When the queue is full a batch is committed inline (after the one at the writer thread); only
   * if that fails too does this throw AuditQueueFullError, and then the record was not taken.
   */
  append(record: AuditRecord): void {
    if (this.closing) throw new Error('audit log is closed');
    if (this.queueDepth >= this.maxQueue) {
      this.metrics.queueFull.inc();
      this.writeInline();
      if (this.queueDepth >= this.maxQueue) {
        throw new AuditQueueFullError(
          `audit queue full (${this.queueDepth}) and the audit log cannot be written`,
        );
      }
    }
    // Serialized here, one record at a time, rather than a whole batch at once when it is taken:
    // the same work, but no millisecond-long stall of the event loop every flush interval.
    const normalized = normalizeRecord(record);
    const provisional = this.journal.provisionalOf(record.requestId);
    const json = (provisional && restatedJson(provisional, normalized)) ?? JSON.stringify(normalized);
    this.journal.writeFinal(json, record.requestId, this.appended + 1, record.content !== undefined);
    this.appended += 1;
    const n = this.queue.push(json);
    if (n >= this.batchSize) {
      this.immediate ??= setImmediate(this.tick);
    } else {
      this.timer ??= setTimeout(this.tick, this.flushIntervalMs);
    }
  }

  /**
   * Journals the record of a call whose response is about to complete, before its final record can
   * be built (usage still settling, content still being redacted). If the process dies before
   * `append` takes the final record, the next start commits this one instead. Call it before the
   * last byte of the response is written, so a client that received an answer always has its record.
   */
  appendProvisional(record: AuditRecord): void {
    if (this.closing) throw new Error('audit log is closed');
    const normalized = normalizeRecord(record);
    const json = JSON.stringify(normalized);
    this.journal.writeProvisional(json, record.requestId, { normalized, json });
  }

  /**
   * Takes what another process journaled and this log does not have (a cluster worker killed before
   * its records reached this log, src/cluster), then deletes that journal. Everything appended
   * before is committed first, so a record that did arrive is found in the database and not taken
   * twice: a final record when the same text is stored, a provisional one when any record of its
   * call is. What is missing is appended now (journaled here first, like any record).
   */
  async recoverJournal(dir: string): Promise<number> {
    await this.flush();
    const journal = readJournal(dir);
    const calls = new Set<string>();
    const missing: AuditRecord[] = [];
    for (const json of journal.finals) {
      const record = JSON.parse(json) as AuditRecord;
      calls.add(record.requestId);
      if (!this.store.query({ requestId: record.requestId }).some((e) => e.json === json))
        missing.push(record);
    }
    let provisional = 0;
    for (const json of journal.provisional) {
      const record = JSON.parse(json) as AuditRecord;
      if (calls.has(record.requestId)) continue;
      calls.add(record.requestId);
      if (this.store.query({ requestId: record.requestId, limit: 1 }).length > 0) continue;
      missing.push(record);
      provisional += 1;
    }
    for (const record of missing) this.append(record);
    rmSync(dir, { recursive: true, force: true });
    if (missing.length > 0) {
      this.logger.warn(
        { recovered: missing.length, provisional, torn: journal.torn },
        'audit log: records a process took but never delivered were recovered from its journal',
      );
    }
    return missing.length;
  }

  /**
   * Resolves once everything appended before the call is committed to SQLite (sinks get it
   * asynchronously). Rejects if a commit fails; the records stay queued and are retried.
   */
  async flush(): Promise<void> {
    if (this.stopped && this.queueDepth > 0) throw new Error('audit log is closed');
    await this.committedUpTo(this.appended);
  }

  /**
   * Switches to the sinks `configs` describe, without a restart (a policy change). A sink whose
   * configuration is unchanged keeps running. One removed or changed stops at once: what it has not
   * taken stays in SQLite and its cursor on disk, so a sink of the same name, later or right away
   * with the new configuration, resumes there. A sink never seen before starts from now. If a new
   * sink cannot be created (a header's environment variable is unset), this rejects and the running
   * sinks stay as they were.
   */
  setSinks(configs: AuditSinkConfig[]): Promise<{ started: string[]; stopped: string[] }> {
    const change = this.sinkChange.then(() => this.switchSinks(configs));
    this.sinkChange = change.catch(() => {});
    return change;
  }

  private async switchSinks(configs: AuditSinkConfig[]): Promise<{ started: string[]; stopped: string[] }> {
    if (this.closing) throw new Error('audit log is closed');
    const unmatched = [...this.runners];
    const plan = configs.map((config) => {
      const json = JSON.stringify(config);
      const i = unmatched.findIndex((r) => this.runnerConfigs.get(r) === json);
      return i < 0 ? { config } : { runner: unmatched.splice(i, 1)[0] };
    });
    const created: AuditSink[] = [];
    try {
      for (const p of plan) if (p.config) created.push(this.createSink(p.config));
    } catch (err) {
      for (const s of created) void s.close();
      throw err;
    }
    // Out of the list first, so no new batch is offered to a sink that is stopping.
    this.runners = this.runners.filter((r) => !unmatched.includes(r));
    await Promise.all(unmatched.map((r) => r.close(0)));
    if (this.closing) {
      await Promise.all(created.map((s) => s.close()));
      throw new Error('audit log is closed');
    }
    // Built after the old runners stopped: a sink that kept its name reads the cursor they left.
    let next = 0;
    const started: SinkRunner[] = [];
    this.runners = plan.map((p) => {
      if (p.runner) return p.runner;
      const runner = this.runnerFor(created[next++], p.config);
      started.push(runner);
      return runner;
    });
    for (const r of started) r.start();
    return { started: started.map((r) => r.sink.name), stopped: unmatched.map((r) => r.sink.name) };
  }

  /** The names of the sinks being fed, in configuration order. */
  sinkNames(): string[] {
    return this.runners.map((r) => r.sink.name);
  }

  private createSink(config: AuditSinkConfig): AuditSink {
    return createSink(config, { dataDir: this.sinkContext.dataDir, env: this.sinkContext.env });
  }

  private runnerFor(sink: AuditSink, config: AuditSinkConfig | undefined): SinkRunner {
    const runner = new SinkRunner(sink, {
      source: this.store,
      stateDir: this.sinkContext.stateDir,
      metrics: this.metrics,
      logger: this.logger,
      retryBaseMs: config?.retryBaseMs ?? this.sinkContext.retry?.baseMs,
      retryMaxMs: config?.retryMaxMs ?? this.sinkContext.retry?.maxMs,
    });
    if (config !== undefined) this.runnerConfigs.set(runner, JSON.stringify(config));
    return runner;
  }

  /** Resolves true once every sink has every committed record, false after `timeoutMs`. */
  async waitForSinks(timeoutMs = this.sinkDrainTimeoutMs): Promise<boolean> {
    const done = await Promise.all(this.runners.map((r) => r.waitIdle(timeoutMs)));
    return done.every(Boolean);
  }

  /**
   * Graceful shutdown: commits the queue, gives the sinks `sinkDrainTimeoutMs` to catch up (what
   * they miss is sent on the next start), stops the writer thread, closes the database. Rejects if
   * records could not be committed; they are then lost with the process, and the error says how many.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Test-only hooks (see auditLogInternals). */
  [auditLogInternals](): AuditLogInternals {
    return {
      worker: () => this.writer?.worker,
      exitAfterNextCommit: () => {
        this.testExitAfterCommit = true;
      },
    };
  }

  private async shutdown(): Promise<void> {
    let err: Error | undefined;
    try {
      await this.committedUpTo(this.appended);
    } catch (thrown) {
      err = thrown as Error;
    }
    this.stopped = true;
    this.clearSchedule();
    await Promise.all(this.runners.map((r) => r.close(this.sinkDrainTimeoutMs)));
    this.untrack();
    const writer = this.writer;
    this.writer = undefined;
    await writer?.stop();
    this.store.close();
    this.journal.close(err === undefined && this.queueDepth === 0);
    if (err) {
      throw new Error(`audit log closed with ${this.queueDepth} records not written: ${err.message}`, {
        cause: err,
      });
    }
  }

  private committedUpTo(upTo: number): Promise<void> {
    if (this.committed >= upTo) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ upTo, resolve, reject });
      this.pump();
    });
  }

  private readonly tick = (): void => {
    this.clearSchedule();
    this.due = true;
    this.retrying = false;
    this.pump();
  };

  private clearSchedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  /** Sends the next batch when one is due and none is in flight. */
  private pump(): void {
    if (this.inFlight || this.syncing || this.stopped) return;
    if (this.retrying && this.waiters.length === 0) return;
    if (this.queueDepth === 0) {
      this.due = false;
      return;
    }
    if (!this.due && this.waiters.length === 0 && this.queue.length < this.batchSize) {
      this.timer ??= setTimeout(this.tick, this.flushIntervalMs);
      return;
    }
    this.clearSchedule();
    const batch = this.headBatch();
    if (this.writer) {
      this.inFlight = true;
      this.writer.send(batch, this.runners.length > 0, this.testExitAfterCommit);
      this.testExitAfterCommit = false;
      // While the writer commits, serialize the next batch if it is due already, so that it goes
      // the moment this one is answered.
      if (this.batches.length === 1 && this.queue.length >= (this.waiters.length > 0 ? 1 : this.batchSize)) {
        this.batches.push(this.takeBatch());
      }
      // What is left behind was due as well: it goes as soon as this batch is answered.
      this.due = this.queueDepth > batch.length;
      return;
    }
    // No writer thread: commit here, a batch per turn of the event loop, as before there was one.
    if (this.commitHere() === undefined && this.queueDepth > 0) this.immediate = setImmediate(this.tick);
  }

  /**
   * Normalization and serialization stay on the main thread, and the writer gets an array of
   * strings. Posting the raw records instead measured slightly cheaper here (structured clone
   * ~3 µs per plain record against ~4 µs for normalize + stringify + posting strings; equal with
   * findings), but it would copy whatever a caller attached to a record (a finding's matched text)
   * into the writer, a value that cannot be cloned would fail the whole batch on every retry, and
   * sinks would need every JSON text cloned back. Strings cross for ~0.5 µs a record, the writer
   * returns only hashes, and the main thread keeps the exact text it can look for after a crash.
   */
  private takeBatch(): string[] {
    const jsons = this.queue.length <= this.batchSize ? this.queue : this.queue.slice(0, this.batchSize);
    this.queue = jsons === this.queue ? [] : this.queue.slice(jsons.length);
    this.batched += jsons.length;
    return jsons;
  }

  /** The oldest uncommitted batch, taken from the queue if there is none yet. */
  private headBatch(): string[] {
    if (this.batches.length === 0) this.batches.push(this.takeBatch());
    return this.batches[0];
  }

  /** The oldest batch is committed: it leaves. */
  private dropHead(): string[] {
    const batch = this.batches.shift() as string[];
    this.batched -= batch.length;
    return batch;
  }

  private readonly onReply = (reply: WriterReply): void => {
    this.inFlight = false;
    this.applyReply(reply);
    this.pump();
  };

  private applyReply(reply: WriterReply): void {
    if (reply.type === 'failed') {
      this.writeFailed(new Error(reply.error));
      return;
    }
    const batch = this.dropHead();
    if (reply.checkpointError !== undefined) this.checkpointFailed(reply.checkpointError);
    const lastSeq = reply.firstSeq + batch.length - 1;
    let entries: AuditEntry[] | undefined;
    if (reply.hashes) {
      entries = new Array<AuditEntry>(batch.length);
      let prevHash = reply.prevHash;
      for (let i = 0; i < batch.length; i++) {
        const hash = reply.hashes[i];
        entries[i] = { seq: reply.firstSeq + i, prevHash, hash, json: batch[i] };
        prevHash = hash;
      }
    }
    this.batchCommitted(batch.length, lastSeq, entries);
  }

  private batchCommitted(count: number, lastSeq: number, entries: AuditEntry[] | undefined): void {
    this.committed += count;
    this.journal.committed(this.committed);
    this.lastSeq = lastSeq;
    this.writerDeaths = 0;
    this.metrics.written.inc(count);
    if (entries) for (const r of this.runners) r.offer(entries);
    while (this.waiters.length > 0 && this.waiters[0].upTo <= this.committed) {
      (this.waiters.shift() as Waiter).resolve();
    }
  }

  private writeFailed(err: Error): void {
    this.metrics.writeErrors.inc();
    this.logger.error(
      { err: err.message, queued: this.queueDepth },
      'audit log: batch commit failed; kept in the queue',
    );
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.clearSchedule();
    this.due = false;
    this.retrying = true;
    if (!this.stopped) this.timer = setTimeout(this.tick, this.flushIntervalMs);
  }

  private checkpointFailed(message: string): void {
    // The records are committed; a stale checkpoint only weakens the truncation check until the next batch.
    this.logger.error({ err: message }, 'audit log: checkpoint not written');
  }

  /** Commits the head batch (or the next one) on this thread; returns the error if it failed. */
  private commitHere(): Error | undefined {
    const batch = this.headBatch();
    let entries: AuditEntry[];
    try {
      entries = this.store.appendJson(batch);
    } catch (thrown) {
      const err = thrown instanceof Error ? thrown : new Error(String(thrown));
      this.writeFailed(err);
      return err;
    }
    this.committedHere(entries);
    return undefined;
  }

  /** The head batch is in the store (committed on this thread): drop it, checkpoint, report. */
  private committedHere(entries: AuditEntry[]): void {
    this.dropHead();
    const last = entries[entries.length - 1];
    try {
      writeCheckpoint(this.checkpointFile, last.seq, last.hash);
    } catch (err) {
      this.checkpointFailed(err instanceof Error ? err.message : String(err));
    }
    this.batchCommitted(entries.length, last.seq, this.runners.length > 0 ? entries : undefined);
  }

  /**
   * The queue is full: the caller commits on its own time, which slows the request path down
   * instead of dropping records. A batch at the writer thread is waited for first (it holds older
   * records), so the chain keeps the order of `append`. Only one batch is written here, enough to
   * make room: the writer thread takes the next one meanwhile, and the caller stalls for one batch
   * rather than for the whole queue.
   */
  private writeInline(): void {
    this.syncing = true;
    try {
      if (this.inFlight && this.writer) {
        const reply = this.writer.receiveSync(SYNC_WAIT_MS);
        if (!reply) {
          this.logger.error(
            { waitedMs: SYNC_WAIT_MS, queued: this.queueDepth },
            'audit log: the writer thread did not answer; the full queue cannot be written inline',
          );
          return;
        }
        this.inFlight = false;
        this.applyReply(reply);
      }
      while (this.queueDepth >= this.maxQueue && this.commitHere() === undefined) {}
    } finally {
      this.syncing = false;
    }
    this.pump();
  }

  private startWriter(): WriterThread | undefined {
    try {
      return new WriterThread({
        dbPath: this.dbPath,
        checkpointFile: this.checkpointFile,
        onReply: this.onReply,
        onExit: this.writerExited,
      });
    } catch (err) {
      this.logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        'audit log: cannot start the writer thread; writing on the main thread',
      );
      return undefined;
    }
  }

  /**
   * The writer thread died. Its batch was committed or not as a whole (one transaction, rolled back
   * when the thread's connection goes); find out which, so that it is neither lost nor written
   * twice, then carry on with a new writer, or on this thread after repeated deaths.
   */
  private readonly writerExited = (thread: WriterThread, err: Error): void => {
    if (thread !== this.writer) return;
    this.writer = undefined;
    this.writerDeaths += 1;
    this.metrics.writerExits.inc();
    if (this.inFlight) {
      this.inFlight = false;
      this.syncing = true;
      try {
        const reply = thread.takePending();
        if (reply) this.applyReply(reply);
        else this.recoverInFlight();
      } finally {
        this.syncing = false;
      }
    }
    const restart = !this.stopped && this.writerDeaths <= MAX_WRITER_DEATHS;
    this.logger.error(
      { err: err.message, deaths: this.writerDeaths, queued: this.queueDepth },
      restart
        ? 'audit log: writer thread died; restarting it'
        : 'audit log: writer thread keeps dying; writing on the main thread from now on',
    );
    if (restart) this.writer = this.startWriter();
    this.pump();
  };

  private recoverInFlight(): void {
    const batch = this.batches[0];
    let entries: AuditEntry[] = [];
    try {
      const seq = this.store.seqOf(batch[0], this.lastSeq);
      if (seq !== null) entries = this.store.after(seq - 1, batch.length);
    } catch (err) {
      // Unknown is treated as not committed: a duplicate shows in the log, a lost record would not.
      this.logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        'audit log: cannot tell whether the lost batch was committed; writing it again',
      );
    }
    if (entries.length !== batch.length || entries.some((e, i) => e.json !== batch[i])) {
      this.metrics.writeErrors.inc();
      return;
    }
    this.committedHere(entries);
  }

  /**
   * Commits what the journal holds and the database does not (the process was killed with records
   * queued): final records, and provisional ones whose call has no final record anywhere. Runs at
   * open, before the writer thread starts, so the chain stays in one order.
   */
  private replayJournal(): void {
    const journal = readJournal(journalDir(this.dbPath));
    if (journal.finals.length === 0 && journal.provisional.length === 0) return;
    const all = [...journal.finals, ...journal.provisional].map((json) => JSON.parse(json) as AuditRecord);
    const earliest = Math.min(...all.map((r) => Date.parse(r.time)).filter((t) => !Number.isNaN(t)));
    // Records are stored by arrival time; a call journaled now arrived at most its length ago.
    const committed = this.store.query({
      sinceMs: Number.isFinite(earliest) ? earliest - 3_600_000 : 0,
      order: 'asc',
    });
    const stored = new Set(committed.map((e) => e.json));
    const finalIds = new Set(committed.map((e) => (JSON.parse(e.json) as AuditRecord).requestId));
    const missing: string[] = [];
    for (const json of journal.finals) {
      finalIds.add((JSON.parse(json) as AuditRecord).requestId);
      if (!stored.has(json)) {
        missing.push(json);
        stored.add(json);
      }
    }
    let provisional = 0;
    for (const json of journal.provisional) {
      const id = (JSON.parse(json) as AuditRecord).requestId;
      if (finalIds.has(id)) continue;
      finalIds.add(id);
      missing.push(json);
      provisional += 1;
    }
    if (missing.length === 0) return;
    const entries = this.store.appendJson(missing);
    const last = entries[entries.length - 1];
    writeCheckpoint(this.checkpointFile, last.seq, last.hash);
    this.logger.warn(
      { recovered: missing.length, provisional: provisional, torn: journal.torn },
      'audit log: records the last process took but had not committed were recovered from its journal',
    );
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
