// JSON Lines files for a log shipper to tail, rotated by size and/or UTC day, keeping N old files.
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { type AuditEntry, entryLine } from '../record.ts';
import type { AuditSink } from './types.ts';

export interface JsonlSinkOptions {
  /** Absolute or process-relative path of the active file. */
  path: string;
  name?: string;
  maxBytes?: number;
  daily?: boolean;
  keep?: number;
  /** Clock, for the daily rotation. */
  now?: () => Date;
}

const utcDay = (d: Date): string => d.toISOString().slice(0, 10);

export class JsonlSink implements AuditSink {
  readonly name: string;
  readonly maxBatch = 1000;
  private readonly path: string;
  private readonly maxBytes: number;
  private readonly daily: boolean;
  private readonly keep: number;
  private readonly now: () => Date;
  private fd: number;
  private size: number;
  /** UTC day of the active file's first line. */
  private day: string;

  constructor(options: JsonlSinkOptions) {
    this.path = options.path;
    this.name = options.name ?? `jsonl:${options.path}`;
    this.maxBytes = options.maxBytes ?? 100 * 1024 * 1024;
    this.daily = options.daily === true;
    this.keep = Math.max(0, Math.floor(options.keep ?? 10));
    this.now = options.now ?? (() => new Date());
    mkdirSync(dirname(this.path), { recursive: true });
    this.fd = openSync(this.path, 'a+');
    // A crash mid-write can leave half a line: cut it, the runner offers that entry again.
    const tail = lastLine(this.fd);
    if (tail.end < fstatSync(this.fd).size) ftruncateSync(this.fd, tail.end);
    this.size = tail.end;
    this.day = this.size > 0 ? utcDay(statSync(this.path).mtime) : utcDay(this.now());
  }

  recoverCursor(): number | null {
    const line = lastLine(this.fd).line ?? lastLineOf(`${this.path}.1`);
    if (line === null) return null;
    try {
      const seq = (JSON.parse(line) as { seq?: unknown }).seq;
      return typeof seq === 'number' ? seq : null;
    } catch {
      return null;
    }
  }

  async deliver(entries: AuditEntry[]): Promise<void> {
    const today = utcDay(this.now());
    if (this.daily && this.size > 0 && this.day !== today) this.rotate(today);
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    for (const e of entries) {
      const line = Buffer.from(`${entryLine(e)}\n`);
      const total = this.size + chunkBytes;
      if (this.maxBytes > 0 && total > 0 && total + line.length > this.maxBytes) {
        this.write(chunk, chunkBytes, today);
        this.rotate(today);
        chunk = [];
        chunkBytes = 0;
      }
      chunk.push(line);
      chunkBytes += line.length;
    }
    this.write(chunk, chunkBytes, today);
  }

  async close(): Promise<void> {
    closeSync(this.fd);
  }

  private write(chunk: Buffer[], bytes: number, today: string): void {
    if (bytes === 0) return;
    const buf = Buffer.concat(chunk, bytes);
    const before = this.size;
    try {
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd, buf, off);
    } catch (err) {
      // All or nothing: the entries will be offered again, so a partial write must not stay.
      try {
        ftruncateSync(this.fd, before);
      } catch {}
      throw err;
    }
    if (before === 0) this.day = today;
    this.size += buf.length;
  }

  private rotate(today: string): void {
    closeSync(this.fd);
    if (this.keep === 0) {
      unlinkSync(this.path);
    } else {
      removeIfExists(`${this.path}.${this.keep}`);
      for (let i = this.keep - 1; i >= 1; i--) renameIfExists(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      renameSync(this.path, `${this.path}.1`);
    }
    this.fd = openSync(this.path, 'a+');
    this.size = 0;
    this.day = today;
  }
}

function removeIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function renameIfExists(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function lastLineOf(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    return lastLine(fd).line;
  } finally {
    closeSync(fd);
  }
}

/**
 * The end of the last complete line (the offset after its newline, 0 when there is none) and that
 * line's text. Reads backwards in blocks, so it costs the size of the last line, not of the file.
 */
function lastLine(fd: number): { end: number; line: string | null } {
  const size = fstatSync(fd).size;
  const block = 64 * 1024;
  const tail: Buffer[] = [];
  let pos = size;
  let end = -1;
  while (pos > 0) {
    const len = Math.min(block, pos);
    pos -= len;
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, pos);
    tail.unshift(buf);
    const joined = Buffer.concat(tail);
    if (end < 0) {
      const nl = joined.lastIndexOf(10);
      if (nl < 0) continue;
      end = pos + nl + 1;
    }
    const from = end - pos - 2;
    const start = from >= 0 ? joined.lastIndexOf(10, from) : -1;
    if (start >= 0 || pos === 0) {
      return { end, line: joined.subarray(start + 1, end - pos - 1).toString('utf8') };
    }
  }
  return { end: 0, line: null };
}
