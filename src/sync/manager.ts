// The GitOps loop: look at the source (poll, webhook or file watch), and when it names a revision
// not seen before, check it out, verify it, build a snapshot off the hot path and swap it in. One
// reload at a time; triggers arriving meanwhile coalesce into one more. A bad revision never
// replaces the good one serving; an unreachable remote is retried with capped exponential backoff.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { admitSnapshot } from '../policy/admit.ts';
import { buildSnapshot } from '../policy/build-snapshot.ts';
import { formatProblem, PolicyInvalidError, type PolicyProblem } from '../policy/problems.ts';
import type { Snapshot } from '../policy/snapshot.ts';
import { BundleSource } from './bundle-source.ts';
import { DirSource } from './dir-source.ts';
import { GitSource } from './git-source.ts';
import { readLastGood, writeLastGood } from './last-good.ts';
import { type SyncMetrics, syncMetrics } from './metrics.ts';
import { isQuarantined, quarantine } from './quarantine.ts';
import { redactCredentials } from './redact.ts';
import type {
  ActiveInfo,
  HolderLike,
  RejectedInfo,
  RevisionSource,
  SyncSourceConfig,
  SyncStatus,
} from './types.ts';

export interface PolicyManagerOptions {
  source: SyncSourceConfig | RevisionSource;
  holder: HolderLike;
  /** Holds `policy-repo/`, `worktrees/`, `cache/` and `last-good.json`. */
  dataDir: string;
  /** Seconds between fetches of a git source; default 30, 0 = webhook/trigger only. */
  pollSeconds?: number;
  /** SSH allowed-signers file: only commits whose signature verifies against it are activated. */
  allowedSigners?: string;
  logger: Logger;
  registry: Registry;
  /** First retry delay after a failed check, doubled per failure; default 1 s. */
  retryBaseSeconds?: number;
  /** Cap on the retry delay; default 300 s. */
  maxBackoffSeconds?: number;
  /** Environment for resolving policy references (provider base URL overrides). */
  env?: NodeJS.ProcessEnv;
}

export interface PolicyManager {
  /** First sync (or the last good revision when the source is unreachable), then polling/watching. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Look at the source now; resolves when a check that began after this call has finished. */
  triggerFetch(reason: string): Promise<void>;
  status(): SyncStatus;
}

type RejectionReason = 'invalid' | 'unsigned' | 'inadmissible' | 'quarantined';

/** How long a replaced revision's decision worker lives on for the calls that started under it. */
const RETIRE_AFTER_MS = 120_000;

class RevisionRejected extends Error {
  readonly problems: PolicyProblem[];
  readonly reason: RejectionReason;
  constructor(reason: RejectionReason, problems: PolicyProblem[]) {
    super(problems.map(formatProblem).join('; '));
    this.reason = reason;
    this.problems = problems;
  }
}

export function createRevisionSource(config: SyncSourceConfig, dataDir: string): RevisionSource {
  if (config.kind === 'bundle') return new BundleSource({ ...config, dataDir });
  return config.kind === 'dir'
    ? new DirSource({ dir: config.dir, debounceMs: config.debounceMs })
    : new GitSource({ url: config.url, ref: config.ref, subdir: config.subdir, dataDir });
}

export function createPolicyManager(options: PolicyManagerOptions): PolicyManager {
  return new Manager(options);
}

class Manager implements PolicyManager {
  #o: PolicyManagerOptions;
  #source: RevisionSource;
  #log: Logger;
  #metrics: SyncMetrics;
  #pollMs: number;
  #active: ActiveInfo | undefined;
  /** The revision serving before the active one, kept ready to restore if the active one faults. */
  #previous: { info: ActiveInfo; snapshot: Snapshot } | undefined;
  /** The ActiveInfo of the revision last activated (what `#previous` records when it is replaced). */
  #lastActive: ActiveInfo | undefined;
  #rejected: RejectedInfo | undefined;
  #lastCheck: string | undefined;
  #lastError: { at: string; message: string } | undefined;
  #failures = 0;
  #triedLastGood: string | undefined;
  #inflight: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unwatch: (() => Promise<void>) | undefined;
  #started = false;
  #stopped = false;

  constructor(o: PolicyManagerOptions) {
    this.#o = o;
    this.#source = 'latest' in o.source ? o.source : createRevisionSource(o.source, o.dataDir);
    if (o.allowedSigners && !this.#source.verifySignature) {
      throw new Error('allowedSigners needs a git source: a plain directory has no commit signatures');
    }
    this.#log = o.logger.child({ component: 'policy-sync' });
    this.#metrics = syncMetrics(o.registry);
    this.#pollMs = (o.pollSeconds ?? 30) * 1000;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.triggerFetch('start');
    if (this.#source.watch && !this.#stopped) {
      this.#unwatch = await this.#source.watch((reason) => void this.triggerFetch(reason));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#unwatch?.();
    this.#unwatch = undefined;
    await this.#queued?.catch(() => undefined);
    await this.#inflight?.catch(() => undefined);
  }

  triggerFetch(reason: string): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (!this.#inflight) {
      this.#inflight = this.#cycle(reason).finally(() => {
        this.#inflight = undefined;
        this.#schedule();
      });
      return this.#inflight;
    }
    this.#queued ??= this.#inflight.then(() => {
      this.#queued = undefined;
      return this.triggerFetch(reason);
    });
    return this.#queued;
  }

  status(): SyncStatus {
    return {
      source: this.#source.description,
      ready: this.#o.holder.current() !== undefined,
      active: this.#active && { ...this.#active },
      lastCheck: this.#lastCheck,
      lastError: this.#lastError && { ...this.#lastError },
      rejected: this.#rejected && { ...this.#rejected, problems: [...this.#rejected.problems] },
      consecutiveFailures: this.#failures,
    };
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#stopped || !this.#started) return;
    let delay: number | undefined;
    if (this.#failures > 0) {
      const base = (this.#o.retryBaseSeconds ?? 1) * 1000;
      const cap = (this.#o.maxBackoffSeconds ?? 300) * 1000;
      delay = Math.min(cap, base * 2 ** Math.min(this.#failures - 1, 30));
    } else if (!this.#source.watch && this.#pollMs > 0) {
      delay = this.#pollMs;
    }
    if (delay === undefined) return;
    this.#timer = setTimeout(() => void this.triggerFetch(this.#failures > 0 ? 'retry' : 'poll'), delay);
    this.#timer.unref();
  }

  async #cycle(reason: string): Promise<void> {
    this.#lastCheck = new Date().toISOString();
    let revision: string;
    try {
      revision = await this.#source.latest();
    } catch (err) {
      this.#fail('fetch', err);
      await this.#fallBackToLastGood();
      return;
    }
    this.#failures = 0;
    this.#lastError = undefined;
    if (revision === this.#active?.revision || revision === this.#rejected?.revision) return;
    const quarantined = isQuarantined(this.#o.dataDir, revision);
    if (quarantined) {
      this.#reject(revision, new RevisionRejected('quarantined', [quarantineProblem(quarantined)]), 0);
      await this.#fallBackToLastGood();
      return;
    }
    const ok = await this.#activate(revision, reason);
    if (!ok) await this.#fallBackToLastGood();
  }

  /** With nothing serving (start-up), activate the revision recorded as last good, once. */
  async #fallBackToLastGood(): Promise<void> {
    if (this.#o.holder.current() !== undefined) return;
    const last = readLastGood(this.#o.dataDir);
    if (!last || last.source !== this.#source.description || last.revision === this.#triedLastGood) return;
    if (last.revision === this.#rejected?.revision) return;
    this.#triedLastGood = last.revision;
    if (!(await this.#source.hasLocally(last.revision))) return;
    this.#log.info({ revision: last.revision }, 'serving the last good policy revision from the local clone');
    await this.#activate(last.revision, 'last good');
  }

  async #activate(revision: string, reason: string): Promise<boolean> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const distrust = await this.#source.verify?.(revision);
      if (distrust) {
        const problem = { file: '(bundle)', line: 1, column: 1, message: distrust.message };
        throw new RevisionRejected(distrust.reason, [problem]);
      }
      const checkout = await this.#source.checkout(revision);
      if (this.#o.allowedSigners) {
        const why = await this.#source.verifySignature!(revision, this.#o.allowedSigners);
        if (why)
          throw new RevisionRejected('unsigned', [{ file: '(commit)', line: 1, column: 1, message: why }]);
      }
      const snapshot = await buildSnapshot({
        dir: checkout.dir,
        source: checkout.source,
        cacheDir: join(this.#o.dataDir, 'cache'),
        env: this.#o.env,
        wasm: checkout.wasm,
      }).catch((err: unknown) => {
        throw err instanceof PolicyInvalidError ? new RevisionRejected('invalid', err.problems) : err;
      });
      const admission = await admitSnapshot(snapshot, {
        dir: checkout.dir,
        auditDb: join(this.#o.dataDir, 'audit.db'),
      }).catch(async (err: unknown) => {
        await snapshot.decider?.close();
        throw err;
      });
      if (admission.problems.length > 0) {
        await snapshot.decider?.close();
        throw new RevisionRejected('inadmissible', admission.problems);
      }
      const previous = this.#active?.revision;
      const replaced = this.#o.holder.current();
      this.#o.holder.swap(snapshot);
      const commit = checkout.source.commit;
      this.#active = {
        revision,
        subject: commit?.subject,
        author: commit?.author,
        time: commit?.time,
        source: this.#source.description,
        activatedAt: new Date().toISOString(),
        decisions: decisionsPlace(snapshot),
      };
      // Falling back to the last good revision leaves the rejection of the newer one in view.
      if (reason !== 'last good') this.#rejected = undefined;
      this.#keepPrevious(previous, replaced);
      if (snapshot.decider) {
        snapshot.decider.onFault = (why) => this.#quarantine(revision, snapshot, why);
        snapshot.decider.releaseWorker();
      }
      this.#metrics.activeRevision.reset();
      this.#metrics.activeRevision.set({ revision }, 1);
      this.#metrics.reloads.inc({ result: 'activated' });
      this.#metrics.duration.observe({ result: 'activated' }, seconds());
      this.#log.info(
        {
          revision,
          previous,
          subject: commit?.subject,
          reason,
          ms: Math.round(seconds() * 1000),
          canaries: admission.canaries,
          slowestCanaryMs: Math.round(admission.slowestMs * 10) / 10,
          regoTests: admission.tests,
        },
        'policy revision activated',
      );
      try {
        writeLastGood(this.#o.dataDir, this.#active);
      } catch (err) {
        this.#log.warn({ err: errorText(err) }, 'could not record the last good policy revision');
      }
      await this.#source.release(revision);
      return true;
    } catch (err) {
      if (err instanceof RevisionRejected) {
        this.#reject(revision, err, seconds());
      } else {
        this.#fail('error', err);
        this.#metrics.reloads.inc({ result: 'error' });
        this.#metrics.duration.observe({ result: 'error' }, seconds());
      }
      await this.#source.release(this.#active?.revision).catch(() => undefined);
      return false;
    }
  }

  #reject(revision: string, err: RevisionRejected, seconds: number): void {
    this.#rejected = { revision, at: new Date().toISOString(), problems: err.problems };
    this.#metrics.failures.inc({ reason: err.reason });
    this.#metrics.reloads.inc({ result: 'rejected' });
    this.#metrics.duration.observe({ result: 'rejected' }, seconds);
    this.#log.warn(
      {
        revision,
        reason: err.reason,
        problems: err.problems.map(formatProblem),
        active: this.#active?.revision ?? null,
      },
      this.#active
        ? 'policy revision rejected; the last good revision keeps serving'
        : 'policy revision rejected; no valid policy to serve yet',
    );
  }

  /** Keeps the replaced snapshot ready to restore; the one before it retires once its calls are done. */
  #keepPrevious(previous: string | undefined, replaced: Snapshot | undefined): void {
    const retiring = this.#previous?.snapshot;
    this.#previous =
      previous && replaced && this.#active && this.#lastActive
        ? { info: this.#lastActive, snapshot: replaced }
        : undefined;
    this.#lastActive = this.#active;
    if (retiring && retiring !== replaced) {
      setTimeout(() => void retiring.decider?.close(), RETIRE_AFTER_MS).unref();
    }
  }

  /** The active revision's decision ran away: refuse it from now on and restore the one before it. */
  #quarantine(revision: string, snapshot: Snapshot, why: string): void {
    const problem = { file: 'rego/', line: 1, column: 1, message: `quarantined while serving: ${why}` };
    try {
      quarantine(this.#o.dataDir, revision, problem.message);
    } catch (err) {
      this.#log.warn({ err: errorText(err) }, 'could not record the quarantined policy revision');
    }
    if (this.#o.holder.current() !== snapshot) return;
    this.#metrics.reloads.inc({ result: 'quarantined' });
    const previous = this.#previous;
    if (previous && previous.snapshot.decider?.fault === undefined) {
      this.#o.holder.swap(previous.snapshot);
      this.#active = previous.info;
      this.#lastActive = previous.info;
      this.#previous = undefined;
      this.#metrics.activeRevision.reset();
      this.#metrics.activeRevision.set({ revision: previous.info.revision }, 1);
      try {
        writeLastGood(this.#o.dataDir, previous.info);
      } catch (err) {
        this.#log.warn({ err: errorText(err) }, 'could not record the last good policy revision');
      }
    }
    this.#reject(revision, new RevisionRejected('quarantined', [problem]), 0);
    this.#log.error(
      {
        revision,
        why,
        restored: this.#active?.revision === revision ? null : (this.#active?.revision ?? null),
      },
      this.#active?.revision === revision
        ? 'policy revision quarantined; no earlier revision to restore, calls are refused'
        : 'policy revision quarantined; the last good revision serves again',
    );
  }

  #fail(reason: 'fetch' | 'error', err: unknown): void {
    this.#failures++;
    const message = errorText(err);
    this.#lastError = { at: new Date().toISOString(), message };
    this.#metrics.failures.inc({ reason });
    this.#log.warn(
      { reason, err: message, failures: this.#failures, active: this.#active?.revision ?? null },
      reason === 'fetch' ? 'policy source unreachable; retrying with backoff' : 'policy reload failed',
    );
  }
}

function quarantineProblem(why: string): PolicyProblem {
  return { file: 'rego/', line: 1, column: 1, message: why };
}

function errorText(err: unknown): string {
  return redactCredentials(err instanceof Error ? err.message : String(err));
}

/** For `/status`: where a revision's decisions run. */
function decisionsPlace(snapshot: Snapshot): string | undefined {
  const decider = snapshot.decider;
  if (decider === undefined) return undefined;
  return decider.onCallersThread
    ? "on the gateway's thread, metered by fuel"
    : `in a worker thread (${decider.unmetered})`;
}
