// The limits and audit hooks with their stores, for `portcullis serve`: composed as
// limits → (extra parts: guardrails, tool governance) → audit.
//
// The stores follow the Gateway settings of the first active snapshot: `open` them as soon as one is
// active (so a bad audit log stops the start); a gateway following a git source that starts without a
// valid revision opens them on its first call instead. Later snapshots switch them while the gateway
// runs (`applySettings`): another counter store or Redis URL takes the next calls while calls in
// flight settle in the store they reserved in, which closes once they have; the audit sinks switch
// as AuditLog.setSinks describes.
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
  /**
   * Switches the running stores to a new snapshot's settings: the counter store (`limits.store`, its
   * Redis URL) and the audit sinks. Nothing happens before the stores are open or for settings that
   * did not change. A part that cannot be switched (the new store or a new sink cannot be created)
   * keeps running as it was; the reason is in `errors` and in `stores()` until a later snapshot
   * switches it.
   */
  applySettings(settings: GatewaySettings): Promise<SettingsSwitch>;
  /** What runs now, for /status, with why the latest settings could not be applied where they were not. */
  stores(): {
    counterStore: { kind: CounterStore['kind'] | null; error?: string };
    auditSinks: { active: string[]; error?: string };
  };
}

export interface SettingsSwitch {
  /** The kind of the counter store now taking calls, when it was switched. */
  counterStore?: CounterStore['kind'];
  sinks: { started: string[]; stopped: string[] };
  errors: string[];
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

/** How long a counter store a policy switches to may take to connect before the switch is given up. */
const STORE_CONNECT_TIMEOUT_MS = 5_000;

export function createGatewayHooks(opts: GatewayHooksOptions): GatewayHooks {
  const env = opts.env ?? process.env;
  const instance = opts.instance ?? (env.PORTCULLIS_INSTANCE || `${hostname()}:${process.pid}`);
  const extra = opts.extra === undefined ? [] : Array.isArray(opts.extra) ? opts.extra : [opts.extra];
  let store: CounterStore | undefined;
  let audit: AuditLog | undefined;
  let auditHooks: PipelineHooks = {};
  let composed: PipelineHooks = {};
  let limits: LimitsHooks | undefined;
  let closed = false;
  /** What the running stores were built from, to tell a change; errors of the latest switch. */
  let storeInUse: string | undefined;
  let storeError: string | undefined;
  let sinksInUse: string | undefined;
  let sinksError: string | undefined;
  /** Stores replaced by a policy change, each closing once the calls that reserved in it settled. */
  const retiring = new Map<CounterStore, Promise<void>>();
  let switches: Promise<unknown> = Promise.resolve();

  // PORTCULLIS_REDIS_URL, when set, is the URL whatever the policy says (see counterStoreFor).
  const storeIdentity = (settings: GatewaySettings) =>
    JSON.stringify([settings.limits.store, env.PORTCULLIS_REDIS_URL || settings.limits.redisUrl || '']);

  const useStore = (s: CounterStore): void => {
    store = s;
    limits = createLimitsHooks({ store: s, logger: opts.logger, registry: opts.registry });
    composed = composeHooks(limits, ...extra, auditHooks);
  };

  const open = (settings: GatewaySettings): void => {
    if (store !== undefined) return;
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
    audit = log;
    auditHooks = createAuditHooks({ log, instance, logger: opts.logger });
    useStore(s);
    storeInUse = storeIdentity(settings);
    sinksInUse = JSON.stringify(settings.audit.sinks);
  };

  /** Switches the counter store when the settings name another; its kind when it did. Throws when it cannot. */
  const switchStore = async (settings: GatewaySettings): Promise<CounterStore['kind'] | undefined> => {
    const wanted = storeIdentity(settings);
    if (wanted === storeInUse) return undefined;
    // One process opens a SQLite file once: a SQLite store still settling its last calls closes first.
    if (settings.limits.store === 'sqlite') await Promise.all(retiring.values());
    if (closed) return undefined;
    const next = counterStoreFor(settings, { ...opts, env });
    // A Redis that does not answer would refuse every call (failMode closed) or admit them unchecked
    // (open): the running store keeps the calls until the new one is connected.
    try {
      await next.ready?.(STORE_CONNECT_TIMEOUT_MS);
    } catch (err) {
      await next.close();
      throw new Error(
        `the ${next.kind} counter store did not connect within ${STORE_CONNECT_TIMEOUT_MS / 1000} s; the running one keeps counting`,
        { cause: err },
      );
    }
    if (closed) {
      await next.close();
      return undefined;
    }
    const old = { store: store!, limits: limits! };
    useStore(next);
    storeInUse = wanted;
    const retired: Promise<void> = old.limits
      .drained()
      .then(() => old.store.close())
      .catch((err: unknown) =>
        opts.logger.error({ err: (err as Error).message }, 'closing the replaced counter store failed'),
      )
      .finally(() => retiring.delete(old.store));
    retiring.set(old.store, retired);
    return next.kind;
  };

  /** Switches the audit sinks when the settings name others; what started and stopped. Throws when it cannot. */
  const switchSinks = async (settings: GatewaySettings) => {
    const wanted = JSON.stringify(settings.audit.sinks);
    if (wanted === sinksInUse) return { started: [], stopped: [] };
    const change = await audit!.setSinks(auditSinkConfigs(settings.audit.sinks));
    sinksInUse = wanted;
    return change;
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
    applySettings(settings) {
      // One after another, each compared with what the one before it left running.
      const run = switches.then(async (): Promise<SettingsSwitch> => {
        const result: SettingsSwitch = { sinks: { started: [], stopped: [] }, errors: [] };
        if (store === undefined || closed) return result;
        // Each part's error stays (for /status) until a later call switches it or finds it in place.
        try {
          result.counterStore = await switchStore(settings);
          storeError = undefined;
        } catch (err) {
          storeError = (err as Error).message;
          result.errors.push(`counter store: ${storeError}`);
        }
        try {
          result.sinks = await switchSinks(settings);
          sinksError = undefined;
        } catch (err) {
          sinksError = (err as Error).message;
          result.errors.push(`audit sinks: ${sinksError}`);
        }
        return result;
      });
      switches = run.catch(() => {});
      return run;
    },
    stores() {
      const counterStore = { kind: store?.kind ?? null };
      const auditSinks = { active: audit?.sinkNames() ?? [] };
      return {
        counterStore: storeError === undefined ? counterStore : { ...counterStore, error: storeError },
        auditSinks: sinksError === undefined ? auditSinks : { ...auditSinks, error: sinksError },
      };
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
      // Replaced stores close now too: a call still holding a reservation there (a long MCP tool
      // call) would otherwise hold up the shutdown.
      await Promise.all([s?.close(), ...[...retiring.keys()].map((r) => r.close())]);
      await a?.close();
    },
  };
}
