// Shapes shared by the sync modules: where policy comes from, what the manager reports, and the
// minimal holder it swaps snapshots into (the gateway's SnapshotHolder satisfies it).
import type { PolicyProblem } from '../policy/problems.ts';
import type { PolicySource, Snapshot } from '../policy/snapshot.ts';

export interface HolderLike {
  current(): Snapshot | undefined;
  swap(next: Snapshot): unknown;
}

export type SyncSourceConfig =
  /** A working directory on disk, watched for changes. */
  | { kind: 'dir'; dir: string; debounceMs?: number }
  /** A git repository URL or path; `ref` is a branch or tag (default: the remote's HEAD). */
  | { kind: 'git'; url: string; ref?: string; subdir?: string }
  /** A signed OPA bundle over HTTP(S), verified with `publicKey` (PEM); see bundle-source.ts. */
  | {
      kind: 'bundle';
      url: string;
      publicKey: string;
      keyId?: string;
      scope?: string;
      headers?: Record<string, string>;
      ca?: string;
    };

/** A revision made available on disk for one build. */
export interface Checkout {
  dir: string;
  source: PolicySource;
  /** Policy compiled ahead of time (a bundle's policy.wasm): the build then needs no OPA CLI. */
  wasm?: Buffer;
}

/** Why a source does not trust a revision it fetched (bad signature, wrong revision). */
export interface SourceDistrust {
  reason: 'unsigned' | 'invalid';
  message: string;
}

/** What a policy origin must do for the manager; one implementation per kind of source. */
export interface RevisionSource {
  /** Human-readable origin with any credentials removed (URL, ref, subdir or path). */
  readonly description: string;
  /** Bring the newest revision within reach and name it (commit SHA or content hash). */
  latest(): Promise<string>;
  /** Put `revision` on disk for a build without touching the one serving now. */
  checkout(revision: string): Promise<Checkout>;
  /** Whether `revision` can be checked out without the network (last good at start-up). */
  hasLocally(revision: string): Promise<boolean>;
  /** Reason the commit's signature is not trusted, or undefined when it verifies. */
  verifySignature?(revision: string, allowedSignersFile: string): Promise<string | undefined>;
  /** Why the revision cannot be trusted, checked before checkout; undefined when it can. */
  verify?(revision: string): Promise<SourceDistrust | undefined>;
  /** Drop checkouts other than `keep`. */
  release(keep: string | undefined): Promise<void>;
  /** Call `onChange` when the source changes by itself (file watching); returns a stop function. */
  watch?(onChange: (reason: string) => void): Promise<() => Promise<void>>;
}

export interface ActiveInfo {
  revision: string;
  subject?: string;
  author?: string;
  time?: string;
  source: string;
  activatedAt: string;
  /** Where its decisions run: on the gateway's thread, metered, or in a worker thread and why. */
  decisions?: string;
}

export interface RejectedInfo {
  revision: string;
  at: string;
  problems: PolicyProblem[];
}

export interface SyncStatus {
  source: string;
  ready: boolean;
  active?: ActiveInfo;
  /** ISO time of the last look at the source, successful or not. */
  lastCheck?: string;
  lastError?: { at: string; message: string };
  rejected?: RejectedInfo;
  /** Consecutive failed checks; drives the retry backoff. */
  consecutiveFailures: number;
}
