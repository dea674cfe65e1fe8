// The counters of one gateway process, held in memory and checked synchronously, so a reservation
// over many counters is atomic by construction (nothing else runs between check and apply). Settled
// usage goes through a persistence hook before memory changes; counters are loaded from it lazily.

import { StringMap } from '../serving/string-map.ts';
import {
  type ActualUsage,
  actualFor,
  type CounterSpec,
  type CounterUnit,
  type CounterUsage,
  checkSpecs,
  type PeekRequest,
  type ReserveRequest,
  type ReserveResult,
} from './store.ts';

export interface SettledUsage {
  totals: { id: string; delta: number; expiresAt: number | null }[];
  buckets: { id: string; bucket: number; delta: number; expiresAt: number }[];
}

export interface CounterPersistence {
  /** Settled total of a counter (0 when unknown). */
  loadTotal(id: string): number;
  /** Settled buckets of a window starting after `afterBucket`, oldest first. */
  loadWindow(id: string, afterBucket: number): { bucket: number; value: number }[];
  /** Adds settled usage (durably, or queued for a commit the store awaits); throws when it cannot. */
  commit(usage: SettledUsage): void;
}

interface TotalState {
  kind: 'total';
  settled: number;
  reserved: number;
  expiresAt: number | null;
  refs: number;
  touched: boolean;
}

interface WindowState {
  kind: 'window';
  windowMs: number;
  bucketMs: number;
  /** Bucket start times, ascending, and their usage (settled plus reserved). */
  starts: number[];
  values: number[];
  sum: number;
  refs: number;
  touched: boolean;
}

interface ConcurrencyState {
  kind: 'concurrency';
  leases: Set<string>;
  refs: number;
  touched: boolean;
}

type State = TotalState | WindowState | ConcurrencyState;

interface Hold {
  id: string;
  state: State;
  unit: CounterUnit;
  amount: number;
  bucket: number;
}

interface Reservation {
  id: string;
  leaseMs: number;
  expiresAt: number;
  /** False once the lease expired: budget and slot are freed, a late settle still records usage. */
  live: boolean;
  forgetAt: number;
  holds: Hold[];
  /** Its neighbours in its lease queue while it is live; cleared when it leaves the queue. */
  prev?: Reservation;
  next?: Reservation;
}

/**
 * Live reservations of one lease length, oldest first, linked through the reservations themselves:
 * a per-call Map entry would cost a promoted object per call (see string-map.ts).
 */
interface LeaseQueue {
  head?: Reservation;
  tail?: Reservation;
  size: number;
}

/** How long an expired reservation is remembered so that a late settle still records its usage. */
const LATE_SETTLE_GRACE_MS = 60 * 60_000;

function evict(w: WindowState, nowMs: number): void {
  const cutoff = nowMs - w.windowMs - w.bucketMs;
  let n = 0;
  while (n < w.starts.length && w.starts[n] <= cutoff) {
    w.sum -= w.values[n];
    n++;
  }
  if (n > 0) {
    w.starts.splice(0, n);
    w.values.splice(0, n);
  }
}

/** Adds to a bucket; `create` makes it when missing. Returns whether the bucket exists. */
function addToBucket(w: WindowState, bucket: number, delta: number, create: boolean): boolean {
  let i = w.starts.length - 1;
  while (i >= 0 && w.starts[i] > bucket) i--;
  if (i >= 0 && w.starts[i] === bucket) {
    w.values[i] += delta;
  } else if (create) {
    w.starts.splice(i + 1, 0, bucket);
    w.values.splice(i + 1, 0, delta);
  } else {
    return false;
  }
  w.sum += delta;
  return true;
}

function usageOf(spec: CounterSpec, state: State, nowMs: number): CounterUsage {
  const amount = spec.kind === 'concurrency' ? 1 : spec.amount;
  let used: number;
  let freesAt: number | undefined;
  if (state.kind === 'total') {
    used = state.settled + state.reserved;
  } else if (state.kind === 'window') {
    evict(state, nowMs);
    used = state.sum;
    if (state.starts.length > 0) freesAt = state.starts[0] + state.bucketMs + state.windowMs;
  } else {
    used = state.leases.size;
  }
  const usage: CounterUsage = {
    id: spec.id,
    used,
    limit: spec.limit,
    amount,
    fits: used + amount <= spec.limit,
  };
  if (freesAt !== undefined) usage.freesAt = freesAt;
  return usage;
}

export class MemoryCounters {
  readonly #persistence: CounterPersistence;
  readonly #defaultLeaseMs: number;
  readonly #states = new Map<string, State>();
  readonly #live = new StringMap<Reservation>();
  /** Live reservations per lease length: each queue is in expiry order as long as time moves on. */
  readonly #leaseQueues = new Map<number, LeaseQueue>();
  readonly #expired = new Map<string, Reservation>();
  #clock = { callerMs: 0, realMs: 0 };

  constructor(persistence: CounterPersistence, defaultLeaseMs: number) {
    this.#persistence = persistence;
    this.#defaultLeaseMs = defaultLeaseMs;
  }

  reserve(req: ReserveRequest): ReserveResult {
    checkSpecs(req.counters);
    const nowMs = req.now.getTime();
    this.#clock = { callerMs: nowMs, realMs: Date.now() };
    this.#expireLeases(nowMs, false);
    if (this.#live.has(req.requestId) || this.#expired.has(req.requestId)) {
      throw new TypeError('a reservation with this request id exists already');
    }

    const states: State[] = [];
    const usages: CounterUsage[] = [];
    let ok = true;
    for (const spec of req.counters) {
      const state = this.#state(spec, nowMs);
      states.push(state);
      const usage = usageOf(spec, state, nowMs);
      if (!usage.fits) ok = false;
      usages.push(usage);
    }
    if (!ok) return { ok: false, reservationId: null, counters: usages };

    const holds: Hold[] = [];
    for (let i = 0; i < states.length; i++) {
      const state = states[i];
      const spec = req.counters[i];
      const hold: Hold = { id: spec.id, state, unit: 'requests', amount: usages[i].amount, bucket: 0 };
      if (spec.kind !== 'concurrency') hold.unit = spec.unit;
      if (state.kind === 'total') {
        state.reserved += hold.amount;
      } else if (state.kind === 'window') {
        hold.bucket = nowMs - (nowMs % state.bucketMs);
        addToBucket(state, hold.bucket, hold.amount, true);
      } else {
        state.leases.add(req.requestId);
      }
      state.refs++;
      holds.push(hold);
    }
    const leaseMs = req.leaseMs ?? this.#defaultLeaseMs;
    const reservation: Reservation = {
      id: req.requestId,
      leaseMs,
      expiresAt: nowMs + leaseMs,
      live: true,
      forgetAt: nowMs + leaseMs + LATE_SETTLE_GRACE_MS,
      holds,
    };
    this.#live.set(req.requestId, reservation);
    let queue = this.#leaseQueues.get(leaseMs);
    if (!queue) {
      queue = { size: 0 };
      this.#leaseQueues.set(leaseMs, queue);
    }
    if (queue.tail) {
      queue.tail.next = reservation;
      reservation.prev = queue.tail;
    } else {
      queue.head = reservation;
    }
    queue.tail = reservation;
    queue.size++;
    return { ok: true, reservationId: req.requestId, counters: usages };
  }

  /** Each counter's usage now, reserving nothing. */
  peek(req: PeekRequest): CounterUsage[] {
    checkSpecs(req.counters);
    const nowMs = req.now.getTime();
    return req.counters.map((spec) => usageOf(spec, this.#state(spec, nowMs), nowMs));
  }

  settle(reservationId: string, actual: ActualUsage): void {
    const r = this.#live.get(reservationId) ?? this.#expired.get(reservationId);
    if (!r) return;
    const usage: SettledUsage = { totals: [], buckets: [] };
    const amounts = r.holds.map((h) => actualFor(h.unit, h.amount, actual));
    for (let i = 0; i < r.holds.length; i++) {
      const { id, state, bucket } = r.holds[i];
      if (amounts[i] === 0) continue;
      if (state.kind === 'total') {
        usage.totals.push({ id, delta: amounts[i], expiresAt: state.expiresAt });
      } else if (state.kind === 'window') {
        usage.buckets.push({
          id,
          bucket,
          delta: amounts[i],
          expiresAt: bucket + state.bucketMs + state.windowMs,
        });
      }
    }
    if (usage.totals.length > 0 || usage.buckets.length > 0) this.#persistence.commit(usage);

    for (let i = 0; i < r.holds.length; i++) {
      const h = r.holds[i];
      if (h.state.kind === 'total') {
        if (r.live) h.state.reserved -= h.amount;
        h.state.settled += amounts[i];
      } else if (h.state.kind === 'window') {
        addToBucket(h.state, h.bucket, amounts[i] - h.amount, false);
      } else {
        h.state.leases.delete(r.id);
      }
    }
    this.#forget(r);
  }

  release(reservationId: string): void {
    const r = this.#live.get(reservationId) ?? this.#expired.get(reservationId);
    if (!r) return;
    for (const h of r.holds) {
      if (h.state.kind === 'total') {
        if (r.live) h.state.reserved -= h.amount;
      } else if (h.state.kind === 'window') {
        addToBucket(h.state, h.bucket, -h.amount, false);
      } else {
        h.state.leases.delete(r.id);
      }
    }
    this.#forget(r);
  }

  /**
   * Periodic housekeeping: expires leases (also those a non-uniform lease left behind the head of the
   * queue) and drops counters nobody touched since the previous sweep; they reload from persistence.
   * Returns the time it swept at.
   */
  sweep(): number {
    const nowMs = this.now();
    this.#expireLeases(nowMs, true);
    for (const [id, state] of this.#states) {
      if (state.refs === 0 && !state.touched) this.#states.delete(id);
      else state.touched = false;
    }
    return nowMs;
  }

  /** The callers' clock (the `now` of the last reserve) advanced by real time since. */
  now(): number {
    return this.#clock.callerMs === 0 ? Date.now() : this.#clock.callerMs + (Date.now() - this.#clock.realMs);
  }

  /** Counters currently held in memory (for tests and diagnostics). */
  get size(): number {
    return this.#states.size;
  }

  #state(spec: CounterSpec, nowMs: number): State {
    let state = this.#states.get(spec.id);
    if (state && state.kind !== spec.kind) {
      throw new TypeError(`counter ${spec.id} is a ${state.kind} counter, not a ${spec.kind} counter`);
    }
    if (!state) {
      if (spec.kind === 'total') {
        const settled = this.#persistence.loadTotal(spec.id);
        state = {
          kind: 'total',
          settled,
          reserved: 0,
          expiresAt: spec.expiresAt ?? null,
          refs: 0,
          touched: true,
        };
      } else if (spec.kind === 'window') {
        const rows = this.#persistence.loadWindow(spec.id, nowMs - spec.windowMs - spec.bucketMs);
        state = {
          kind: 'window',
          windowMs: spec.windowMs,
          bucketMs: spec.bucketMs,
          starts: rows.map((r) => r.bucket),
          values: rows.map((r) => r.value),
          sum: rows.reduce((a, r) => a + r.value, 0),
          refs: 0,
          touched: true,
        };
      } else {
        state = { kind: 'concurrency', leases: new Set(), refs: 0, touched: true };
      }
      this.#states.set(spec.id, state);
    }
    state.touched = true;
    if (state.kind === 'total' && spec.kind === 'total' && spec.expiresAt !== undefined) {
      state.expiresAt = spec.expiresAt;
    }
    return state;
  }

  #expireLeases(nowMs: number, full: boolean): void {
    for (const queue of this.#leaseQueues.values()) {
      for (let r = queue.head; r !== undefined; ) {
        const next = r.next;
        if (r.expiresAt <= nowMs) this.#expire(r);
        else if (!full) break;
        r = next;
      }
    }
    for (const r of this.#expired.values()) {
      if (r.forgetAt > nowMs) {
        if (full) continue;
        break;
      }
      this.#forget(r);
    }
  }

  #expire(r: Reservation): void {
    this.#unqueue(r);
    r.live = false;
    for (const h of r.holds) {
      if (h.state.kind === 'total') h.state.reserved -= h.amount;
      else if (h.state.kind === 'concurrency') h.state.leases.delete(r.id);
    }
    this.#expired.set(r.id, r);
  }

  #unqueue(r: Reservation): void {
    this.#live.delete(r.id);
    const queue = this.#leaseQueues.get(r.leaseMs);
    if (!queue) return;
    if (r.prev) r.prev.next = r.next;
    else queue.head = r.next;
    if (r.next) r.next.prev = r.prev;
    else queue.tail = r.prev;
    r.prev = undefined;
    r.next = undefined;
    if (--queue.size === 0) this.#leaseQueues.delete(r.leaseMs);
  }

  #forget(r: Reservation): void {
    if (r.live) this.#unqueue(r);
    else this.#expired.delete(r.id);
    for (const h of r.holds) h.state.refs--;
  }
}
