// Findings identify a match by a salted hash, never by its text: the policy can say "redact these" and
// audit records can correlate repeats of one secret without ever holding it.
import { createHash, hash, randomBytes } from 'node:crypto';

export type Fingerprinter = ((match: string) => string) & {
  /** Short, non-reversible id of the salt, so caches never mix fingerprints of different salts. */
  readonly saltId: string;
};

const FINGERPRINT_HEX = 16;

let processSalt: Buffer | undefined;

/** HMAC-SHA256 of the match under `salt` (a per-process random salt when absent), truncated to 64 bits. */
export function createFingerprinter(salt?: string | Uint8Array): Fingerprinter {
  let key: Buffer;
  if (salt === undefined) {
    processSalt ??= randomBytes(32);
    key = processSalt;
  } else {
    key = typeof salt === 'string' ? Buffer.from(salt, 'utf8') : Buffer.from(salt);
    if (key.length < 16) throw new Error('guardrails: fingerprintSalt must be at least 16 bytes');
  }
  // HMAC (RFC 2104) written out over one-shot hashes: a createHmac object per finding cost more than
  // the hashing itself. The pads are the key XORed with 0x36 and 0x5c, a block (64 bytes) long.
  const block = key.length > 64 ? createHash('sha256').update(key).digest() : key;
  const inner = Buffer.alloc(64, 0x36);
  const outer = Buffer.alloc(64, 0x5c);
  for (let i = 0; i < block.length; i++) {
    inner[i] ^= block[i];
    outer[i] ^= block[i];
  }
  // Both messages are built in buffers kept for the purpose (the pad first, then the match or the
  // inner digest): concatenating new buffers per call cost several times the hashing.
  let innerMessage = Buffer.allocUnsafe(64 + 256);
  inner.copy(innerMessage, 0);
  const outerMessage = Buffer.allocUnsafe(64 + 32);
  outer.copy(outerMessage, 0);
  const fn = (match: string) => {
    const n = Buffer.byteLength(match, 'utf8');
    if (64 + n > innerMessage.length) {
      innerMessage = Buffer.allocUnsafe(64 + n);
      inner.copy(innerMessage, 0);
    }
    innerMessage.write(match, 64, 'utf8');
    hash('sha256', innerMessage.subarray(0, 64 + n), 'buffer').copy(outerMessage, 64);
    return hash('sha256', outerMessage, 'hex').slice(0, FINGERPRINT_HEX);
  };
  const saltId = createHash('sha256').update('portcullis-salt-id').update(key).digest('hex').slice(0, 12);
  return Object.assign(fn, { saltId });
}
