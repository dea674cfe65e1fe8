// Findings identify a match by a salted hash, never by its text: the policy can say "redact these" and
// audit records can correlate repeats of one secret without ever holding it.
import { createHash, createHmac, createSecretKey, randomBytes } from 'node:crypto';

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
  const keyObject = createSecretKey(key);
  const fn = (match: string) =>
    createHmac('sha256', keyObject).update(match).digest('hex').slice(0, FINGERPRINT_HEX);
  const saltId = createHash('sha256').update('portcullis-salt-id').update(key).digest('hex').slice(0, 12);
  return Object.assign(fn, { saltId });
}
