// The authenticate stage: who is calling. Authenticators are tried in order; the first that
// recognises the credential answers (a personal key, a JWT…); the virtual-key lookup is the last.
import { hash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthStatus } from '../policy/decision.ts';
import type { ResolvedKey, Snapshot } from '../policy/snapshot.ts';

export { keyFacts } from '../policy/key-facts.ts';

export interface AuthResult {
  status: AuthStatus;
  key: ResolvedKey | null;
  /** Why a person's credential was refused (`revoked`, `no_team`…; src/identity), for the policy's words. */
  reason?: string;
}

/** What a caller presented: its headers, and the `key` query parameter where the API allows one. */
export interface Credentials {
  headers: IncomingHttpHeaders;
  queryKey?: string;
}

/**
 * Recognises a kind of credential. Returns undefined for a credential it does not handle (the next
 * authenticator is asked), an AuthResult for one it does. Synchronous where it can be: a promise
 * costs every call a turn.
 */
export type Authenticator = (
  snapshot: Snapshot,
  credentials: Credentials,
  nowMs: number,
) => AuthResult | undefined | Promise<AuthResult | undefined>;

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

const MISSING: AuthResult = { status: 'missing', key: null };
const UNKNOWN: AuthResult = { status: 'unknown', key: null };

/** A known key's standing at `nowMs`: the one rule for inference, MCP and the policy replay. */
export function keyStatus(key: ResolvedKey, nowMs: number): AuthStatus {
  if (key.disabled) return 'disabled';
  if (key.expiresAt !== undefined && key.expiresAt <= nowMs) return 'expired';
  return 'ok';
}

/** The key the snapshot knows by id (the policy replay, which has ids and no secrets). */
export function authenticateKeyId(snapshot: Snapshot, keyId: string, nowMs: number): AuthResult {
  const key = snapshot.keys.get(keyId);
  return key === undefined ? UNKNOWN : { status: keyStatus(key, nowMs), key };
}

/** A presented virtual key: hashed and looked up in the snapshot. */
export function authenticate(snapshot: Snapshot, presented: string | undefined, nowMs: number): AuthResult {
  if (presented === undefined) return MISSING;
  const digest = hash('sha256', presented, 'hex');
  const key = snapshot.keysByHash.get(digest);
  if (key === undefined) return UNKNOWN;
  // The map lookup is on a digest, not the secret; compare the digests in constant time all the same.
  const stored = Buffer.from(key.hash, 'hex');
  const given = Buffer.from(digest, 'hex');
  if (stored.length !== given.length || !timingSafeEqual(stored, given)) return UNKNOWN;
  return { status: keyStatus(key, nowMs), key };
}

/** The virtual-key authenticator: always answers, so it goes last. */
export const virtualKeys: Authenticator = (snapshot, credentials, nowMs) =>
  authenticate(snapshot, presentedKey(credentials.headers, credentials.queryKey), nowMs);
