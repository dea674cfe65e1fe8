// The audit log as a lifecycle component: opened with the first policy (a log that cannot open stops
// the start), its sinks switched when a later policy changes `audit.sinks` (AuditLog.setSinks).
import type { Registry } from 'prom-client';
import { AuditLog } from '../../audit/index.ts';
import type { GatewaySettings } from '../../policy/snapshot.ts';
import type { Component } from '../lifecycle.ts';
import { type AuditAppender, auditSinkConfigs } from '../plugins/audit.ts';
import type { PluginLogger } from '../plugins/limits.ts';

export interface AuditLogOptions {
  dataDir: string;
  registry?: Registry;
  logger: PluginLogger;
  env?: Record<string, string | undefined>;
}

export interface AuditLogComponent extends Component {
  /** The open log, opened from `settings` when given and nothing is open yet. */
  current(settings?: GatewaySettings): AuditAppender | undefined;
  /**
   * Takes a dead cluster worker's journal into the open log (AuditLog.recoverJournal); false, and
   * the journal left for later, while no log is open.
   */
  recoverJournal?(dir: string): Promise<boolean>;
}

export function auditLogComponent(opts: AuditLogOptions): AuditLogComponent {
  let log: AuditLog | undefined;
  let inUse: string | undefined;
  let closed = false;

  const start = (settings: GatewaySettings): void => {
    if (log !== undefined || closed) return;
    log = AuditLog.open({
      dataDir: opts.dataDir,
      registry: opts.registry,
      logger: opts.logger,
      sinks: auditSinkConfigs(settings.audit.sinks),
      env: opts.env ?? process.env,
    });
    inUse = JSON.stringify(settings.audit.sinks);
  };

  return {
    name: 'auditSinks',
    start,
    current(settings) {
      if (log === undefined && settings !== undefined) start(settings);
      return log;
    },
    async reconfigure(settings) {
      const wanted = JSON.stringify(settings.audit.sinks);
      if (log === undefined || wanted === inUse) return undefined;
      const change = await log.setSinks(auditSinkConfigs(settings.audit.sinks));
      inUse = wanted;
      if (change.started.length === 0 && change.stopped.length === 0) return undefined;
      return { message: 'audit sinks follow the new policy', detail: change };
    },
    status() {
      return { active: log?.sinkNames() ?? [] };
    },
    async recoverJournal(dir) {
      if (log === undefined) return false;
      await log.recoverJournal(dir);
      return true;
    },
    async close() {
      closed = true;
      const l = log;
      log = undefined;
      await l?.close();
    },
  };
}
