// Budget alert delivery as a lifecycle component: the Gateway's alert channels, their secrets read
// when a policy names them (so a rotated webhook URL takes effect with the next revision), and a
// dispatcher per channel set. Alerts already queued finish on the dispatcher they were queued on.
import { Counter, type Registry, register } from 'prom-client';
import { AlertDispatcher, BudgetAlerts, resolveChannels } from '../../alerts/index.ts';
import type { GatewaySettings } from '../../policy/snapshot.ts';
import type { Component } from '../lifecycle.ts';
import type { PluginLogger } from '../plugins/limits.ts';

export interface AlertsComponent extends Component {
  /** Budget alerts for the settings in force, or undefined when no channel is declared. */
  current(settings: GatewaySettings): BudgetAlerts | undefined;
}

export interface AlertsOptions {
  logger: PluginLogger & { info(obj: object, msg: string): void };
  registry?: Registry;
  env?: NodeJS.ProcessEnv;
}

function deliveries(registry: Registry): Counter<'channel' | 'outcome'> {
  const name = 'portcullis_budget_alerts_total';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'channel' | 'outcome'>;
  return new Counter({
    name,
    help: 'Budget alert deliveries by channel and outcome (delivered, failed after retries, dropped by the storm bound).',
    labelNames: ['channel', 'outcome'],
    registers: [registry],
  });
}

export function alertsComponent(opts: AlertsOptions): AlertsComponent {
  const env = opts.env ?? process.env;
  const metric = deliveries(opts.registry ?? register);
  let current: { identity: string; alerts: BudgetAlerts; dispatcher: AlertDispatcher } | undefined;
  let problems: string[] = [];
  let closed = false;

  const build = (settings: GatewaySettings, resolved: ReturnType<typeof resolveChannels>) => {
    const { channels, problems: found } = resolved;
    problems = found.map((p) => `${p.channel}: ${p.message}`);
    for (const p of found)
      opts.logger.error({ channel: p.channel, problem: p.message }, 'alert channel unusable');
    if (channels.length === 0) return undefined;
    const dispatcher = new AlertDispatcher({
      channels,
      maxPerMinute: settings.alerts.maxPerMinute,
      onResult: (r) => {
        metric.inc({ channel: r.channel, outcome: r.outcome });
        if (r.outcome === 'delivered')
          opts.logger.info({ alert: r.alert, channel: r.channel }, 'budget alert delivered');
        else
          opts.logger.warn(
            { alert: r.alert, channel: r.channel, reason: r.reason, attempts: r.attempts },
            `budget alert ${r.outcome}`,
          );
      },
    });
    return { dispatcher, alerts: new BudgetAlerts(dispatcher) };
  };
  const apply = (settings: GatewaySettings): boolean => {
    // Secrets are read once per policy change; the channels as declared and the secrets they resolve
    // to are the identity, so a rotated secret is a change.
    const resolved = resolveChannels(settings.alerts.channels, env);
    const wanted = JSON.stringify([settings.alerts, resolved.channels]);
    if (current?.identity === wanted || (current === undefined && settings.alerts.channels.length === 0))
      return false;
    const old = current;
    const built = build(settings, resolved);
    current = built === undefined ? undefined : { identity: wanted, ...built };
    void old?.dispatcher.close();
    return true;
  };

  return {
    name: 'alerts',
    start(settings) {
      if (!closed && current === undefined) apply(settings);
    },
    current(settings) {
      if (closed) return undefined;
      if (current === undefined && settings.alerts.channels.length > 0) apply(settings);
      return current?.alerts;
    },
    async reconfigure(settings) {
      if (closed || !apply(settings)) return undefined;
      return {
        message: 'budget alert channels changed',
        detail: { alertChannels: current?.dispatcher.channels.map((c) => c.name) ?? [] },
      };
    },
    status() {
      const out: Record<string, unknown> = {
        channels: current?.dispatcher.channels.map((c) => c.name) ?? [],
      };
      if (problems.length > 0) out.error = problems.join('; ');
      return out;
    },
    async close() {
      closed = true;
      await current?.dispatcher.close();
      current = undefined;
    },
  };
}
