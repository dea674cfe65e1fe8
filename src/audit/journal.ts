// The audit journal: every record is written here, one line, by a plain write(2) before `append`
// returns, so a record the gateway took survives the process being killed (`kill -9`, an OOM kill,
// a crash) even while it waits in the queue for its SQLite batch. It lives in segment files beside the
// database (`audit.db.journal/<n>`); a segment is deleted once every record in it is committed, so
// the journal holds about one flush interval of records. At open, records the journal has and the
// database does not are committed before anything else (see AuditLog).
//
// Two kinds of line: `F <json>` a final record (what `append` commits); `P <json>` a provisional
// record, written for a call whose response is about to complete while its final record is not ready
// yet (its usage settled, its content redacted). A provisional record is committed at replay only if
// no final record with its request id made it; while its final record waits for its batch, the
// provisional line is what protects the call, so for most calls the journal costs one line.
//
// No fsync: the page cache survives a killed process, not a power cut. Records appended in the last
// flush interval before a power loss may be lost (they were never committed); see README.
//
// Provisional lines of the responses ending in one turn of the event loop go to the file in one
// write at the end of that turn (group-commit.ts); those responses end only after it.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { StringMap } from '../serving/string-map.ts';
import { journalHolds, type PendingJournal } from './group-commit.ts';
import type { AuditRecord } from './record.ts';

/** A segment is closed and a new one started past this size. */
const SEGMENT_BYTES = 4 * 1024 * 1024;

export interface JournalContents {
  /** Final records, oldest first, as canonical JSON. */
  finals: string[];
  /** Provisional records, oldest first. */
  provisional: string[];
  /** Lines that could not be read (a line torn by a power cut). */
  torn: number;
}

/** A record as the journal wrote it: normalized (record.ts) and that object's JSON. */
export interface WrittenRecord {
  normalized: AuditRecord;
  json: string;
}

interface Segment {
  file: string;
  /** Final records (counted from open) that must be committed before this segment may go. */
  end: number;
  /** Provisional records here whose final record has not been appended yet. */
  waiting: number;
}

/** A provisional record whose final never came (its call's audit failed) stops pinning its segment after this. */
const PROVISIONAL_TTL_MS = 10 * 60_000;

export function journalDir(dbPath: string): string {
  return `${dbPath}.journal`;
}

function segmentFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^\d+$/.test(f))
    .sort((a, b) => Number(a) - Number(b))
    .map((f) => join(dir, f));
}

/** Everything the journal at `dir` holds, in the order it was written. */
export function readJournal(dir: string): JournalContents {
  const out: JournalContents = { finals: [], provisional: [], torn: 0 };
  for (const file of segmentFiles(dir)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line === '') continue;
      const kind = line.slice(0, 2);
      const json = line.slice(2);
      if ((kind !== 'F ' && kind !== 'P ') || !isJsonObject(json)) {
        out.torn += 1;
        continue;
      }
      (kind === 'F ' ? out.finals : out.provisional).push(json);
    }
  }
  return out;
}

function isJsonObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}

/** Reports a group write of provisional lines that failed (the calls' final records are journaled instead). */
export type JournalErrorHandler = (err: Error) => void;

export class AuditJournal implements PendingJournal {
  readonly dir: string;
  readonly #segmentBytes: number;
  #fd: number;
  #bytes = 0;
  #number: number;
  /** Closed segments still holding records not yet committed, oldest first. */
  #closed: Segment[] = [];
  #current: Segment;
  /**
   * Provisional records waiting for their final one: request id → its segment, when it was written,
   * and the record as written (normalized, and its JSON), from which the final one may be restated.
   */
  // Not a Map: an entry per call in a long-lived Map got every call's record promoted (string-map.ts).
  readonly #provisional = new StringMap<{ segment: Segment; at: number; written?: WrittenRecord }>();
  /**
   * No provisional record is stale before this time (the oldest one's time plus the TTL, or earlier):
   * the sweep visits the whole table, so a commit runs it only from then on.
   */
  #sweepFrom = Number.POSITIVE_INFINITY;
  /** Provisional lines waiting for this turn's group write, and their request ids. */
  #held: string[] = [];
  #heldIds: string[] = [];
  readonly #onError: JournalErrorHandler;

  /**
   * Opens a new segment after any left on disk (replayed and removed by the caller with `discardOld`).
   * Smaller segments are dropped sooner, so less is left to check when the journal is replayed.
   */
  constructor(dir: string, segmentBytes = SEGMENT_BYTES, onError: JournalErrorHandler = reportToStderr) {
    this.dir = dir;
    this.#segmentBytes = segmentBytes;
    this.#onError = onError;
    mkdirSync(dir, { recursive: true });
    const existing = segmentFiles(dir);
    this.#number = existing.length === 0 ? 1 : Number(existing[existing.length - 1].split('/').pop()) + 1;
    this.#current = { file: join(dir, String(this.#number)), end: 0, waiting: 0 };
    this.#fd = openSync(this.#current.file, 'a');
  }

  /** Removes the segments that were on disk before this journal opened (their records are committed). */
  discardOld(): void {
    for (const file of segmentFiles(this.dir)) if (file !== this.#current.file) rmSync(file, { force: true });
  }

  /**
   * A final record, before it joins the queue as the `count`-th appended since open. When a
   * provisional record of the same call is here and the final one carries nothing it lacks but
   * timing (no content), no second line is written: the provisional one stands in for it until it
   * is committed.
   */
  writeFinal(json: string, requestId: string, count: number, hasContent: boolean): void {
    // Held lines first: they belong to the current segment, which this write may close.
    this.flushPending();
    const provisional = this.#provisional.get(requestId);
    if (provisional !== undefined) {
      this.#forget(requestId, provisional);
      provisional.segment.end = Math.max(provisional.segment.end, count);
      if (!hasContent) return;
    }
    this.#write(`F ${json}\n`);
    this.#current.end = count;
  }

  /** A provisional record of this call is here and stands in for a final one without content. */
  awaitsFinal(requestId: string): boolean {
    return this.#provisional.has(requestId);
  }

  /**
   * A provisional record of a call whose final record is not ready yet, held for this turn's group
   * write (a response waiting on it ends after that write: `afterJournalWrite`). With `written` (the
   * record and its JSON), `provisionalOf` hands it back until the final record arrives.
   */
  writeProvisional(json: string, requestId: string, written?: WrittenRecord): void {
    const segment = this.#current;
    this.#held.push(`P ${json}\n`);
    this.#heldIds.push(requestId);
    const earlier = this.#provisional.get(requestId);
    if (earlier !== undefined) this.#forget(requestId, earlier);
    segment.waiting += 1;
    const at = Date.now();
    this.#sweepFrom = Math.min(this.#sweepFrom, at + PROVISIONAL_TTL_MS);
    this.#provisional.set(requestId, { segment, at, written });
    if (this.#held.length === 1) journalHolds(this);
  }

  /** Writes the held provisional lines in one write. */
  flushPending(): void {
    if (this.#held.length === 0) return;
    const lines = this.#held.length === 1 ? this.#held[0] : this.#held.join('');
    const ids = this.#heldIds;
    this.#held = [];
    this.#heldIds = [];
    try {
      this.#write(lines);
    } catch (err) {
      // Not journaled: each call's final record gets a line of its own instead of standing on these.
      for (const id of ids) {
        const p = this.#provisional.get(id);
        if (p !== undefined) this.#forget(id, p);
      }
      this.#onError(err as Error);
    }
  }

  /** The provisional record of this call as written, while its final record has not arrived. */
  provisionalOf(requestId: string): WrittenRecord | undefined {
    return this.#provisional.get(requestId)?.written;
  }

  /** The first `count` final records (counted from open) are committed: drop the segments they fill. */
  committed(count: number): void {
    const now = Date.now();
    if (now >= this.#sweepFrom) {
      const stale = now - PROVISIONAL_TTL_MS;
      let oldest = Number.POSITIVE_INFINITY;
      this.#provisional.forEachEntry((id, p) => {
        if (p.at < stale) this.#forget(id, p);
        else oldest = Math.min(oldest, p.at);
      });
      this.#sweepFrom = oldest + PROVISIONAL_TTL_MS;
    }
    // Oldest first, so that a segment goes only after every one before it.
    while (this.#closed.length > 0 && this.#closed[0].end <= count && this.#closed[0].waiting === 0) {
      rmSync((this.#closed.shift() as Segment).file, { force: true });
    }
  }

  /** Everything written is committed (a graceful close): the journal is emptied. */
  close(allCommitted: boolean): void {
    this.flushPending();
    closeSync(this.#fd);
    if (!allCommitted) return;
    for (const s of this.#closed) rmSync(s.file, { force: true });
    rmSync(this.#current.file, { force: true });
    this.#closed = [];
  }

  /** A provisional record no longer waits for its final one: its segment stops counting it. */
  #forget(requestId: string, p: { segment: Segment }): void {
    p.segment.waiting -= 1;
    this.#provisional.delete(requestId);
  }

  /** Writes `lines` whole (one or more lines), then starts a new segment if this one is full. */
  #write(line: string): void {
    // The string goes to write(2) without a Buffer of its own; a short write (rare on a regular file)
    // finishes from a Buffer of the line.
    const length = Buffer.byteLength(line, 'utf8');
    let off = writeSync(this.#fd, line);
    if (off < length) {
      const buf = Buffer.from(line, 'utf8');
      while (off < length) off += writeSync(this.#fd, buf, off);
    }
    this.#bytes += length;
    if (this.#bytes >= this.#segmentBytes) this.#rotate();
  }

  #rotate(): void {
    closeSync(this.#fd);
    this.#closed.push(this.#current);
    this.#number += 1;
    this.#current = { file: join(this.dir, String(this.#number)), end: 0, waiting: 0 };
    this.#fd = openSync(this.#current.file, 'a');
    this.#bytes = 0;
  }
}

function reportToStderr(err: Error): void {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', msg: 'audit journal: provisional records not written', err: err.message })}\n`,
  );
}
