// The limits and audit hooks with their stores, for `portcullis serve`: composed as
// limits → (extra parts: guardrails, tool governance) → audit.
//
// The stores follow the Gateway settings of the first active snapshot: `open` them as soon as one is
// active (so a bad audit log stops the start); a gateway following a git source that starts without a
// valid revision opens them on its first call instead. A policy change of the audit sinks is applied
// at once (`applySettings`); changing `limits.store` or its Redis URL takes effect at the next
// restart, and until then `restartRequiredFor` names them (serve logs it and shows it in /status).
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import { AuditLog, type AuditRecord } from '../../audit/index.ts';
import { type CounterStore, openCounterStore } from '../../limits/index.ts';
import type { GatewaySettings, ResolvedKey, Snapshot } from '../../policy/snapshot.ts';
import type { PipelineHooks, RequestContext } from '../context.ts';
import { auditSinkConfigs, createAuditHooks } from './audit.ts';
import { composeHooks } from './compose.ts';
import { createLimitsHooks, type HookLogger, type LimitsHooks, type MeteredCall } from './limits.ts';

export interface GatewayHooksOptions {
  dataDir: string;
  registry?: Registry;
  logger: HookLogger;
  /** Recorded in audit records; `PORTCULLIS_INSTANCE`, else `<hostname>:<pid>`. */
  instance?: string;
  /** Parts run between limits and audit, in order (guardrails, tool governance). */
  extra?: PipelineHooks | PipelineHooks[];
  env?: Record<string, string | undefined>;
}

export interface GatewayHooks {
  hooks: PipelineHooks;
  /** Opens the counter store and the audit log for these settings (once; later calls do nothing). */
  open(settings: GatewaySettings): void;
  /** After the server stopped and the pipeline drained: closes the store and flushes the audit log. */
  close(): Promise<void>;
  /** Records a call that does not run through the inference pipeline (MCP); opens the log if needed. */
  appendAudit(record: AuditRecord, settings: GatewaySettings | undefined): void;
  /** Counts an MCP tool call against the key's request rate limits; opens the stores if needed. */
  meterToolCall(snapshot: Snapshot, key: ResolvedKey): Promise<MeteredCall>;
  /** The id written into every record. */
  instance: string;
  /** Settings of `settings` that differ from those the stores were opened with (they need a restart). */
  restartRequiredFor(settings: GatewaySettings | undefined): string[];
  /**
   * Applies what a new snapshot's settings change that a running gateway can switch: the audit
   * sinks. Resolves with the sinks started and stopped (none when the sinks did not change or the log
   * is not open yet); rejects, the running sinks unchanged, when a new sink cannot be created.
   */
  applySettings(settings: GatewaySettings): Promise<{ started: string[]; stopped: string[] }>;
  /** The audit sinks in use and, when the policy's current sinks could not be applied, why. */
  auditSinks(): { active: string[]; error?: string };
}

/**
 * The counter store the settings name. `PORTCULLIS_REDIS_URL`, when set, replaces the policy's Redis
 * URL (tests, operations); the store kind still comes from policy.
 */
export function counterStoreFor(
  settings: GatewaySettings,
  opts: {
    dataDir: string;
    registry?: Registry;
    logger: HookLogger;
    env?: Record<string, string | undefined>;
  },
): CounterStore {
  const env = opts.env ?? process.env;
  return openCounterStore({
    store: settings.limits.store,
    redisUrl: env.PORTCULLIS_REDIS_URL || settings.limits.redisUrl,
    dataDir: opts.dataDir,
    registry: opts.registry,
    onConnectionError: (message) =>
      opts.logger.warn({ err: message }, 'redis counter store connection error'),
  });
}

export function createGatewayHooks(opts: GatewayHooksOptions): GatewayHooks {
  const env = opts.env ?? process.env;
  const instance = opts.instance ?? (env.PORTCULLIS_INSTANCE || `${hostname()}:${process.pid}`);
  let store: CounterStore | undefined;
  let audit: AuditLog | undefined;
  let composed: PipelineHooks = {};
  let limits: LimitsHooks | undefined;
  let closed = false;
  let openedWith: GatewaySettings | undefined;
  /** The `audit.sinks` the log runs (JSON), and why the latest policy's could not be applied. */
  let sinksInUse: string | undefined;
  let sinksError: string | undefined;
  let sinkChanges: Promise<unknown> = Promise.resolve();

  const open = (settings: GatewaySettings): void => {
    if (store !== undefined) return;
    openedWith = settings;
    const s = counterStoreFor(settings, { ...opts, env });
    let log: AuditLog;
    try {
      log = AuditLog.open({
        dataDir: opts.dataDir,
        registry: opts.registry,
        logger: opts.logger,
        sinks: auditSinkConfigs(settings.audit.sinks),
        env,
      });
    } catch (err) {
      void s.close();
      throw err;
    }
    store = s;
    audit = log;
    sinksInUse = JSON.stringify(settings.audit.sinks);
    const extra = opts.extra === undefined ? [] : Array.isArray(opts.extra) ? opts.extra : [opts.extra];
    limits = createLimitsHooks({ store: s, logger: opts.logger, registry: opts.registry });
    composed = composeHooks(limits, ...extra, createAuditHooks({ log, instance, logger: opts.logger }));
  };

  const ensure = (ctx: RequestContext): PipelineHooks => {
    if (store === undefined && !closed) open(ctx.snapshot.gateway);
    return composed;
  };

  // Fixed methods (the pipeline reads its hooks once) that delegate to the composition.
  const hooks: PipelineHooks = {
    reserve: (ctx) => ensure(ctx).reserve?.(ctx),
    requestGuardrails: (ctx) => ensure(ctx).requestGuardrails?.(ctx),
    beforeForward: (ctx) => ensure(ctx).beforeForward?.(ctx),
    responseGuardrails: (ctx) => ensure(ctx).responseGuardrails?.(ctx),
    settle: (ctx) => ensure(ctx).settle?.(ctx),
    audit: (ctx) => ensure(ctx).audit?.(ctx),
  };

  return {
    hooks,
    open,
    instance,
    restartRequiredFor(settings) {
      const was = openedWith;
      if (was === undefined || settings === undefined) return [];
      const changed: string[] = [];
      if (settings.limits.store !== was.limits.store) changed.push('limits.store');
      // Named, never shown: a Redis URL may carry a password.
      if ((settings.limits.redisUrl ?? '') !== (was.limits.redisUrl ?? '')) changed.push('limits.redisUrl');
      return changed;
    },
    applySettings(settings) {
      // One after another, each compared with what the one before it left in use.
      const run = sinkChanges.then(async () => {
        const wanted = JSON.stringify(settings.audit.sinks);
        const log = audit;
        if (log === undefined) return { started: [], stopped: [] };
        if (wanted === sinksInUse) {
          sinksError = undefined;
          return { started: [], stopped: [] };
        }
        try {
          const change = await log.setSinks(auditSinkConfigs(settings.audit.sinks));
          sinksInUse = wanted;
          sinksError = undefined;
          return change;
        } catch (err) {
          sinksError = (err as Error).message;
          throw err;
        }
      });
      sinkChanges = run.catch(() => {});
      return run;
    },
    auditSinks() {
      const active = audit?.sinkNames() ?? [];
      return sinksError === undefined ? { active } : { active, error: sinksError };
    },
    async meterToolCall(snapshot, key) {
      if (limits === undefined && !closed) open(snapshot.gateway);
      if (limits === undefined) return { usage: { budgets: [], rateLimits: [] }, done() {} };
      return limits.meterToolCall(snapshot, key);
    },
    appendAudit(record, settings) {
      if (audit === undefined && settings !== undefined && !closed) open(settings);
      audit?.append(record);
    },
    async close() {
      closed = true;
      const s = store;
      const a = audit;
      store = undefined;
      audit = undefined;
      composed = {};
      limits = undefined;
      await s?.close();
      await a?.close();
    },
  };
}
