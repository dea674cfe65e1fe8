// `GET /portcullis/v1/usage`: the caller's own budgets and rate limits — spent, left, when each resets —
// for `portcullis usage` and for anyone who wants to know before the wall. The caller authenticates
// with the key it calls with; it sees only what applies to that key.
import type { FastifyInstance } from 'fastify';
import type { UsageView } from '../limits/index.ts';
import type { ResolvedKey, Snapshot } from '../policy/snapshot.ts';
import type { Pipeline } from './pipeline.ts';
import type { SnapshotHolder } from './snapshot-holder.ts';

export const USAGE_PATH = '/portcullis/v1/usage';

const AUTH_MESSAGES: Record<string, string> = {
  missing: 'Send your Portcullis key as Authorization: Bearer <key> (or x-api-key).',
  unknown: 'The key is not a valid Portcullis key.',
  expired: 'This Portcullis key has expired.',
  disabled: 'This Portcullis key has been disabled.',
};

export function registerUsage(
  app: FastifyInstance,
  holder: SnapshotHolder,
  pipeline: Pipeline,
  view: (snapshot: Snapshot, key: ResolvedKey, now: Date) => Promise<UsageView | undefined>,
): void {
  app.get(USAGE_PATH, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const snapshot = holder.current();
    if (snapshot === undefined) {
      return reply
        .code(503)
        .send({ error: { code: 'not_ready', message: 'No policy is active yet. Retry shortly.' } });
    }
    const auth = await pipeline.stages.authenticate(snapshot, { headers: request.headers }, Date.now());
    if (auth.status !== 'ok' || auth.key === null) {
      const status = auth.status === 'missing' || auth.status === 'unknown' ? 401 : 403;
      return reply.code(status).send({
        error: { code: `key_${auth.status}`, message: AUTH_MESSAGES[auth.status] ?? 'Not allowed.' },
      });
    }
    const key = auth.key;
    let usage: UsageView | undefined;
    try {
      usage = await view(snapshot, key, new Date());
    } catch {
      return reply.code(503).send({
        error: {
          code: 'limits_unavailable',
          message: 'The budget store cannot be read right now. Retry shortly.',
        },
      });
    }
    return reply.send({
      key: key.id,
      owner: key.owner,
      team: key.team,
      policyRevision: snapshot.revision,
      ...(usage ?? { budgets: [], rateLimits: [] }),
    });
  });
}
