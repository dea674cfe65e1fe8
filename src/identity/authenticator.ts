// One authenticator for every credential a caller may present: a static key from git, a personal
// key issued at sign-in, or (where the policy allows) the IdP's own JWT access token. The answer
// is synchronous for a static key and for any personal key or token seen before (cached with its
// resolution for the snapshot it was resolved under); a first sight goes to the store or the IdP.
import {
  authenticate as authenticateStatic,
  type Authenticator as GatewayAuthenticator,
  presentedKey,
} from '../gateway/authenticate.ts';
import type { AuthStatus } from '../policy/decision.ts';
import type { Principal, ResolvedKey, Snapshot } from '../policy/snapshot.ts';
import { identityConfig, personalKey, personDigest, personKeyId, teamForGroups } from './config.ts';
import { looksLikeJwt, TokenError, type TokenVerifier, type VerifiedPerson } from './jwt.ts';
import { hashKey, PERSONAL_KEY_PREFIX, type PersonalKeyRecord, type PersonalKeyStore } from './key-store.ts';

export interface Authenticated {
  status: AuthStatus;
  key: ResolvedKey | null;
  /** Why a person was refused (`revoked`, `no_team`, `idp_removed`, `idp_unavailable`), for the policy's message. */
  reason?: string;
}

export interface Authenticator {
  authenticate(
    snapshot: Snapshot,
    presented: string | undefined,
    nowMs: number,
  ): Authenticated | Promise<Authenticated>;
}

const MISSING: Authenticated = { status: 'missing', key: null };
const UNKNOWN: Authenticated = { status: 'unknown', key: null };
/** How often each replica checks the store's revocation epoch (pub/sub, where there is one, is faster). */
export const REVOCATION_POLL_MS = 500;
const LAST_USE_FLUSH_MS = 5_000;
const MAX_CACHED = 50_000;

interface CachedPersonal {
  record: PersonalKeyRecord;
  snapshot: Snapshot;
  result: Authenticated;
}

interface CachedToken {
  person: VerifiedPerson;
  snapshot: Snapshot;
  result: Authenticated;
}

export interface IdentityAuthenticatorOptions {
  /** The store in use (it follows policy changes); undefined until one is open. */
  store: () => PersonalKeyStore | undefined;
  verifier: TokenVerifier;
  onError?: (message: string) => void;
}

export class IdentityAuthenticator implements Authenticator {
  readonly #opts: IdentityAuthenticatorOptions;
  readonly #personal = new Map<string, CachedPersonal>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #uses = new Map<string, number>();
  #epoch = -1;
  #watched: PersonalKeyStore | undefined;
  readonly #poll: NodeJS.Timeout;
  readonly #flush: NodeJS.Timeout;

  constructor(opts: IdentityAuthenticatorOptions) {
    this.#opts = opts;
    this.#poll = setInterval(() => void this.checkRevocations(), REVOCATION_POLL_MS);
    this.#poll.unref();
    this.#flush = setInterval(() => void this.flushLastUse(), LAST_USE_FLUSH_MS);
    this.#flush.unref();
  }

  /** Any credential: a person's (personal key, accepted IdP token) or a static key from git. */
  authenticate(
    snapshot: Snapshot,
    presented: string | undefined,
    nowMs: number,
  ): Authenticated | Promise<Authenticated> {
    if (presented === undefined) return MISSING;
    return this.person(snapshot, presented, nowMs) ?? authenticateStatic(snapshot, presented, nowMs);
  }

  /** A person's credential, or undefined when `presented` is not one (a static key, say). */
  person(
    snapshot: Snapshot,
    presented: string,
    nowMs: number,
  ): Authenticated | Promise<Authenticated> | undefined {
    if (presented.startsWith(PERSONAL_KEY_PREFIX)) return this.#personalKey(snapshot, presented, nowMs);
    if (looksLikeJwt(presented) && !snapshot.keysByHash.has(hashKey(presented))) {
      return this.#token(snapshot, presented, nowMs);
    }
    return undefined;
  }

  /** The gateway pipeline's seam: answers for people, leaves static keys to the virtual-key lookup. */
  readonly gatewayAuthenticator: GatewayAuthenticator = (snapshot, credentials, nowMs) => {
    const presented = presentedKey(credentials.headers, credentials.queryKey);
    return presented === undefined ? undefined : this.person(snapshot, presented, nowMs);
  };

  #personalKey(snapshot: Snapshot, presented: string, nowMs: number): Authenticated | Promise<Authenticated> {
    const hash = hashKey(presented);
    const hit = this.#personal.get(hash);
    if (hit !== undefined && hit.snapshot === snapshot && hit.record.expiresAt > nowMs) {
      if (hit.result.status === 'ok') this.#uses.set(hash, nowMs);
      return hit.result;
    }
    const store = this.#opts.store();
    if (store === undefined) return UNKNOWN;
    return store.byHash(hash).then(
      (record) => {
        if (record === undefined) return UNKNOWN;
        const result = resolvePersonalRecord(snapshot, record, nowMs);
        if (this.#personal.size >= MAX_CACHED) this.#personal.clear();
        this.#personal.set(hash, { record, snapshot, result });
        if (result.status === 'ok') this.#uses.set(hash, nowMs);
        return result;
      },
      (err: Error) => {
        this.#opts.onError?.(`personal key store: ${err.message}`);
        return { status: 'unknown', key: null, reason: 'store_unavailable' };
      },
    );
  }

  #token(snapshot: Snapshot, token: string, nowMs: number): Authenticated | Promise<Authenticated> {
    const config = identityConfig(snapshot);
    if (!config.providers.some((p) => p.acceptAccessTokens)) return UNKNOWN;
    const digest = hashKey(token);
    const hit = this.#tokens.get(digest);
    if (hit !== undefined && hit.snapshot === snapshot && hit.person.expiresAt > nowMs) return hit.result;
    return this.#opts.verifier
      .verify(token, config, (idp) => (idp.acceptAccessTokens ? [idp.audiences[0]] : []))
      .then(
        (person) => {
          const result = resolvePerson(snapshot, person, 'jwt', undefined);
          if (this.#tokens.size >= MAX_CACHED) this.#tokens.clear();
          this.#tokens.set(digest, { person, snapshot, result });
          return result;
        },
        (err: unknown) => {
          if (err instanceof TokenError && err.kind === 'idp_unavailable') {
            this.#opts.onError?.(err.message);
            return { status: 'unknown', key: null, reason: 'idp_unavailable' };
          }
          if (err instanceof TokenError && /expired/.test(err.message))
            return { status: 'expired', key: null };
          return UNKNOWN;
        },
      );
  }

  /** Drops every cached personal key when any replica has revoked one since the last look. */
  async checkRevocations(): Promise<void> {
    const store = this.#opts.store();
    if (store === undefined) return;
    if (store !== this.#watched) {
      this.#watched = store;
      this.#epoch = -1;
      store.onRevoked?.(() => this.#personal.clear());
    }
    try {
      const epoch = await store.revocationEpoch();
      if (epoch !== this.#epoch) {
        this.#epoch = epoch;
        this.#personal.clear();
      }
    } catch (err) {
      this.#opts.onError?.(`personal key store: ${(err as Error).message}`);
    }
  }

  /** Forgets cached resolutions now (this replica revoked something). */
  forget(): void {
    this.#personal.clear();
  }

  async flushLastUse(): Promise<void> {
    const store = this.#opts.store();
    if (store === undefined || this.#uses.size === 0) return;
    const uses = new Map(this.#uses);
    this.#uses.clear();
    try {
      await store.touch(uses);
    } catch (err) {
      this.#opts.onError?.(`personal key store: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#poll);
    clearInterval(this.#flush);
    await this.flushLastUse();
  }
}

/** A personal key's record under one snapshot: refused (with why) or the person's ResolvedKey. */
export function resolvePersonalRecord(
  snapshot: Snapshot,
  record: PersonalKeyRecord,
  nowMs: number,
): Authenticated {
  const principal: Principal = {
    kind: 'personal',
    idp: record.idp,
    subject: record.subject,
    groups: record.groups,
    keyId: record.id,
    ...(record.email !== undefined ? { email: record.email } : {}),
  };
  if (record.revokedAt !== undefined)
    return { status: 'disabled', key: refusedPerson(principal), reason: 'revoked' };
  if (record.expiresAt <= nowMs) return { status: 'expired', key: refusedPerson(principal) };
  return resolvePrincipal(snapshot, principal);
}

function resolvePerson(
  snapshot: Snapshot,
  person: VerifiedPerson,
  kind: 'jwt',
  keyId: undefined,
): Authenticated {
  const principal: Principal = {
    kind,
    idp: person.idp.name,
    subject: person.subject,
    groups: person.groups,
    ...(keyId !== undefined ? { keyId } : {}),
    ...(person.email !== undefined ? { email: person.email } : {}),
  };
  return resolvePrincipal(snapshot, principal);
}

function resolvePrincipal(snapshot: Snapshot, principal: Principal): Authenticated {
  const idp = identityConfig(snapshot).byName.get(principal.idp);
  if (idp === undefined) return { status: 'disabled', key: refusedPerson(principal), reason: 'idp_removed' };
  const team = teamForGroups(idp, principal.groups);
  const key = team === undefined ? undefined : personalKey(snapshot, team, principal);
  if (key === undefined) return { status: 'disabled', key: refusedPerson(principal), reason: 'no_team' };
  return { status: 'ok', key };
}

/** Enough of a key for the policy to name who was refused; it can never be allowed (no team, no models). */
function refusedPerson(principal: Principal): ResolvedKey {
  return {
    id: personKeyId(principal.idp, principal.subject),
    hash: personDigest(principal.idp, principal.subject),
    owner: principal.email ?? principal.subject,
    team: '',
    teams: [],
    disabled: true,
    providers: [],
    models: [],
    budgets: [],
    rateLimits: {},
    modelRateLimits: [],
    outputCaps: [],
    contentLogging: false,
    labels: {},
    principal,
  };
}
