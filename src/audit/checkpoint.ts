// The checkpoint: the last committed sequence number and hash, kept in a sidecar file next to the
// database so that cutting rows off the end of the table is noticed (the chain alone cannot tell a
// truncated log from a short one).
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

export interface Checkpoint {
  seq: number;
  hash: string;
  /** When it was written (ISO-8601); informational. */
  at: string;
}

export function checkpointPath(dbPath: string): string {
  return `${dbPath}.checkpoint`;
}

/** The checkpoint, or null when there is no file. Throws when the file exists but is unreadable. */
export function readCheckpoint(path: string): Checkpoint | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const cp = JSON.parse(text) as Checkpoint;
  if (!Number.isSafeInteger(cp?.seq) || typeof cp.hash !== 'string') {
    throw new Error(`checkpoint ${path} is malformed`);
  }
  return cp;
}

/** Replaces the checkpoint atomically (write, fsync, rename), so a crash leaves the old or the new one. */
export function writeCheckpoint(path: string, seq: number, hash: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify({ seq, hash, at: new Date().toISOString() }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
