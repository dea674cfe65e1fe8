// Request ids the gateway makes up when the client sent none: UUIDv7 (RFC 9562), time-ordered.
// Ordered ids keep the audit log's request-id index appended at its end; random (v4) ids landed all
// over it, dirtying a page per record and more than doubling the cost of each audit write.
import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(8 * 1024);
let offset = pool.length;
let lastMs = 0;
let counter = 0;

/** A UUIDv7: 48-bit Unix milliseconds, a 12-bit counter within the millisecond, 62 random bits. */
export function timeOrderedId(nowMs: number = Date.now()): string {
  // Monotonic within this process, also when the clock steps back or one millisecond overflows.
  if (nowMs > lastMs) {
    lastMs = nowMs;
    counter = 0;
  } else if (++counter > 0xfff) {
    lastMs += 1;
    counter = 0;
  }
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const ms = lastMs.toString(16).padStart(12, '0');
  const variant = ((pool.readUInt16BE(offset) & 0x3fff) | 0x8000).toString(16);
  const rest = pool.toString('hex', offset + 2, offset + 8);
  offset += 8;
  return `${ms.slice(0, 8)}-${ms.slice(8)}-${(0x7000 | counter).toString(16)}-${variant}-${rest}`;
}
