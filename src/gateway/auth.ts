// Virtual-key authentication: find the presented key, hash it, look the digest up in the snapshot.
import { hash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthStatus } from '../policy/decision.ts';
import type { ResolvedKey, Snapshot } from '../policy/snapshot.ts';

/** The credential a client presents, in the places the three SDKs put it. */
export function presentedKey(headers: IncomingHttpHeaders, queryKey: string | undefined): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined) {
    const space = auth.indexOf(' ');
    if (space > 0 && auth.slice(0, space).toLowerCase() === 'bearer') {
      const token = auth.slice(space + 1).trim();
      if (token !== '') return token;
    }
  }
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return apiKey;
  const goog = headers['x-goog-api-key'];
  if (typeof goog === 'string' && goog !== '') return goog;
  return queryKey !== undefined && queryKey !== '' ? queryKey : undefined;
}

export interface AuthResult {
  status: AuthStatus;
  key: ResolvedKey | null;
}

const MISSING: AuthResult = { status: 'missing', key: null };
const UNKNOWN: AuthResult = { status: 'unknown', key: null };

export function authenticate(snapshot: Snapshot, presented: string | undefined, nowMs: number): AuthResult {
  if (presented === undefined) return MISSING;
  const digest = hash('sha256', presented, 'hex');
  const key = snapshot.keysByHash.get(digest);
  if (key === undefined) return UNKNOWN;
  // The map lookup is on a digest, not the secret; compare the digests in constant time all the same.
  const stored = Buffer.from(key.hash, 'hex');
  const given = Buffer.from(digest, 'hex');
  if (stored.length !== given.length || !timingSafeEqual(stored, given)) return UNKNOWN;
  if (key.disabled) return { status: 'disabled', key };
  if (key.expiresAt !== undefined && key.expiresAt <= nowMs) return { status: 'expired', key };
  return { status: 'ok', key };
}

export { keyFacts } from '../policy/key-facts.ts';
