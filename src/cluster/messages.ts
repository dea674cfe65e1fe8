// What the primary and its workers say to each other over the cluster IPC channel. Worker requests
// carry an id the answer repeats; the primary's pushes (revisions, status, drain) carry none.
import type { AuditRecord } from '../audit/index.ts';
import type { ActualUsage, CounterSpec, ReserveResult, StoreOperation } from '../limits/store.ts';
import type { PolicySource } from '../policy/snapshot.ts';
import type { SyncStatus } from '../sync/types.ts';

/** Requests a worker makes of the primary (answered by a `reply` with the same id). */
export type WorkerRequest =
  | { op: 'reserve'; requestId: string; counters: CounterSpec[]; now: number; leaseMs?: number }
  | { op: 'settle'; reservationId: string; actual: ActualUsage }
  | { op: 'release'; reservationId: string }
  | { op: 'peek'; counters: CounterSpec[]; now: number }
  | { op: 'claim'; id: string; expiresAt: number }
  | { op: 'metrics' }
  | { op: 'fetch'; reason: string };

/** Fire-and-forget notes from a worker. */
export type WorkerNote =
  | { note: 'hello' }
  /** The worker could not start (a port in use, say): the primary reports it once and exits with the code. */
  | { note: 'failed'; exitCode: number; message: string; hint?: string }
  | { note: 'audit'; records: AuditRecord[] }
  | { note: 'prepared'; revision: string; error?: string }
  | { note: 'activated'; revision: string }
  /** A revision's decision ran away in this worker: the primary quarantines it for all. */
  | { note: 'fault'; revision: string; reason: string };

export interface ErrorShape {
  name: string;
  message: string;
  store?: 'sqlite' | 'redis';
  operation?: StoreOperation;
  willRetry?: boolean;
}

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ErrorShape };

/** What the primary pushes to workers. */
export type PrimaryPush =
  | { push: 'prepare'; revision: string; source: PolicySource }
  | { push: 'activate'; revision: string }
  | { push: 'status'; sync: SyncStatus; extra?: Record<string, unknown> }
  | { push: 'metrics-request'; id: number }
  | { push: 'drain' };

/** One IPC message: everything one side queued during an event-loop turn. */
export interface Envelope {
  portcullis: 1;
  requests?: { id: number; req: WorkerRequest }[];
  notes?: WorkerNote[];
  replies?: Reply[];
  pushes?: PrimaryPush[];
  /** A worker's own metrics (prom-client JSON), answering a `metrics-request`. */
  metrics?: { id: number; json: unknown[] };
  /** How many of the worker's audit records the primary has taken into its log (src/cluster/worker-audit.ts). */
  auditAck?: number;
}

export type { ReserveResult };

export function isEnvelope(m: unknown): m is Envelope {
  return typeof m === 'object' && m !== null && (m as Envelope).portcullis === 1;
}
