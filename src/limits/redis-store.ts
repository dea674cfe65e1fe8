// The shared counter store: every replica reserves and settles through Lua scripts on one Redis, one
// round trip each (EVALSHA through ioredis' defineCommand), so replicas never jointly overshoot.
// Reservations carry a lease in Redis: a replica that dies never settles, and its holds on budgets
// and in-flight slots expire with the lease. Redis Cluster is not supported (one reservation spans
// counters in different hash slots); standalone or Sentinel-managed Redis is.
//
// When Redis is unreachable, calls reject quickly with StoreUnavailableError (no offline queue, a
// reply deadline) while ioredis reconnects in the background. The deadline counts only time in which
// a reply could have been read (reply-deadline.ts): a gateway whose own event loop is busy does not
// time out replies that are waiting in its socket. A reserve whose reply comes after its caller was
// told the store is unavailable is released at once instead of holding budget for its lease. A settle or release that failed is
// kept and replayed once Redis is back; the replay is idempotent, so a call that did reach Redis
// before the connection broke is not counted twice.
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { FINISH_LUA, RESERVE_LUA } from './redis-scripts.ts';
import { withReplyDeadline } from './reply-deadline.ts';
import {
  type ActualUsage,
  actualFor,
  type CounterSpec,
  type CounterStore,
  type CounterUnit,
  type CounterUsage,
  checkSpecs,
  DEFAULT_LEASE_MS,
  type PeekRequest,
  type ReserveRequest,
  type ReserveResult,
  type StoreOperation,
  StoreUnavailableError,
  storeErrorCounter,
} from './store.ts';

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL; it may carry a password and is never logged or put in errors. */
  url: string;
  registry?: Registry;
  leaseMs?: number;
  keyPrefix?: string;
  /**
   * Longest wait for a reply before the call fails with StoreUnavailableError (default 500 ms),
   * not counting time this process's event loop was too busy to read it.
   */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Called with connection problems (message only); ioredis keeps reconnecting meanwhile. */
  onConnectionError?: (message: string) => void;
}

interface HeldCounter {
  kind: 't' | 'w' | 'c';
  hashKey: string;
  zsetKey: string;
  unit: CounterUnit;
  amount: number;
  /** Totals: when the counter may be forgotten (epoch ms, caller's clock); windows: the bucket. */
  extra: number;
}

interface LocalReservation {
  id: string;
  reservedAtMs: number;
  realAtMs: number;
  forgetAtRealMs: number;
  counters: HeldCounter[];
}

interface PendingFinish {
  reservation: LocalReservation;
  mode: 's' | 'r';
  actual: ActualUsage;
  queuedAtRealMs: number;
}

type ScriptedRedis = Redis & {
  portcullisReserve(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  portcullisFinish(numKeys: number, ...args: (string | number)[]): Promise<number>;
};

/** Replays are idempotent while the marker lives; older failed settles are given up (and counted). */
const MARKER_TTL_MS = 60 * 60_000;
const REPLAY_MAX_AGE_MS = 50 * 60_000;
const MAX_PENDING = 100_000;
const LATE_SETTLE_GRACE_MS = 60 * 60_000;

/** The counters' usage from the reserve script's reply. */
function usages(specs: CounterSpec[], held: HeldCounter[], reply: number[]): CounterUsage[] {
  return specs.map((spec, i) => {
    const used = Number(reply[2 * i + 1]);
    const freesAt = Number(reply[2 * i + 2]);
    const amount = held[i].amount;
    const usage: CounterUsage = {
      id: spec.id,
      used,
      limit: spec.limit,
      amount,
      fits: used + amount <= spec.limit,
    };
    if (freesAt >= 0) usage.freesAt = freesAt;
    return usage;
  });
}

export class RedisCounterStore implements CounterStore {
  readonly kind = 'redis';
  readonly #redis: ScriptedRedis;
  readonly #prefix: string;
  readonly #leaseMs: number;
  readonly #timeoutMs: number;
  readonly #errors;
  readonly #reservations = new Map<string, LocalReservation>();
  readonly #pending = new Map<string, PendingFinish>();
  #replaying = false;
  #closed = false;

  constructor(options: RedisStoreOptions) {
    this.#prefix = options.keyPrefix ?? 'portcullis:limits:';
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#timeoutMs = options.commandTimeoutMs ?? 500;
    this.#errors = storeErrorCounter(options.registry);
    const redis = new Redis(options.url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      // No commandTimeout: its plain timer fires before a busy loop reads a waiting reply; each
      // call has a reply deadline instead.
      connectTimeout: options.connectTimeoutMs ?? 2_000,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    });
    redis.defineCommand('portcullisReserve', { lua: RESERVE_LUA });
    redis.defineCommand('portcullisFinish', { lua: FINISH_LUA });
    // Without a listener ioredis stays silent; with one we can report, never crash.
    redis.on('error', (err: Error) => options.onConnectionError?.(err.message));
    redis.on('ready', () => void this.#replay());
    this.#redis = redis as ScriptedRedis;
  }

  /** Resolves once connected (rejects after `timeoutMs`); calls made before fail fast instead of queueing. */
  ready(timeoutMs = 5_000): Promise<void> {
    if (this.#redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#redis.off('ready', onReady);
        reject(new StoreUnavailableError('redis', 'reserve', new Error('not connected in time')));
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#redis.once('ready', onReady);
    });
  }

  /** The underlying client, for diagnostics and benchmarks. */
  get client(): Redis {
    return this.#redis;
  }

  /** Settles and releases waiting to be replayed. */
  get pendingFinishes(): number {
    return this.#pending.size;
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    this.#assertOpen();
    checkSpecs(req.counters);
    const realNow = Date.now();
    this.#forgetStale(realNow);
    if (this.#reservations.has(req.requestId)) {
      throw new TypeError('a reservation with this request id exists already');
    }
    const nowMs = req.now.getTime();
    const leaseMs = req.leaseMs ?? this.#leaseMs;
    const { keys, args, held } = this.#encode(req.counters, nowMs);

    let reply: number[];
    try {
      reply = await withReplyDeadline(
        this.#redis.portcullisReserve(keys.length, ...keys, nowMs, req.requestId, leaseMs, ...args),
        this.#timeoutMs,
        (late) => this.#releaseLate(late, held, req.requestId, nowMs, realNow),
      );
    } catch (err) {
      throw this.#failure('reserve', err);
    }

    if (this.#pending.size > 0) void this.#replay();
    const ok = reply[0] === 1;
    const counters = usages(req.counters, held, reply);
    if (!ok) return { ok: false, reservationId: null, counters };
    this.#reservations.set(req.requestId, {
      id: req.requestId,
      reservedAtMs: nowMs,
      realAtMs: realNow,
      forgetAtRealMs: realNow + leaseMs + LATE_SETTLE_GRACE_MS,
      counters: held,
    });
    return { ok: true, reservationId: req.requestId, counters };
  }

  async peek(req: PeekRequest): Promise<CounterUsage[]> {
    this.#assertOpen();
    checkSpecs(req.counters);
    const nowMs = req.now.getTime();
    const { keys, args, held } = this.#encode(req.counters, nowMs);
    try {
      // An empty reservation id makes the reserve script read only.
      const reply = await withReplyDeadline(
        this.#redis.portcullisReserve(keys.length, ...keys, nowMs, '', 0, ...args),
        this.#timeoutMs,
      );
      return usages(req.counters, held, reply);
    } catch (err) {
      throw this.#failure('peek', err);
    }
  }

  async claim(id: string, expiresAt: number): Promise<boolean> {
    this.#assertOpen();
    const ttl = Math.max(1_000, Math.ceil(expiresAt - Date.now()));
    try {
      const claimed = this.#redis.set(`${this.#prefix}claim:${id}`, '1', 'PX', ttl, 'NX');
      return (await withReplyDeadline(claimed, this.#timeoutMs)) === 'OK';
    } catch (err) {
      throw this.#failure('claim', err);
    }
  }

  /** The keys and per-counter arguments of the reserve script, and what each counter holds. */
  #encode(
    specs: CounterSpec[],
    nowMs: number,
  ): { keys: string[]; args: (string | number)[]; held: HeldCounter[] } {
    const keys: string[] = [];
    const args: (string | number)[] = [];
    const held: HeldCounter[] = [];
    for (const spec of specs) {
      const hashKey = `${this.#prefix}c:${spec.id}`;
      const zsetKey = `${hashKey}:z`;
      keys.push(hashKey, zsetKey);
      if (spec.kind === 'total') {
        const ttl = spec.expiresAt === undefined ? 0 : Math.max(spec.expiresAt - nowMs, 60_000);
        args.push('t', spec.limit, spec.amount, ttl, 0);
        held.push({
          kind: 't',
          hashKey,
          zsetKey,
          unit: spec.unit,
          amount: spec.amount,
          extra: spec.expiresAt ?? 0,
        });
      } else if (spec.kind === 'window') {
        args.push('w', spec.limit, spec.amount, spec.windowMs, spec.bucketMs);
        const bucket = nowMs - (nowMs % spec.bucketMs);
        held.push({ kind: 'w', hashKey, zsetKey, unit: spec.unit, amount: spec.amount, extra: bucket });
      } else {
        args.push('c', spec.limit, 1, 0, 0);
        held.push({ kind: 'c', hashKey, zsetKey, unit: 'requests', amount: 1, extra: 0 });
      }
    }
    return { keys, args, held };
  }

  async settle(reservationId: string, actual: ActualUsage): Promise<void> {
    await this.#finish(reservationId, 's', actual, 'settle');
  }

  async release(reservationId: string): Promise<void> {
    await this.#finish(reservationId, 'r', { costMicroUsd: 0, tokens: 0 }, 'release');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#redis.status === 'ready') {
      try {
        await this.#redis.quit();
        return;
      } catch {
        // fall through to a hard disconnect
      }
    }
    this.#redis.disconnect();
  }

  async #finish(id: string, mode: 's' | 'r', actual: ActualUsage, operation: StoreOperation): Promise<void> {
    this.#assertOpen();
    const reservation = this.#reservations.get(id);
    if (!reservation) return;
    this.#reservations.delete(id);
    try {
      await this.#runFinish(reservation, mode, actual);
    } catch (err) {
      this.#queue({ reservation, mode, actual, queuedAtRealMs: Date.now() });
      throw this.#failure(operation, err, true);
    }
  }

  #runFinish(r: LocalReservation, mode: 's' | 'r', actual: ActualUsage): Promise<number> {
    const keys = [`${this.#prefix}done:${r.id}`];
    const args: (string | number)[] = [mode, r.id, MARKER_TTL_MS];
    // The caller's clock now, for the TTL of a total counter that a late settle re-creates.
    const callerNow = r.reservedAtMs + (Date.now() - r.realAtMs);
    for (const c of r.counters) {
      keys.push(c.hashKey, c.zsetKey);
      const value = mode === 's' ? actualFor(c.unit, c.amount, actual) : 0;
      const extra = c.kind === 't' ? (c.extra > 0 ? Math.max(c.extra - callerNow, 60_000) : 0) : c.extra;
      args.push(c.kind, c.amount, value, extra);
    }
    return withReplyDeadline(this.#redis.portcullisFinish(keys.length, ...keys, ...args), this.#timeoutMs);
  }

  /**
   * A reserve whose caller was told the store is unavailable, and which Redis did make: the call
   * never ran, so its holds are released now rather than when the lease expires. Finishing is
   * idempotent, so this never frees anything twice.
   */
  #releaseLate(
    reply: number[],
    counters: HeldCounter[],
    id: string,
    reservedAtMs: number,
    realAtMs: number,
  ): void {
    if (reply[0] !== 1 || this.#closed) return;
    const reservation = { id, reservedAtMs, realAtMs, forgetAtRealMs: 0, counters };
    this.#runFinish(reservation, 'r', { costMicroUsd: 0, tokens: 0 }).catch(() => {
      this.#queue({
        reservation,
        mode: 'r',
        actual: { costMicroUsd: 0, tokens: 0 },
        queuedAtRealMs: Date.now(),
      });
    });
  }

  #queue(p: PendingFinish): void {
    if (this.#pending.size >= MAX_PENDING) {
      const oldest = this.#pending.keys().next().value;
      if (oldest !== undefined) this.#pending.delete(oldest);
      this.#errors.inc({ store: 'redis', operation: 'replay_dropped' });
    }
    this.#pending.set(p.reservation.id, p);
  }

  async #replay(): Promise<void> {
    if (this.#replaying || this.#closed) return;
    this.#replaying = true;
    try {
      for (const [id, p] of this.#pending) {
        if (this.#closed || this.#redis.status !== 'ready') break;
        if (Date.now() - p.queuedAtRealMs > REPLAY_MAX_AGE_MS) {
          this.#pending.delete(id);
          this.#errors.inc({ store: 'redis', operation: 'replay_dropped' });
          continue;
        }
        try {
          await this.#runFinish(p.reservation, p.mode, p.actual);
          this.#pending.delete(id);
        } catch {
          this.#errors.inc({ store: 'redis', operation: 'replay' });
          break;
        }
      }
    } finally {
      this.#replaying = false;
    }
  }

  /** Local bookkeeping of reservations nobody settled: Redis expires their holds by lease. */
  #forgetStale(realNow: number): void {
    for (const r of this.#reservations.values()) {
      if (r.forgetAtRealMs > realNow) break;
      this.#reservations.delete(r.id);
    }
  }

  #failure(operation: StoreOperation, err: unknown, willRetry = false): StoreUnavailableError {
    this.#errors.inc({ store: 'redis', operation });
    return new StoreUnavailableError('redis', operation, err, willRetry);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('the counter store is closed');
  }
}
