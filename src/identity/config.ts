// The identity part of one policy revision: its IdentityProviders, how their groups map to teams
// and roles, and the ResolvedKey a person gets from their team's `members` template. Compiled once
// per snapshot (the documents are immutable) and looked up by issuer or by name.
import { createHash } from 'node:crypto';
import type { IdentityProvider, Team } from '../policy/generated/index.ts';
import type { Principal, ResolvedKey, Snapshot } from '../policy/snapshot.ts';

export type Role = 'viewer' | 'auditor' | 'key-admin';

export interface IdpConfig {
  name: string;
  issuer: string;
  clientId: string;
  /** Audiences a token may carry to be accepted (the configured audience and the client id). */
  audiences: string[];
  acceptAccessTokens: boolean;
  scopes: string[];
  claims: { subject: string; email: string; groups: string };
  teams: { group: string; team: string }[];
  roles: { group: string; roles: Role[] }[];
  personalKeyLifetimeMs: number;
}

export interface IdentityConfig {
  providers: IdpConfig[];
  byName: ReadonlyMap<string, IdpConfig>;
  byIssuer: ReadonlyMap<string, IdpConfig>;
}

export const DEFAULT_SCOPES = ['openid', 'email', 'profile', 'offline_access'];
export const DEFAULT_LIFETIME = '12h';
export const MAX_LIFETIME_MS = 30 * 86_400_000;

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `30m`, `12h`, `7d` → milliseconds (the schema admits only these forms). */
export function parseLifetime(text: string): number {
  const m = /^([1-9][0-9]*)(m|h|d)$/.exec(text);
  if (m === null) throw new Error(`'${text}' is not a lifetime such as 30m, 12h or 7d`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

const normaliseIssuer = (issuer: string) => issuer.replace(/\/+$/, '');

const configs = new WeakMap<Snapshot, IdentityConfig>();

export function identityConfig(snapshot: Snapshot): IdentityConfig {
  let config = configs.get(snapshot);
  if (config === undefined) {
    config = compileIdentity(snapshot);
    configs.set(snapshot, config);
  }
  return config;
}

function compileIdentity(snapshot: Snapshot): IdentityConfig {
  const docs = [
    ...(snapshot.documents.get('IdentityProvider')?.values() ?? []),
  ] as unknown as IdentityProvider[];
  const providers = docs.map((d): IdpConfig => {
    const s = d.spec;
    return {
      name: d.metadata.name,
      issuer: normaliseIssuer(s.issuer),
      clientId: s.clientId,
      audiences: [...new Set([s.audience ?? s.clientId, s.clientId])],
      acceptAccessTokens: s.acceptAccessTokens ?? false,
      scopes: s.scopes ?? DEFAULT_SCOPES,
      claims: {
        subject: s.claims?.subject ?? 'sub',
        email: s.claims?.email ?? 'email',
        groups: s.claims?.groups ?? 'groups',
      },
      teams: s.teams.map((t) => ({ group: t.group, team: t.team })),
      roles: (s.roles ?? []).map((r) => ({ group: r.group, roles: [...r.roles] as Role[] })),
      personalKeyLifetimeMs: Math.min(
        parseLifetime(s.personalKeys?.lifetime ?? DEFAULT_LIFETIME),
        MAX_LIFETIME_MS,
      ),
    };
  });
  return {
    providers,
    byName: new Map(providers.map((p) => [p.name, p])),
    byIssuer: new Map(providers.map((p) => [p.issuer, p])),
  };
}

export function idpForIssuer(config: IdentityConfig, issuer: string): IdpConfig | undefined {
  return config.byIssuer.get(normaliseIssuer(issuer));
}

/** The team a person's groups map to (first mapping that matches), or undefined. */
export function teamForGroups(idp: IdpConfig, groups: readonly string[]): string | undefined {
  return idp.teams.find((t) => groups.includes(t.group))?.team;
}

export function rolesForGroups(idp: IdpConfig, groups: readonly string[]): Set<Role> {
  const roles = new Set<Role>();
  for (const r of idp.roles) if (groups.includes(r.group)) for (const role of r.roles) roles.add(role);
  // An auditor reads audit records, which carry the usage a viewer sees.
  if (roles.has('auditor')) roles.add('viewer');
  return roles;
}

/** Why a person cannot be given a team, in words they can act on. */
export function noTeamMessage(idp: IdpConfig, who: string, groups: readonly string[]): string {
  const mapped = [...new Set(idp.teams.map((t) => t.group))].join(', ');
  const have = groups.length === 0 ? 'no groups' : `groups ${groups.join(', ')}`;
  return (
    `${who} is in none of the groups that identity provider '${idp.name}' maps to a team ` +
    `(the token carries ${have}; mapped: ${mapped}). Ask to be added to one of them.`
  );
}

/** Reads a claim by name; a dotted name reaches into nested objects (`realm_access.roles`). */
export function claimValue(claims: Record<string, unknown>, name: string): unknown {
  if (name in claims) return claims[name];
  let value: unknown = claims;
  for (const part of name.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

export function groupsFromClaim(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string');
  if (typeof value === 'string' && value !== '') return value.split(/[\s,]+/).filter(Boolean);
  return [];
}

/** The stable per-person digest that budgets and rate limits count under (all of a person's keys share it). */
export function personDigest(idp: string, subject: string): string {
  return createHash('sha256').update(`portcullis-person\0${idp}\0${subject}`).digest('hex');
}

/** The key id a person's calls are counted and audited under. */
export function personKeyId(idp: string, subject: string): string {
  return `user:${idp}:${subject}`;
}

const personKeys = new WeakMap<Snapshot, Map<string, ResolvedKey>>();

/**
 * The ResolvedKey a person gets in `team` under this snapshot: the team's `members` template, with
 * limits counted per person. Cached per snapshot and principal so the hot path allocates nothing and
 * the limit planner's per-key plan is reused; undefined when the team declares no members template.
 */
export function personalKey(snapshot: Snapshot, team: string, principal: Principal): ResolvedKey | undefined {
  let cache = personKeys.get(snapshot);
  if (cache === undefined) {
    cache = new Map();
    personKeys.set(snapshot, cache);
  }
  const cacheKey = `${principal.kind}\0${principal.keyId ?? ''}\0${principal.idp}\0${principal.subject}\0${team}\0${principal.groups.join('\0')}`;
  const cached = cache.get(cacheKey);
  if (cached !== undefined) return cached;
  const resolvedTeam = snapshot.teams.get(team);
  const doc = snapshot.documents.get('Team')?.get(team) as unknown as Team | undefined;
  const members = doc?.spec.members;
  if (resolvedTeam === undefined || members === undefined) return undefined;
  const key: ResolvedKey = {
    id: personKeyId(principal.idp, principal.subject),
    hash: personDigest(principal.idp, principal.subject),
    owner: principal.email ?? principal.subject,
    team,
    teams: resolvedTeam.lineage,
    disabled: false,
    providers: members.providers ?? [],
    models: [...members.models],
    toolScope: members.toolScope,
    guardrailChain:
      members.guardrailChain ?? resolvedTeam.guardrailChain ?? snapshot.gateway.defaultGuardrailChain,
    budgets: members.budgets ?? [],
    rateLimits: members.rateLimits ?? {},
    modelRateLimits: members.modelRateLimits ?? [],
    outputCaps: members.outputCaps ?? [],
    contentLogging: members.contentLogging ?? resolvedTeam.contentLogging,
    labels: {},
    principal,
  };
  // Bounded: a snapshot lives until the next policy change; past this many people, start over.
  if (cache.size >= 100_000) cache.clear();
  cache.set(cacheKey, key);
  return key;
}
