// The identity part of the gateway's HTTP API:
//   GET  /identity/config        which IdPs to sign in with (public: the CLI starts here)
//   POST /identity/keys          exchange an IdP token for a personal key
//   GET  /identity/whoami        the caller, their team and roles
//   GET  /identity/keys          personal keys (key-admin: everyone's; others: their own)
//   POST /identity/keys/revoke   by key, user or group (key-admin; anyone for their own keys)
//   GET  /identity/audit         audit records (auditor)
//   GET  /identity/usage         spend and calls by person, key or team (viewer)
// Roles come from IdP groups through the policy; static keys (bots) hold no roles.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseTimeArg } from '../audit/query.ts';
import type { AuditOutcome, AuditRecord } from '../audit/record.ts';
import { type AuditFilter, AuditStore } from '../audit/store.ts';
import type { Principal, Snapshot } from '../policy/snapshot.ts';
import { identityConfig, noTeamMessage, type Role, rolesForGroups, teamForGroups } from './config.ts';
import { TokenError } from './jwt.ts';
import {
  hashKey,
  mintPersonalKey,
  type PersonalKeyRecord,
  publicRecord,
  type RevokeSelector,
} from './key-store.ts';
import type { IdentityService } from './service.ts';

export interface IdentityRoutesOptions {
  service: IdentityService;
  getSnapshot: () => Snapshot | undefined;
}

interface Caller {
  principal: Principal;
  roles: Set<Role>;
  team: string;
}

function bearer(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  return m?.[1];
}

/** The gateway reads every body as raw bytes (for the inference routes); these routes take JSON objects. */
function jsonBody(request: FastifyRequest): Record<string, unknown> {
  const raw = request.body;
  if (raw === undefined || raw === null) return {};
  try {
    const value = Buffer.isBuffer(raw) ? (raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'))) : raw;
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function problem(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ error: { code, message } });
}

export async function registerIdentityRoutes(
  app: FastifyInstance,
  opts: IdentityRoutesOptions,
): Promise<void> {
  const { service, getSnapshot } = opts;

  const snapshotOr503 = (reply: FastifyReply): Snapshot | undefined => {
    const snap = getSnapshot();
    if (snap === undefined) problem(reply, 503, 'not_ready', 'No policy is active yet.');
    return snap;
  };

  /** The signed-in person behind the request (personal key or accepted IdP token), or a reply sent. */
  const callerOf = async (request: FastifyRequest, reply: FastifyReply): Promise<Caller | undefined> => {
    const snap = snapshotOr503(reply);
    if (snap === undefined) return undefined;
    const auth = await service.authenticator.authenticate(snap, bearer(request), Date.now());
    if (auth.status !== 'ok' || auth.key === null) {
      const why =
        auth.status === 'missing'
          ? 'Sign in first: portcullis login.'
          : `Your credential was refused (${auth.reason ?? auth.status}). Run portcullis login.`;
      problem(reply, 401, `key_${auth.status}`, why);
      return undefined;
    }
    const principal = auth.key.principal;
    if (principal === undefined) {
      problem(
        reply,
        403,
        'person_required',
        'This API answers people signed in through single sign-on, not static keys.',
      );
      return undefined;
    }
    const idp = identityConfig(snap).byName.get(principal.idp);
    return {
      principal,
      roles: idp === undefined ? new Set() : rolesForGroups(idp, principal.groups),
      team: auth.key.team,
    };
  };

  const requireRole = (caller: Caller, role: Role, reply: FastifyReply): boolean => {
    if (caller.roles.has(role)) return true;
    problem(
      reply,
      403,
      'role_required',
      `This needs the '${role}' role, which the policy grants through identity provider groups; ` +
        `${caller.principal.email ?? caller.principal.subject} has ${[...caller.roles].join(', ') || 'none'}.`,
    );
    return false;
  };

  app.get('/identity/config', async (_request, reply) => {
    const snap = snapshotOr503(reply);
    if (snap === undefined) return reply;
    return {
      providers: identityConfig(snap).providers.map((p) => ({
        name: p.name,
        issuer: p.issuer,
        clientId: p.clientId,
        scopes: p.scopes,
        audience: p.audiences[0],
      })),
    };
  });

  app.post('/identity/keys', async (request, reply) => {
    const snap = snapshotOr503(reply);
    if (snap === undefined) return reply;
    const token = bearer(request);
    if (token === undefined) {
      return problem(
        reply,
        401,
        'token_missing',
        'Send the ID token from your sign-in as Authorization: Bearer.',
      );
    }
    const store = service.store;
    if (store === undefined)
      return problem(reply, 503, 'store_unavailable', 'The personal key store is not open.');
    const config = identityConfig(snap);
    let person: Awaited<ReturnType<typeof service.verifier.verify>>;
    try {
      person = await service.verifier.verify(token, config);
    } catch (err) {
      if (err instanceof TokenError && err.kind === 'idp_unavailable') {
        return problem(
          reply,
          503,
          'idp_unavailable',
          `The identity provider cannot be reached to check your sign-in (${err.message}). ` +
            'Keys you already hold keep working until they expire; try signing in again later.',
        );
      }
      return problem(reply, 401, 'token_invalid', `Sign-in refused: ${(err as Error).message}.`);
    }
    const who = person.email ?? person.subject;
    const team = teamForGroups(person.idp, person.groups);
    if (team === undefined) {
      return problem(reply, 403, 'no_team', noTeamMessage(person.idp, who, person.groups));
    }
    const body = jsonBody(request);
    const label = typeof body.label === 'string' ? body.label.slice(0, 200) : undefined;
    const now = Date.now();
    const { key, id } = mintPersonalKey();
    const record: PersonalKeyRecord = {
      id,
      hash: hashKey(key),
      idp: person.idp.name,
      subject: person.subject,
      ...(person.email !== undefined ? { email: person.email } : {}),
      groups: person.groups,
      ...(label !== undefined ? { label } : {}),
      createdAt: now,
      expiresAt: now + person.idp.personalKeyLifetimeMs,
    };
    try {
      await store.insert(record);
    } catch (err) {
      return problem(
        reply,
        503,
        'store_unavailable',
        `The personal key could not be stored: ${(err as Error).message}`,
      );
    }
    request.log.info(
      { keyId: id, subject: person.subject, idp: person.idp.name, team },
      'personal key issued',
    );
    return reply.code(201).send({
      key,
      keyId: id,
      expiresAt: new Date(record.expiresAt).toISOString(),
      team,
      subject: person.subject,
      email: person.email ?? null,
      groups: person.groups,
      idp: person.idp.name,
      roles: [...rolesForGroups(person.idp, person.groups)],
    });
  });

  app.get('/identity/whoami', async (request, reply) => {
    const caller = await callerOf(request, reply);
    if (caller === undefined) return reply;
    const { principal } = caller;
    return {
      kind: principal.kind,
      idp: principal.idp,
      subject: principal.subject,
      email: principal.email ?? null,
      groups: principal.groups,
      team: caller.team,
      roles: [...caller.roles],
      keyId: principal.keyId ?? null,
    };
  });

  app.get('/identity/keys', async (request, reply) => {
    const caller = await callerOf(request, reply);
    if (caller === undefined) return reply;
    const q = request.query as Record<string, string | undefined>;
    const admin = caller.roles.has('key-admin');
    if (!admin && q.subject !== undefined && q.subject !== caller.principal.subject) {
      if (!requireRole(caller, 'key-admin', reply)) return reply;
    }
    const store = service.store;
    if (store === undefined)
      return problem(reply, 503, 'store_unavailable', 'The personal key store is not open.');
    const keys = await store.list(
      {
        subject: admin ? q.subject : caller.principal.subject,
        group: admin ? q.group : undefined,
        all: q.all === 'true',
      },
      Date.now(),
    );
    return { keys: keys.map(publicRecord) };
  });

  app.post('/identity/keys/revoke', async (request, reply) => {
    const caller = await callerOf(request, reply);
    if (caller === undefined) return reply;
    const body = jsonBody(request);
    const named = ['keyId', 'subject', 'group'].filter((f) => typeof body[f] === 'string' && body[f] !== '');
    if (named.length !== 1) {
      return problem(reply, 400, 'bad_request', 'Name exactly one of keyId, subject or group.');
    }
    const selector = { [named[0]]: body[named[0]] } as RevokeSelector;
    const store = service.store;
    if (store === undefined)
      return problem(reply, 503, 'store_unavailable', 'The personal key store is not open.');
    const own =
      ('subject' in selector && selector.subject === caller.principal.subject) ||
      ('keyId' in selector &&
        (await store.list({ subject: caller.principal.subject, all: true }, Date.now())).some(
          (r) => r.id === selector.keyId,
        ));
    if (!own && !requireRole(caller, 'key-admin', reply)) return reply;
    const by = caller.principal.email ?? caller.principal.subject;
    const revoked = await store.revoke(selector, by, Date.now());
    service.authenticator.forget();
    request.log.info({ selector, by, count: revoked.length }, 'personal keys revoked');
    return { revoked: revoked.map(publicRecord) };
  });

  const auditStoreAt = (): AuditStore | undefined => {
    const path = join(service.dataDir, 'audit.db');
    return existsSync(path) ? new AuditStore(path, { readOnly: true }) : undefined;
  };

  app.get('/identity/audit', async (request, reply) => {
    const caller = await callerOf(request, reply);
    if (caller === undefined || !requireRole(caller, 'auditor', reply)) return reply;
    let filter: AuditFilter;
    try {
      filter = auditFilter(request.query as Record<string, string | undefined>);
    } catch (err) {
      return problem(reply, 400, 'bad_request', (err as Error).message);
    }
    const store = auditStoreAt();
    if (store === undefined) return { entries: [] };
    try {
      const entries = store
        .query(filter)
        .map((e) => ({ seq: e.seq, prevHash: e.prevHash, hash: e.hash, record: JSON.parse(e.json) }));
      request.log.info(
        { by: caller.principal.subject, count: entries.length },
        'audit records read over HTTP',
      );
      return { entries };
    } finally {
      store.close();
    }
  });

  app.get('/identity/usage', async (request, reply) => {
    const caller = await callerOf(request, reply);
    if (caller === undefined || !requireRole(caller, 'viewer', reply)) return reply;
    const q = request.query as Record<string, string | undefined>;
    const by = q.by ?? 'person';
    if (!['person', 'key', 'team', 'model'].includes(by)) {
      return problem(reply, 400, 'bad_request', 'by must be person, key, team or model.');
    }
    let sinceMs: number;
    try {
      sinceMs = parseTimeArg(q.since ?? '30d');
    } catch (err) {
      return problem(reply, 400, 'bad_request', (err as Error).message);
    }
    const store = auditStoreAt();
    if (store === undefined) return { since: new Date(sinceMs).toISOString(), by, rows: [] };
    try {
      const rows = new Map<
        string,
        { calls: number; denied: number; costUsd: number; inputTokens: number; outputTokens: number }
      >();
      for (const entry of store.query({ sinceMs, order: 'asc' })) {
        const r = JSON.parse(entry.json) as AuditRecord;
        const name = usageGroup(r, by);
        const row = rows.get(name) ?? { calls: 0, denied: 0, costUsd: 0, inputTokens: 0, outputTokens: 0 };
        row.calls += 1;
        if (r.outcome === 'denied' || r.outcome === 'blocked') row.denied += 1;
        row.costUsd += r.costUsd;
        row.inputTokens += r.tokens.input;
        row.outputTokens += r.tokens.output;
        rows.set(name, row);
      }
      return {
        since: new Date(sinceMs).toISOString(),
        by,
        rows: [...rows].map(([name, row]) => ({ name, ...row })).sort((a, b) => b.costUsd - a.costUsd),
      };
    } finally {
      store.close();
    }
  });
}

function usageGroup(r: AuditRecord, by: string): string {
  switch (by) {
    case 'key':
      return r.keyId ?? '-';
    case 'team':
      return r.team ?? '-';
    case 'model':
      return r.model;
    default:
      return r.person?.email ?? r.person?.subject ?? r.owner ?? r.keyId ?? '-';
  }
}

const OUTCOMES = new Set<AuditOutcome>(['allowed', 'denied', 'blocked', 'aborted', 'error']);

function auditFilter(q: Record<string, string | undefined>): AuditFilter {
  const f: AuditFilter = { limit: 100 };
  if (q.key) f.keyId = q.key;
  if (q.team) f.team = q.team;
  if (q.owner) f.owner = q.owner;
  if (q.provider) f.provider = q.provider;
  if (q.model) f.model = q.model;
  if (q.decision) f.decisionCode = q.decision;
  if (q.request) f.requestId = q.request;
  if (q.outcome) {
    if (!OUTCOMES.has(q.outcome as AuditOutcome))
      throw new Error(`outcome must be one of ${[...OUTCOMES].join(', ')}`);
    f.outcome = q.outcome as AuditOutcome;
  }
  if (q.since) f.sinceMs = parseTimeArg(q.since);
  if (q.until) f.untilMs = parseTimeArg(q.until);
  if (q.limit) {
    const n = Number(q.limit);
    if (!Number.isInteger(n) || n < 0) throw new Error('limit must be a whole number');
    if (n === 0) delete f.limit;
    else f.limit = n;
  }
  if (q.order === 'asc') f.order = 'asc';
  return f;
}

export const DEFAULT_KEY_LABEL = hostname();
