// The primary of `serve --workers N`: it follows the policy source and admits each revision once,
// holds the embedded counter store and the audit log (one hash chain, one writer, the sinks run
// once), and forks N workers that share the listening port (node:cluster hands connections out
// round-robin). A new revision is prepared by every worker and activated in all of them together.
// /metrics from any worker is the sum over the workers and the primary.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, collectDefaultMetrics, Registry } from 'prom-client';
import { CliError } from '../cli/errors.ts';
import { checkUpstreamVariables, type UpstreamStatus, upstreamStatus } from '../cli/startup-checks.ts';
import { auditLogComponent } from '../gateway/components/audit-log.ts';
import { Lifecycle } from '../gateway/lifecycle.ts';
import { createLogger } from '../gateway/logger.ts';
import { SnapshotHolder } from '../gateway/snapshot-holder.ts';
import { type CounterStore, openCounterStore } from '../limits/index.ts';
import { StoreUnavailableError } from '../limits/store.ts';
import { PolicyInvalidError } from '../policy/problems.ts';
import type { Snapshot } from '../policy/snapshot.ts';
import { createPolicyManager } from '../sync/index.ts';
import { add, Channel } from './channel.ts';
import { type ErrorShape, isEnvelope, type PrimaryPush, type WorkerRequest } from './messages.ts';
import { workerJournals } from './worker-audit.ts';

/** How long a worker has to answer for /metrics before the sum goes without it. */
const METRICS_WAIT_MS = 2_000;
/** How long shutdown waits for workers to drain (their own grace is 10 s) before killing them. */
const DRAIN_WAIT_MS = 15_000;

export interface PrimaryOptions {
  workers: number;
  policyDir: string;
  git?: { url: string; ref?: string; subdir?: string };
  pollSeconds?: number;
  allowedSigners?: string;
  dataDir: string;
  logLevel: string;
  checkUpstreamVariables?: boolean;
}

export interface Primary {
  url: string;
  upstreams(): UpstreamStatus[];
  /** Drains every worker, then closes the audit log and the counter store. */
  close(): Promise<void>;
}

interface Member {
  worker: Worker;
  channel: Channel;
  /** Its audit records taken into the log (acknowledged to it, so it can drop them from its journal). */
  audited: number;
  /**
   * It exited: its journal is being taken into the log, which has every record it sent, so audit
   * notes still arriving from it (the pipe is read after the exit) are not taken a second time.
   */
  exited: boolean;
  /** Resolves once its journal was checked against the log. */
  gone: Promise<void>;
  /** The revision it serves, once it serves one. */
  active?: string;
  prepared?: string;
}

export async function startPrimary(opts: PrimaryOptions): Promise<Primary> {
  const log = createLogger(opts.logLevel);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_' });
  const holder = new SnapshotHolder();
  const manager = createPolicyManager({
    source: opts.git ? { kind: 'git', ...opts.git } : { kind: 'dir', dir: opts.policyDir },
    holder,
    dataDir: opts.dataDir,
    pollSeconds: opts.pollSeconds,
    allowedSigners: opts.allowedSigners,
    logger: log,
    registry,
  });
  const auditLog = auditLogComponent({ dataDir: opts.dataDir, registry, logger: log });
  const lifecycle = new Lifecycle([auditLog], {
    logger: log,
    retryMs: Number(process.env.PORTCULLIS_SETTINGS_RETRY_MS) || 30_000,
  });
  let store: CounterStore | undefined;
  const counterStore = (): CounterStore => {
    store ??= openCounterStore({ store: 'sqlite', dataDir: opts.dataDir, registry });
    return store;
  };
  /** Reservations by the worker that made them: a worker that dies has them released. */
  const owners = new Map<string, Member>();
  const members = new Map<number, Member>();
  let closing = false;

  await manager.start();
  const first = holder.current();
  if (!opts.git && first === undefined) {
    await manager.stop();
    const rejected = manager.status().rejected;
    if (rejected) throw new PolicyInvalidError(rejected.problems);
    throw new Error(manager.status().lastError?.message ?? `cannot load the policy in ${opts.policyDir}`);
  }
  try {
    if (opts.checkUpstreamVariables && first !== undefined) checkUpstreamVariables(first);
  } catch (err) {
    await manager.stop();
    throw err;
  }
  lifecycle.follow(holder);

  // --- audit records of workers that died before they reached the log: taken from their journals
  /** Pids of workers that may still write their journal. */
  const journaling = new Set<number>();
  let recovering: Promise<void> = Promise.resolve();
  const recoverJournals = (): Promise<void> => {
    recovering = recovering.then(async () => {
      for (const { pid, dir } of workerJournals(opts.dataDir)) {
        if (journaling.has(pid)) continue;
        try {
          // No log open yet (no policy yet): the journals wait for the next try.
          if (auditLog.recoverJournal && !(await auditLog.recoverJournal(dir))) return;
        } catch (err) {
          log.error(
            { pid, err: (err as Error).message },
            "a dead worker's audit journal could not be recovered; it is kept for the next try",
          );
        }
      }
    });
    return recovering;
  };
  // Journals left by the workers of a run that ended without a drain (the primary was killed).
  await recoverJournals();
  holder.onSwap(() => void recoverJournals());

  // --- reload: every serving worker prepares the revision, then all activate it together
  const push = (m: Member, p: PrimaryPush) => m.channel.queue((out) => add(out, 'pushes', p));
  const prepare = (m: Member, snapshot: Snapshot) =>
    push(m, { push: 'prepare', revision: snapshot.revision, source: snapshot.source });
  const serving = () => [...members.values()].filter((m) => m.active !== undefined);
  const maybeActivate = () => {
    const target = holder.current()?.revision;
    if (target === undefined) return;
    const group = serving().filter((m) => m.active !== target);
    if (group.length === 0 || !group.every((m) => m.prepared === target)) return;
    for (const m of group) push(m, { push: 'activate', revision: target });
  };
  holder.onSwap((next) => {
    for (const m of members.values()) prepare(m, next);
  });

  // --- what workers ask
  const mcpMetrics = new Map<number, { json: unknown[][]; left: number; done(): void }>();
  let metricsId = 1;
  const clusterMetrics = async (): Promise<string> => {
    const id = metricsId++;
    const live = [...members.values()];
    const json: unknown[][] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, METRICS_WAIT_MS);
      mcpMetrics.set(id, {
        json,
        left: live.length,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      for (const m of live) push(m, { push: 'metrics-request', id });
      if (live.length === 0) resolve();
    });
    mcpMetrics.delete(id);
    json.push(await registry.getMetricsAsJSON());
    return AggregatorRegistry.aggregate(json as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  };
  const answer = async (m: Member, req: WorkerRequest): Promise<unknown> => {
    switch (req.op) {
      case 'reserve': {
        // The embedded store answers synchronously.
        const result = await counterStore().reserve({
          requestId: req.requestId,
          counters: req.counters,
          now: new Date(req.now),
          leaseMs: req.leaseMs,
        });
        if (result.reservationId !== null) owners.set(result.reservationId, m);
        return result;
      }
      case 'settle':
        owners.delete(req.reservationId);
        return counterStore().settle(req.reservationId, req.actual);
      case 'release':
        owners.delete(req.reservationId);
        return counterStore().release(req.reservationId);
      case 'peek':
        return counterStore().peek({ counters: req.counters, now: new Date(req.now) });
      case 'claim':
        return counterStore().claim(req.id, req.expiresAt);
      case 'metrics':
        return clusterMetrics();
      case 'fetch':
        return manager.triggerFetch(req.reason);
    }
  };
  const errorShape = (err: unknown): ErrorShape => {
    const e = err instanceof Error ? err : new Error(String(err));
    return err instanceof StoreUnavailableError
      ? {
          name: e.name,
          message: e.message,
          store: err.store,
          operation: err.operation,
          willRetry: err.willRetry,
        }
      : { name: e.name, message: e.message };
  };
  const receive = (m: Member, raw: unknown) => {
    if (!isEnvelope(raw)) return;
    for (const note of raw.notes ?? []) {
      if (note.note === 'failed') {
        if (!started) startFailed(new CliError(note.message, { exitCode: note.exitCode, hint: note.hint }));
        else log.error({ pid: m.worker.process.pid, err: note.message }, 'a worker could not start');
      } else if (note.note === 'hello') {
        const current = holder.current();
        if (current !== undefined) prepare(m, current);
        pushStatus(m);
      } else if (note.note === 'audit') {
        if (m.exited) continue;
        const sink = auditLog.current();
        for (const record of note.records) {
          try {
            sink?.append(record);
          } catch (err) {
            log.error({ err: (err as Error).message }, 'audit record not written');
          }
        }
        // In the log's own journal now: the worker may forget them.
        m.audited += note.records.length;
        m.channel.queue((out) => {
          out.auditAck = m.audited;
        });
      } else if (note.note === 'prepared') {
        if (note.error !== undefined) {
          log.error(
            { worker: m.worker.id, revision: note.revision, err: note.error },
            'a worker could not build the revision',
          );
          continue;
        }
        m.prepared = note.revision;
        const current = holder.current();
        if (m.active === undefined) {
          // A worker starting: it serves as soon as it has the current revision.
          if (current?.revision === note.revision) push(m, { push: 'activate', revision: note.revision });
          else if (current !== undefined) prepare(m, current);
        } else maybeActivate();
      } else if (note.note === 'activated') {
        m.active = note.revision;
        pushStatus();
      } else if (note.note === 'fault') {
        log.error(
          { pid: m.worker.process.pid, revision: note.revision, err: note.reason },
          'a decision ran away',
        );
        // The policy manager quarantines the revision and restores the one before, in every worker.
        const current = holder.current();
        if (current?.revision === note.revision) current.decider?.reportFault(`in a worker: ${note.reason}`);
      }
    }
    if (raw.metrics !== undefined) {
      const waiting = mcpMetrics.get(raw.metrics.id);
      if (waiting !== undefined) {
        waiting.json.push(raw.metrics.json);
        if (--waiting.left === 0) waiting.done();
      }
    }
    for (const { id, req } of raw.requests ?? []) {
      let result: unknown;
      try {
        result = answer(m, req);
      } catch (err) {
        m.channel.queue((out) => add(out, 'replies', { id, ok: false, error: errorShape(err) }));
        continue;
      }
      const reply = (value: unknown) =>
        m.channel.queue((out) => add(out, 'replies', { id, ok: true, value }));
      const fail = (err: unknown) =>
        m.channel.queue((out) => add(out, 'replies', { id, ok: false, error: errorShape(err) }));
      if (result instanceof Promise) result.then((v) => reply(v ?? null), fail);
      else reply(result ?? null);
    }
  };

  // --- status pushed to workers when it changes (a worker's /status answers from it)
  const statusOf = () => ({
    sync: manager.status(),
    extra: {
      auditSinks: lifecycle.status().auditSinks,
      workers: {
        count: members.size,
        serving: serving().map((m) => ({ pid: m.worker.process.pid, revision: m.active })),
      },
    },
  });
  let lastStatus = '';
  /** To `only` (a worker saying hello), or to all when it changed since the last broadcast. */
  const pushStatus = (only?: Member) => {
    const s = statusOf();
    if (only !== undefined) return push(only, { push: 'status', ...s });
    const text = JSON.stringify(s);
    if (text === lastStatus) return;
    lastStatus = text;
    for (const m of members.values()) push(m, { push: 'status', ...s });
  };
  const statusTimer = setInterval(() => pushStatus(), 1000);
  statusTimer.unref();

  // --- workers
  let everyoneListening: (url: string) => void = () => {};
  let startFailed: (err: Error) => void = () => {};
  const listening = new Promise<string>((resolve, reject) => {
    everyoneListening = resolve;
    startFailed = reject;
  });
  let listened = 0;
  let started = false;
  const fork = () => {
    const worker = cluster.fork();
    const pid = worker.process.pid as number;
    journaling.add(pid);
    // Not 'disconnect': a worker killed under load can exit without the channel reporting it.
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const m: Member = {
      worker,
      channel: new Channel((msg, cb) => worker.send(msg, cb)),
      audited: 0,
      exited: false,
      gone: exited.then(() => {
        m.exited = true;
        journaling.delete(pid);
        return recoverJournals();
      }),
    };
    members.set(worker.id, m);
    worker.on('message', (raw: unknown) => receive(m, raw));
    worker.on('listening', (addr) => {
      if (started) return;
      listened++;
      if (listened === opts.workers) {
        started = true;
        const host = addr.addressType === 6 ? `[${addr.address}]` : addr.address;
        everyoneListening(`http://${host}:${addr.port}`);
      }
    });
    worker.on('exit', (code, signal) => {
      members.delete(worker.id);
      m.channel.close();
      for (const [id, owner] of owners) {
        if (owner !== m) continue;
        owners.delete(id);
        store?.release(id).catch(() => undefined);
      }
      if (closing) return;
      if (!started) {
        startFailed(new Error(`a worker exited while starting (code ${code}, signal ${signal})`));
        return;
      }
      log.error({ pid: worker.process.pid, code, signal }, 'a worker exited; starting another');
      fork();
      maybeActivate();
    });
  };
  for (let i = 0; i < opts.workers; i++) fork();

  const close = async () => {
    if (closing) return;
    closing = true;
    clearInterval(statusTimer);
    await manager.stop();
    const exits = [...members.values()].map((m) => {
      if (!m.worker.isDead()) push(m, { push: 'drain' });
      return m.gone;
    });
    const timer = setTimeout(() => {
      for (const m of members.values()) m.worker.process.kill('SIGKILL');
    }, DRAIN_WAIT_MS);
    // Each worker's journal is checked against the log once it is gone, before the log closes.
    await Promise.all(exits);
    clearTimeout(timer);
    await recovering;
    await lifecycle.close();
    await store?.close();
  };

  let url: string;
  try {
    url = await listening;
  } catch (err) {
    await close();
    throw err;
  }
  log.info(
    {
      url,
      workers: opts.workers,
      revision: holder.current()?.revision ?? null,
      source: manager.status().source,
    },
    'portcullis is serving',
  );
  return { url, upstreams: () => upstreamStatus(holder.current()), close };
}
