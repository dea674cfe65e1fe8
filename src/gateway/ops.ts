// Operational endpoints: liveness, readiness (a snapshot is active) and what policy is being served.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { SnapshotHolder } from './snapshot-holder.ts';

export interface OpsOptions {
  status?: () => Record<string, unknown>;
  registry?: Registry;
}

export function registerOps(
  app: FastifyInstance,
  holder: SnapshotHolder,
  startedAt: number,
  opts: OpsOptions = {},
): void {
  const registry = opts.registry;
  if (registry !== undefined) {
    app.get('/metrics', async (_req, reply) => {
      reply.header('content-type', registry.contentType).send(await registry.metrics());
    });
  }
  app.get('/healthz', (_req, reply) => {
    reply.send({ status: 'ok' });
  });
  app.get('/readyz', (_req, reply) => {
    const snap = holder.current();
    if (snap === undefined)
      reply.code(503).send({ status: 'not ready', reason: 'no policy snapshot is active yet' });
    else reply.send({ status: 'ready', revision: snap.revision });
  });
  app.get('/status', (_req, reply) => {
    const snap = holder.current();
    reply.send({
      status: snap === undefined ? 'not ready' : 'ready',
      startedAt: new Date(startedAt).toISOString(),
      policy:
        snap === undefined
          ? null
          : {
              revision: snap.revision,
              source: {
                dir: snap.source.dir,
                revision: snap.source.revision,
                commit: snap.source.commit ?? null,
              },
              builtAt: new Date(snap.builtAt).toISOString(),
              providers: [...snap.providers.keys()],
              keys: snap.keys.size,
            },
      ...(opts.status?.() ?? {}),
    });
  });
}
