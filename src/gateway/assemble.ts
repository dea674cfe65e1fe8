// The plugins and components `portcullis serve` runs, assembled: limits → (extra plugins: guardrails,
// later identity, metrics…) → audit, over a counter store and an audit log that follow the policy.
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { UsageView } from '../limits/index.ts';
import type { GatewaySettings, ResolvedKey, Snapshot } from '../policy/snapshot.ts';
import { type AlertsComponent, alertsComponent } from './components/alerts.ts';
import { type AuditLogComponent, auditLogComponent } from './components/audit-log.ts';
import {
  type CounterStoreComponent,
  type CounterStoreOptions,
  counterStoreComponent,
} from './components/counter-store.ts';
import { Lifecycle, type LifecycleLogger } from './lifecycle.ts';
import type { Plugin } from './plugin.ts';
import { createAuditPlugin } from './plugins/audit.ts';
import { createLimitsPlugin, type PluginLogger } from './plugins/limits.ts';

export interface GatewayPluginsOptions {
  dataDir: string;
  registry?: Registry;
  logger: PluginLogger & LifecycleLogger;
  /** Recorded in audit records; `PORTCULLIS_INSTANCE`, else `<hostname>:<pid>`. */
  instance?: string;
  /** Plugins run between limits and audit, in order (guardrails…). */
  extra?: readonly Plugin[];
  env?: Record<string, string | undefined>;
  /** Opens the counter store in place of the policy's own (see CounterStoreOptions.openStore). */
  openStore?: CounterStoreOptions['openStore'];
  /** The audit log records go to, in place of `<dataDir>/audit.db` opened here (a cluster worker's). */
  auditLog?: AuditLogComponent;
  /** A component switch that failed is tried again after this long (default PORTCULLIS_SETTINGS_RETRY_MS, else 30 s). */
  retryMs?: number;
}

export interface GatewayPlugins {
  plugins: Plugin[];
  lifecycle: Lifecycle;
  counterStore: CounterStoreComponent;
  auditLog: AuditLogComponent;
  alerts: AlertsComponent;
  /** The id written into every record. */
  instance: string;
  /** A key's own view of its budgets and rate limits (`GET /portcullis/v1/usage`). */
  usageView(snapshot: Snapshot, key: ResolvedKey, now: Date): Promise<UsageView | undefined>;
}

export function createGatewayPlugins(opts: GatewayPluginsOptions): GatewayPlugins {
  const env = opts.env ?? process.env;
  const instance = opts.instance ?? (env.PORTCULLIS_INSTANCE || `${hostname()}:${process.pid}`);
  const counterStore = counterStoreComponent({
    dataDir: opts.dataDir,
    registry: opts.registry,
    logger: opts.logger,
    env,
    openStore: opts.openStore,
    drained: (store) => limits.drained(store),
  });
  const auditLog =
    opts.auditLog ??
    auditLogComponent({
      dataDir: opts.dataDir,
      registry: opts.registry,
      logger: opts.logger,
      env,
    });
  const alerts = alertsComponent({ logger: opts.logger, registry: opts.registry, env });
  const lifecycle = new Lifecycle([counterStore, auditLog, alerts], {
    logger: opts.logger,
    retryMs: opts.retryMs ?? (Number(env.PORTCULLIS_SETTINGS_RETRY_MS) || 30_000),
  });
  // A gateway following a git source may start before any policy: the first call opens the stores.
  const ensure = (settings: GatewaySettings): void => {
    if (!lifecycle.started) lifecycle.start(settings);
  };
  const limits = createLimitsPlugin({
    store: (settings) => {
      ensure(settings);
      return counterStore.current(settings);
    },
    logger: opts.logger,
    registry: opts.registry,
    alerts: (settings) => alerts.current(settings),
  });
  const audit = createAuditPlugin({
    log: (settings) => {
      ensure(settings);
      return auditLog.current();
    },
    instance,
    logger: opts.logger,
  });
  return {
    plugins: [limits, ...(opts.extra ?? []), audit],
    lifecycle,
    counterStore,
    auditLog,
    alerts,
    instance,
    usageView: (snapshot, key, now) => limits.usageView(snapshot, key, now),
  };
}
