// A cluster worker: one event loop serving the port the primary shares. It does not follow the
// policy source: it builds the revisions the primary admitted and activates each when the primary
// says every worker has it ready. The embedded counter store and the audit log are the primary's,
// reached over IPC; a Redis counter store is opened here as in a single process.
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { AuditRecord } from '../audit/index.ts';
import { describeError } from '../cli/errors.ts';
import type { ServeOptions, Serving } from '../cli/serve.ts';
import type { AuditLogComponent } from '../gateway/components/audit-log.ts';
import { SnapshotHolder } from '../gateway/snapshot-holder.ts';
import { buildSnapshot } from '../policy/build-snapshot.ts';
import type { Snapshot } from '../policy/snapshot.ts';
import type { PolicyManager } from '../sync/manager.ts';
import type { SyncStatus } from '../sync/types.ts';
import { IpcCounterStore } from './ipc-counter-store.ts';
import type { PrimaryPush } from './messages.ts';
import { PrimaryLink } from './primary-link.ts';
import { WorkerAuditJournal, workerJournalDir } from './worker-audit.ts';

const SHUTDOWN_GRACE_MS = 10_000;

/** A registry whose exposition is the whole cluster's, aggregated by the primary. */
class ClusterRegistry extends Registry {
  readonly #link: PrimaryLink;
  constructor(link: PrimaryLink) {
    super();
    this.#link = link;
  }
  override metrics(): Promise<string> {
    return this.#link.request<string>({ op: 'metrics' });
  }
  own(): Promise<unknown[]> {
    return super.getMetricsAsJSON();
  }
}

/** What the worker knows of the primary: pushed with each change. */
interface PrimaryView {
  sync: SyncStatus;
  extra: Record<string, unknown>;
}

export async function runWorker(
  opts: ServeOptions,
  start: (opts: ServeOptions) => Promise<Serving>,
): Promise<number> {
  const link = new PrimaryLink();
  const holder = new SnapshotHolder();
  const staged = new Map<string, Snapshot>();
  let view: PrimaryView = { sync: { source: '', ready: false, consecutiveFailures: 0 }, extra: {} };
  let firstActive: () => void = () => {};
  const activeOnce = new Promise<void>((resolve) => {
    firstActive = resolve;
  });
  let drain: () => void = () => {};
  const drained = new Promise<void>((resolve) => {
    drain = resolve;
  });

  const prepare = async (revision: string, source: Snapshot['source']) => {
    try {
      const snapshot = await buildSnapshot({
        dir: source.dir,
        source,
        cacheDir: join(opts.dataDir, 'cache'),
      });
      // The primary admitted this revision; here it only serves, and tells the primary when a
      // decision runs away so that it quarantines the revision in every worker.
      const decider = snapshot.decider;
      if (decider !== undefined) {
        decider.releaseWorker();
        decider.onFault = (reason) => link.note({ note: 'fault', revision, reason });
      }
      staged.clear();
      staged.set(revision, snapshot);
      link.note({ note: 'prepared', revision });
    } catch (err) {
      link.note({ note: 'prepared', revision, error: (err as Error).message });
    }
  };
  link.onPush((push: PrimaryPush) => {
    if (push.push === 'prepare') void prepare(push.revision, push.source);
    else if (push.push === 'activate') {
      const next = staged.get(push.revision);
      if (next === undefined) return;
      staged.delete(push.revision);
      holder.swap(next);
      link.note({ note: 'activated', revision: push.revision });
      firstActive();
    } else if (push.push === 'status') view = { sync: push.sync, extra: push.extra ?? {} };
    else if (push.push === 'drain') drain();
  });
  link.note({ note: 'hello' });
  const registry = new ClusterRegistry(link);
  link.onMetricsRequest((id) => {
    void registry.own().then((json) => link.sendMetrics(id, json));
  });

  const manager: PolicyManager = {
    start: () => activeOnce,
    async stop() {},
    triggerFetch: (reason) => link.request({ op: 'fetch', reason }),
    status: () => view.sync,
  };
  // Journaled here before they leave, so that a kill -9 loses none (worker-audit.ts).
  const appender = new WorkerAuditJournal(
    workerJournalDir(opts.dataDir, process.pid),
    (record: AuditRecord) => link.note({ note: 'audit', records: [record] }),
  );
  link.onAuditAck((count) => appender.acknowledged(count));
  const auditLog: AuditLogComponent = {
    name: 'auditSinks',
    start() {},
    current: () => appender,
    reconfigure: async () => undefined,
    status: () => ({}),
    // Records queued this turn leave before the worker exits (the primary writes them).
    close: () => link.flush(),
  };
  // The primary coordinates shutdown: a Ctrl-C reaching the whole process group waits for its drain.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  process.once('disconnect', () => drain());

  let serving: Serving;
  try {
    serving = await start({
      ...opts,
      checkUpstreamVariables: false,
      cluster: {
        holder,
        manager,
        registry,
        openStore: (settings, open) =>
          settings.limits.store === 'sqlite' ? new IpcCounterStore(link) : open(settings),
        auditLog,
        status: () => view.extra,
      },
    });
  } catch (err) {
    // Said once, by the primary: every worker would otherwise print the same error.
    const report = describeError(err);
    link.note({ note: 'failed', exitCode: report.exitCode, message: report.message, hint: report.hint });
    await link.flush().catch(() => undefined);
    if (process.connected) process.disconnect?.();
    return report.exitCode;
  }
  await drained;
  serving.gateway.log.info({ pid: process.pid }, 'worker draining: finishing calls in flight');
  const force = setTimeout(() => serving.gateway.app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
  force.unref();
  await serving.close();
  clearTimeout(force);
  await link.flush().catch(() => undefined);
  appender.close();
  // The IPC channel would keep this process alive: closing it lets it exit (and write a --cpu-prof).
  if (process.connected) process.disconnect?.();
  return 0;
}
