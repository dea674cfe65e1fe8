// The counter store contract shared by the embedded (SQLite) and the shared (Redis) implementation.
// The store knows nothing about budgets or teams: it holds three kinds of integer counters and
// reserves on many of them atomically. The planner maps policy onto counters.
import { Counter, type Registry, register } from 'prom-client';

/** What a counter measures; `settle` picks the actual amount by unit. */
export type CounterUnit = 'usd_micro' | 'tokens' | 'requests';

/**
 * A running total (a budget's spend in one calendar period). `used` = settled amounts plus live
 * reservations. Late settles land here even after the period ended (the id carries the period).
 */
export interface TotalCounterSpec {
  kind: 'total';
  id: string;
  unit: CounterUnit;
  limit: number;
  amount: number;
  /** Epoch ms after which the store may forget the counter (period end plus a grace period). */
  expiresAt?: number;
}

/**
 * A sliding window: `used` = everything admitted during the last `windowMs`. Usage is kept in
 * buckets of `bucketMs` and a bucket counts until `bucketMs + windowMs` after its start, so each
 * admission counts for at least `windowMs` (and at most one bucket longer). Hence no interval of
 * `windowMs` ever admits more than `limit`: there is no boundary burst as with fixed windows.
 */
export interface WindowCounterSpec {
  kind: 'window';
  id: string;
  unit: CounterUnit;
  limit: number;
  amount: number;
  windowMs: number;
  bucketMs: number;
}

/** Requests in flight: one lease per reservation, freed by settle, release or lease expiry. */
export interface ConcurrencyCounterSpec {
  kind: 'concurrency';
  id: string;
  limit: number;
}

export type CounterSpec = TotalCounterSpec | WindowCounterSpec | ConcurrencyCounterSpec;

export interface ReserveRequest {
  /** Globally unique (a UUID): it becomes the reservation id, shared by all replicas. */
  requestId: string;
  counters: CounterSpec[];
  now: Date;
  /**
   * How long the reservation holds budget and an in-flight slot if never settled or released (a
   * crashed process); the store's default when absent.
   */
  leaseMs?: number;
}

export interface PeekRequest {
  counters: CounterSpec[];
  now: Date;
}

export interface CounterUsage {
  id: string;
  /** Usage before this request. */
  used: number;
  limit: number;
  /** What this request asked for (1 for concurrency counters). */
  amount: number;
  /** Whether `used + amount <= limit`. */
  fits: boolean;
  /** Windows: epoch ms when the oldest usage still counted leaves the window. */
  freesAt?: number;
}

export interface ReserveResult {
  /** True when every counter had room and all were reserved; false when nothing was reserved. */
  ok: boolean;
  /** The id to settle or release; null when nothing was reserved. */
  reservationId: string | null;
  /** One entry per requested counter, in request order. */
  counters: CounterUsage[];
}

export interface ActualUsage {
  costMicroUsd: number;
  tokens: number;
}

export interface CounterStore {
  readonly kind: 'sqlite' | 'redis';
  /**
   * Atomic over all counters: either every one has room and all are reserved, or none is. An
   * in-process store answers synchronously (and throws synchronously), saving the request path a
   * promise; a remote one answers with a promise.
   */
  reserve(req: ReserveRequest): ReserveResult | Promise<ReserveResult>;
  /**
   * Replaces the reservation by actual usage (less or more than reserved; always recorded, even past
   * the limit) and frees the in-flight slot. Idempotent; unknown ids are ignored.
   */
  settle(reservationId: string, actual: ActualUsage): Promise<void>;
  /** Undoes a reservation that consumed nothing (denied after reserving, upstream refused). */
  release(reservationId: string): Promise<void>;
  /**
   * What each counter holds now (settled plus reserved), without reserving: for the caller's own usage
   * view and for alert thresholds. `amount` and `fits` are as if this call asked for the counter's amount.
   */
  peek(req: PeekRequest): CounterUsage[] | Promise<CounterUsage[]>;
  /**
   * Claims `id` once: true for the first caller on any replica until `expiresAt` (epoch ms), false
   * after. Alerts use it to fire exactly once per threshold and period.
   */
  claim(id: string, expiresAt: number): Promise<boolean>;
  /** A remote store: resolves once connected, rejects after `timeoutMs`. */
  ready?(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export type StoreOperation = 'reserve' | 'settle' | 'release' | 'peek' | 'claim';

/**
 * The counter store could not answer (Redis down or slow, the SQLite file unwritable). The gateway
 * applies the Gateway's failMode. The message never carries connection strings or keys.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly store: 'sqlite' | 'redis';
  readonly operation: StoreOperation;
  /** Settles and releases that failed are retried by the store once it is reachable again. */
  readonly willRetry: boolean;

  constructor(store: 'sqlite' | 'redis', operation: StoreOperation, cause: unknown, willRetry = false) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`${store} counter store unavailable during ${operation}: ${reason}`, { cause });
    this.store = store;
    this.operation = operation;
    this.willRetry = willRetry;
  }
}

export const STORE_ERRORS_METRIC = 'portcullis_limits_store_errors_total';

/** The store-error counter in `registry` (created once per registry, shared by all stores). */
export function storeErrorCounter(registry: Registry = register): Counter<'store' | 'operation'> {
  const existing = registry.getSingleMetric(STORE_ERRORS_METRIC);
  if (existing) return existing as Counter<'store' | 'operation'>;
  return new Counter({
    name: STORE_ERRORS_METRIC,
    help: 'Counter store calls that failed (store unreachable, timed out or unwritable).',
    labelNames: ['store', 'operation'],
    registers: [registry],
  });
}

/** Default lease of a reservation: longer than any sane model call, short enough to heal a crash. */
export const DEFAULT_LEASE_MS = 15 * 60_000;

export function actualFor(unit: CounterUnit, reserved: number, actual: ActualUsage): number {
  const value = unit === 'usd_micro' ? actual.costMicroUsd : unit === 'tokens' ? actual.tokens : reserved;
  return Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}

const isCount = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;

/** Rejects counter specs no store can honour (ids, non-integer or negative amounts, bad windows). */
export function checkSpecs(specs: CounterSpec[]): void {
  for (const spec of specs) {
    if (typeof spec.id !== 'string' || spec.id.length === 0)
      throw new TypeError('counter id must be a string');
    if (!isCount(spec.limit)) throw new TypeError(`counter ${spec.id}: limit must be an integer ≥ 0`);
    if (spec.kind === 'concurrency') continue;
    if (!isCount(spec.amount)) throw new TypeError(`counter ${spec.id}: amount must be an integer ≥ 0`);
    if (spec.kind === 'window' && !(isCount(spec.windowMs) && isCount(spec.bucketMs) && spec.bucketMs > 0)) {
      throw new TypeError(`counter ${spec.id}: windowMs and bucketMs must be positive integers`);
    }
  }
}
