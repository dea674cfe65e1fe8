// Static keys from git (bots, CI): hash the presented key and look the digest up in the snapshot.
// The same lookup as src/gateway/auth.ts, kept here so the identity authenticator does not depend
// on the gateway's own modules.
import { hash, timingSafeEqual } from 'node:crypto';
import type { ResolvedKey, Snapshot } from '../policy/snapshot.ts';
import type { Authenticated } from './authenticator.ts';

const UNKNOWN: Authenticated = { status: 'unknown', key: null };

export function authenticateStatic(snapshot: Snapshot, presented: string, nowMs: number): Authenticated {
  const digest = hash('sha256', presented, 'hex');
  const key: ResolvedKey | undefined = snapshot.keysByHash.get(digest);
  if (key === undefined) return UNKNOWN;
  const stored = Buffer.from(key.hash, 'hex');
  const given = Buffer.from(digest, 'hex');
  if (stored.length !== given.length || !timingSafeEqual(stored, given)) return UNKNOWN;
  if (key.disabled) return { status: 'disabled', key };
  if (key.expiresAt !== undefined && key.expiresAt <= nowMs) return { status: 'expired', key };
  return { status: 'ok', key };
}
