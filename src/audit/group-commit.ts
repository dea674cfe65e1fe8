// Group commit of the audit journal's provisional lines. A response's last bytes may leave only once
// its provisional record is in the journal file (journal.ts), but a write(2) per response cost the
// event loop ~6 µs per call under load (most of it ext4's buffered-write path, per write). Responses
// that end in the same turn of the event loop now share one write per journal: the journal holds
// their lines until the check phase of that turn, and each response's end waits for that write
// (`afterJournalWrite`, used by ending-response.ts) instead of going out first.

/** A journal holding lines that are not in its file yet. */
export interface PendingJournal {
  /** Writes every held line; never throws (a failed write is the journal's to report). */
  flushPending(): void;
}

/** What waits for the group write (a response's end). */
export interface JournalWaiter {
  journalWritten(): void;
}

const pending = new Set<PendingJournal>();
let waiting: JournalWaiter[] = [];
let scheduled = false;

/** `journal` holds lines: they are written (and what waits on them released) later in this turn. */
export function journalHolds(journal: PendingJournal): void {
  pending.add(journal);
  if (!scheduled) {
    scheduled = true;
    setImmediate(commitJournals);
  }
}

/**
 * Calls `waiter.journalWritten()` once every line a journal holds now is in its file. Returns false,
 * without calling it, when nothing is held: the caller goes on at once.
 */
export function afterJournalWrite(waiter: JournalWaiter): boolean {
  if (pending.size === 0) return false;
  waiting.push(waiter);
  return true;
}

/** Writes what every journal holds, then releases what waited on it. */
export function commitJournals(): void {
  scheduled = false;
  for (const journal of pending) journal.flushPending();
  pending.clear();
  const released = waiting;
  waiting = [];
  for (const waiter of released) waiter.journalWritten();
}
