// Reload metrics on the registry the caller passes; reuses metrics already registered there so two
// managers (or a restart in tests) on one registry do not collide.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface SyncMetrics {
  reloads: Counter<'result'>;
  failures: Counter<'reason'>;
  duration: Histogram<'result'>;
  activeRevision: Gauge<'revision'>;
}

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function syncMetrics(registry: Registry): SyncMetrics {
  const registers = [registry];
  return {
    reloads: reuse(
      registry,
      'portcullis_policy_reloads_total',
      () =>
        new Counter({
          name: 'portcullis_policy_reloads_total',
          help: 'Policy revisions built and checked, by result (activated, rejected, error).',
          labelNames: ['result'],
          registers,
        }),
    ),
    failures: reuse(
      registry,
      'portcullis_policy_reload_failures_total',
      () =>
        new Counter({
          name: 'portcullis_policy_reload_failures_total',
          help: 'Failed policy syncs, by reason (invalid, unsigned, fetch, error).',
          labelNames: ['reason'],
          registers,
        }),
    ),
    duration: reuse(
      registry,
      'portcullis_policy_reload_duration_seconds',
      () =>
        new Histogram({
          name: 'portcullis_policy_reload_duration_seconds',
          help: 'Time from checkout to an activated or rejected snapshot.',
          labelNames: ['result'],
          buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
          registers,
        }),
    ),
    activeRevision: reuse(
      registry,
      'portcullis_policy_active_revision_info',
      () =>
        new Gauge({
          name: 'portcullis_policy_active_revision_info',
          help: 'The policy revision serving traffic (value 1).',
          labelNames: ['revision'],
          registers,
        }),
    ),
  };
}
