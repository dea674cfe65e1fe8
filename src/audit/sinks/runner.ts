// Feeds one sink, in sequence order, from a cursor: the last seq the sink took, kept in a file in
// the data directory. The audit log itself is the disk buffer: while a sink is down or behind, its
// records wait in SQLite and are read back from there, so an outage or a restart loses nothing and
// keeps order, and memory stays bounded by one batch.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditMetrics } from '../metrics.ts';
import type { AuditEntry } from '../record.ts';
import type { AuditSink } from './types.ts';

/** Where records the runner has no longer in memory are read back from. */
export interface ReplaySource {
  after(seq: number, limit: number): AuditEntry[];
  last(): { seq: number };
}

export interface AuditLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SinkRunnerOptions {
  source: ReplaySource;
  /** Directory of the cursor files. */
  stateDir: string;
  metrics: AuditMetrics;
  logger: AuditLogger;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export class SinkRunner {
  readonly sink: AuditSink;
  private readonly opts: SinkRunnerOptions;
  private readonly cursorFile: string;
  private cursor: number;
  /** Highest committed seq. */
  private target: number;
  /** The latest committed batch, so a sink that keeps up never reads SQLite. */
  private recent: AuditEntry[] = [];
  private failures = 0;
  private pumping: Promise<void> | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  /** When the oldest record not yet delivered was first seen, for sinks that gather batches. */
  private pendingSince: number | undefined;
  /** Set by waitIdle/close: deliver what there is without waiting for a fuller batch. */
  private draining = false;

  constructor(sink: AuditSink, opts: SinkRunnerOptions) {
    this.sink = sink;
    this.opts = opts;
    mkdirSync(opts.stateDir, { recursive: true });
    const slug = sink.name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
    const digest = createHash('sha256').update(sink.name).digest('hex').slice(0, 8);
    this.cursorFile = join(opts.stateDir, `${slug}-${digest}.cursor`);
    const head = opts.source.last().seq;
    this.target = head;
    const saved = this.readCursor();
    const recovered = sink.recoverCursor?.() ?? null;
    if (saved === null && recovered === null) {
      // A sink added to a running log starts from now rather than replaying all history.
      this.cursor = head;
    } else {
      this.cursor = Math.max(saved ?? 0, recovered ?? 0);
      if (this.cursor > head) {
        opts.logger.warn(
          { sink: sink.name, cursor: this.cursor, head },
          'audit sink is ahead of the audit log (a new log?); continuing from the log head',
        );
        this.cursor = head;
      }
    }
    if (saved !== this.cursor) this.saveCursor();
  }

  /** Records committed to SQLite that the sink has not taken yet. */
  lag(): number {
    return this.target - this.cursor;
  }

  /** Starts sending what the sink missed (records committed while it was down or before a restart). */
  start(): void {
    this.kick();
  }

  /** Hands over a freshly committed batch (contiguous, ascending). */
  offer(entries: AuditEntry[]): void {
    if (entries.length === 0 || this.stopped) return;
    this.recent = entries;
    this.target = Math.max(this.target, entries[entries.length - 1].seq);
    // A sink gathering a batch takes it as soon as it is full.
    if (this.sink.flushIntervalMs && this.lag() >= this.sink.maxBatch) this.wake?.();
    this.kick();
  }

  /** Resolves true once the sink has everything committed so far, false after `timeoutMs`. */
  async waitIdle(timeoutMs: number): Promise<boolean> {
    this.kick();
    if (this.lag() === 0) return true;
    this.draining = true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    // A retry wait in progress would outlast a short timeout for no reason: try now.
    this.wake?.();
    try {
      return await Promise.race([idle, timeout]);
    } finally {
      clearTimeout(timer);
      this.draining = false;
    }
  }

  /** Gives the sink up to `timeoutMs` to catch up, then stops; what it missed waits in SQLite. */
  async close(timeoutMs: number): Promise<void> {
    if (timeoutMs > 0) await this.waitIdle(timeoutMs);
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.pumping;
    await this.sink.close();
  }

  private kick(): void {
    if (this.pumping || this.stopped || this.lag() === 0) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      if (this.lag() === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private async pump(): Promise<void> {
    while (!this.stopped && this.cursor < this.target) {
      const gather = this.gatherDelay();
      if (gather > 0) {
        await this.sleep(gather);
        continue;
      }
      const entries = this.next();
      try {
        if (entries.length === 0)
          throw new Error(`records after seq ${this.cursor} are missing from the audit log`);
        await this.sink.deliver(entries, this.abort.signal);
      } catch (err) {
        if (this.stopped) return;
        this.failures += 1;
        this.opts.metrics.sinkFailures.inc({ sink: this.sink.name });
        const delayMs = this.backoff();
        this.opts.logger.warn(
          {
            sink: this.sink.name,
            err: errorText(err),
            failures: this.failures,
            retryInMs: delayMs,
            lag: this.lag(),
          },
          'audit sink delivery failed; retrying',
        );
        await this.sleep(delayMs);
        continue;
      }
      this.failures = 0;
      this.pendingSince = undefined;
      this.cursor = entries[entries.length - 1].seq;
      this.opts.metrics.sinkDelivered.inc({ sink: this.sink.name }, entries.length);
      try {
        this.saveCursor();
      } catch (err) {
        // Not fatal: at worst the next start offers these entries again.
        this.opts.logger.error(
          { sink: this.sink.name, err: errorText(err) },
          'audit sink: cannot save cursor',
        );
      }
    }
  }

  /** How long to wait for a fuller batch (0: deliver now). */
  private gatherDelay(): number {
    const interval = this.sink.flushIntervalMs;
    if (interval === undefined || interval <= 0 || this.draining || this.failures > 0) return 0;
    if (this.lag() >= this.sink.maxBatch) return 0;
    const now = Date.now();
    this.pendingSince ??= now;
    return Math.max(0, this.pendingSince + interval - now);
  }

  private next(): AuditEntry[] {
    const from = this.cursor + 1;
    const max = this.sink.maxBatch;
    const recent = this.recent;
    if (recent.length > 0 && recent[0].seq <= from && from <= recent[recent.length - 1].seq) {
      const start = from - recent[0].seq;
      return recent.slice(start, start + max);
    }
    return this.opts.source.after(this.cursor, max);
  }

  private backoff(): number {
    const base = this.opts.retryBaseMs ?? 500;
    const max = this.opts.retryMaxMs ?? 30_000;
    const exp = Math.min(max, base * 2 ** Math.min(this.failures - 1, 30));
    // Jitter in [exp/2, exp]: replicas that lost the same collector do not retry in step.
    return Math.round(exp / 2 + (Math.random() * exp) / 2);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      // A retry wait alone does not keep the process alive; close() is the graceful path.
      timer.unref();
      this.wake = done;
    });
  }

  private readCursor(): number | null {
    try {
      const seq = (JSON.parse(readFileSync(this.cursorFile, 'utf8')) as { seq?: unknown }).seq;
      return typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : null;
    } catch {
      return null;
    }
  }

  private saveCursor(): void {
    const tmp = `${this.cursorFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ sink: this.sink.name, seq: this.cursor }));
    renameSync(tmp, this.cursorFile);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
