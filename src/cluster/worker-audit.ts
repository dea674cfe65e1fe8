// A worker's audit records: sent to the primary, which writes the one log, and journaled here first
// (src/audit/journal.ts), so that a worker killed with -9 loses none. The provisional record of a
// call is written before its response's last bytes, and its final one before it leaves for the
// primary; the primary acknowledges what it has taken into its own log (and journal), and the
// segments holding only acknowledged records are deleted. When a worker dies, the primary takes
// what its journal holds and the log lacks (AuditLog.recoverJournal), then deletes the journal.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AuditJournal } from '../audit/journal.ts';
import { type AuditRecord, normalizeRecord } from '../audit/record.ts';
import type { AuditAppender } from '../gateway/plugins/audit.ts';

/**
 * Small segments: the primary checks each record left in a dead worker's journal against the log,
 * and acknowledged records go with their segment.
 */
const WORKER_SEGMENT_BYTES = 256 * 1024;

/** Where the workers' journals live, one directory per worker process. */
export function workerJournalsDir(dataDir: string): string {
  return join(dataDir, 'audit.db.workers');
}

export function workerJournalDir(dataDir: string, pid: number): string {
  return join(workerJournalsDir(dataDir), String(pid));
}

/** The worker journals on disk, by the pid of the worker that wrote each. */
export function workerJournals(dataDir: string): { pid: number; dir: string }[] {
  let names: string[];
  try {
    names = readdirSync(workerJournalsDir(dataDir));
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d+$/.test(n))
    .map((n) => ({ pid: Number(n), dir: join(workerJournalsDir(dataDir), n) }));
}

export class WorkerAuditJournal implements AuditAppender {
  readonly #journal: AuditJournal;
  readonly #send: (record: AuditRecord) => void;
  /** Final records appended since open; the primary acknowledges them by this count. */
  #appended = 0;

  constructor(dir: string, send: (record: AuditRecord) => void) {
    this.#journal = new AuditJournal(dir, WORKER_SEGMENT_BYTES);
    this.#send = send;
  }

  appendProvisional(record: AuditRecord): void {
    this.#journal.writeProvisional(JSON.stringify(normalizeRecord(record)), record.requestId);
  }

  append(record: AuditRecord): void {
    const hasContent = record.content !== undefined;
    // A final record without content is not serialized when the call's provisional one stands in.
    const json =
      hasContent || !this.#journal.awaitsFinal(record.requestId)
        ? JSON.stringify(normalizeRecord(record))
        : '';
    this.#appended += 1;
    this.#journal.writeFinal(json, record.requestId, this.#appended, hasContent);
    this.#send(record);
  }

  /** The primary has the first `count` records in its log. */
  acknowledged(count: number): void {
    this.#journal.committed(count);
  }

  /** Closes the file; the primary deletes the journal once it has checked it. */
  close(): void {
    this.#journal.close(false);
  }
}
